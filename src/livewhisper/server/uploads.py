"""Uploads for the transcription API: the form's fields checked, the file probed.

No I/O beyond the uploaded file itself: the web layer (:mod:`~livewhisper.server.web`)
parses the ``multipart/form-data`` body with python-multipart into Starlette's
``FormData``; :func:`transcription_request` checks the fields the OpenAI
transcription API defines and :func:`probe_audio` checks that the file is audio. Every
refusal is an :class:`~livewhisper.server.errors.InvalidRequest` naming the field.

Example::

    request = transcription_request(form, model="tiny.en-q8_0", multilingual=False)
    duration = probe_audio(request.file, max_seconds=7200)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile

from livewhisper.audio.decode import display_name, probe
from livewhisper.engine import DecodeOptions, check_options
from livewhisper.errors import AudioError, ConfigError, DecodeOptionsError
from livewhisper.options import MULTILINGUAL_REMEDY
from livewhisper.server.errors import InvalidRequest
from livewhisper.subtitles import CueLayout
from livewhisper.vocabulary import parse_terms

__all__ = [
    "LAYOUT_FIELDS",
    "MAX_UPLOAD_CHANNELS",
    "MAX_UPLOAD_RATE",
    "MAX_UPLOAD_SAMPLES_PER_SECOND",
    "MIN_COMPRESSED_BYTES_PER_SECOND",
    "MIN_UPLOAD_RATE",
    "RESPONSE_FORMATS",
    "TranscriptionRequest",
    "cue_layout",
    "form_value",
    "layout_defaults",
    "probe_audio",
    "transcription_request",
]

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
"""The ``response_format`` values of the OpenAI transcription API, all supported."""

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def form_value(form: FormData, name: str) -> str | None:
    """The last text value of field ``name`` (a file sent under that name is not one), or
    None. Example: ``form_value(FormData({"model": "base"}), "model")`` is ``"base"``."""
    values = [value for value in form.getlist(name) if isinstance(value, str)]
    return values[-1] if values else None


@dataclass(frozen=True)
class TranscriptionRequest:
    """A validated transcription (or translation) request.

    ``file`` is the upload (spooled to disk past a small size); ``model`` is the pool's
    name for it; ``options`` the decode options (language,
    translation, prompt, temperature); ``words`` asks for word timestamps in
    ``verbose_json``; ``stream`` for server-sent events instead of one response.

    Example: ``TranscriptionRequest(file, "tiny.en-q8_0", DecodeOptions(language="en"))``.
    """

    file: UploadFile
    model: str
    options: DecodeOptions
    response_format: str = "json"
    words: bool = False
    stream: bool = False
    layout: CueLayout = field(default_factory=CueLayout)

    @property
    def task(self) -> str:
        """``"translate"`` or ``"transcribe"``, as OpenAI's ``verbose_json`` says."""
        return "translate" if self.options.translate else "transcribe"


def transcription_request(
    form: FormData,
    *,
    model: str,
    multilingual: bool,
    translate: bool = False,
    default_language: str | None = None,
    default_vocabulary: tuple[str, ...] = (),
    remedy: str = MULTILINGUAL_REMEDY,
) -> TranscriptionRequest:
    """Check the OpenAI fields of ``form`` for ``model`` (already looked up by the caller).

    Fields: ``file`` (required, not empty), ``language`` (ISO 639-1, ``auto``, or absent
    for ``default_language``), ``prompt`` (OpenAI's way to list names and terms; it
    primes the decoder as given), ``vocabulary`` (names and terms separated by commas or
    lines, primed as a sentence listing them; absent for ``default_vocabulary``, empty
    for none), ``response_format`` (one of
    :data:`RESPONSE_FORMATS`), ``temperature`` (0 to 1), ``timestamp_granularities[]``
    (``segment``, ``word``), ``stream`` (``true``/``false``), and for srt and vtt the
    shape of the cues: ``max_line_width``, ``max_line_count``, ``max_cue_duration``,
    ``min_cue_duration`` (as the command line's flags). ``translate`` is the
    translations endpoint: into English, whatever was spoken. ``remedy`` ends the
    refusal of a language ``model`` lacks (see :func:`~livewhisper.options.check_options`).
    Raises :class:`InvalidRequest` naming the field at fault.

    Example::

        request = transcription_request(form, model="tiny.en-q8_0", multilingual=False)
    """
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest(
            "no file: send the audio in a form field named 'file'",
            reason="missing_file",
            field="file",
        )
    if not upload.size:
        raise InvalidRequest(
            f"{upload.filename!r} is empty: there is no audio in it",
            reason="empty_file",
            field="file",
        )
    response_format = (form_value(form, "response_format") or "json").strip().lower()
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, "
            f"not {response_format!r}",
            reason="invalid_value",
            field="response_format",
        )
    # Codes and names alike ("es", "Spanish"), and the English-only rule, as everywhere:
    # DecodeOptions reads the language, check_options holds the model to it.
    language = (form_value(form, "language") or "").strip() or default_language
    try:
        options = DecodeOptions(language=language)
        language = check_options(options, model, multilingual, remedy=remedy)
    except DecodeOptionsError as exc:
        raise InvalidRequest(str(exc), reason="unsupported_language", field="language") from None
    try:
        check_options(DecodeOptions(translate=translate), model, multilingual)
    except DecodeOptionsError as exc:
        raise InvalidRequest(str(exc), reason="unsupported_task", field="model") from None
    # Clients send the array as "timestamp_granularities[]", or without the brackets.
    given = [*form.getlist("timestamp_granularities"), *form.getlist("timestamp_granularities[]")]
    granularities = {g.strip().lower() for g in given if isinstance(g, str)}
    if not granularities <= {"segment", "word"}:
        raise InvalidRequest(
            "timestamp_granularities may be 'segment' and 'word', not "
            f"{', '.join(sorted(granularities - {'segment', 'word'}))}",
            reason="invalid_value",
            field="timestamp_granularities",
        )
    terms = form_value(form, "vocabulary")
    try:
        vocabulary = default_vocabulary if terms is None else parse_terms(terms)
    except ConfigError as exc:
        raise InvalidRequest(str(exc), reason="invalid_value", field="vocabulary") from None
    options = DecodeOptions(
        language=language,
        translate=translate,
        initial_prompt=form_value(form, "prompt") or "",
        temperature=_temperature(form_value(form, "temperature")),
        vocabulary=vocabulary,
    )
    return TranscriptionRequest(
        upload,
        model,
        options,
        response_format,
        words="word" in granularities,
        stream=_boolean(form_value(form, "stream"), "stream"),
        layout=cue_layout(form),
    )


LAYOUT_FIELDS = {
    "max_line_width": "max_line_width",
    "max_line_count": "max_line_count",
    "max_cue_duration": "max_duration",
    "min_cue_duration": "min_duration",
}
"""The form fields that shape srt and vtt cues, and the :class:`CueLayout` field of each."""


def layout_defaults() -> dict[str, float]:
    """Each cue-shaping form field with the value it takes when absent (``/v1/info``).

    Example: ``layout_defaults()["max_line_width"]`` is 42.
    """
    defaults = CueLayout()
    return {name: getattr(defaults, attribute) for name, attribute in LAYOUT_FIELDS.items()}


def cue_layout(form: FormData) -> CueLayout:
    """The :class:`CueLayout` that ``form``'s fields ask for (the defaults where absent).

    Example: a form with ``max_line_width=32`` gives ``CueLayout(max_line_width=32)``.
    """
    values: dict[str, float] = {}
    for name, attribute in LAYOUT_FIELDS.items():
        text = (form_value(form, name) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        # Counts are whole numbers; one that is not is left for CueLayout to refuse.
        whole = attribute.startswith("max_line") and number.is_integer()
        values[attribute] = int(number) if whole else number
    try:
        return CueLayout(**values)  # type: ignore[arg-type]
    except ConfigError as exc:
        field_name = next((n for n, a in LAYOUT_FIELDS.items() if a in str(exc)), "")
        raise InvalidRequest(
            str(exc)
            .replace("max_duration", "max_cue_duration")
            .replace("min_duration", "min_cue_duration"),
            reason="invalid_value",
            field=field_name or None,
        ) from None


def _temperature(value: str | None) -> float:
    if value is None or not value.strip():
        return 0.0
    try:
        temperature = float(value)
    except ValueError:
        temperature = math.nan
    if not 0.0 <= temperature <= 1.0:
        raise InvalidRequest(
            f"temperature must be a number from 0 to 1, not {value!r}",
            reason="invalid_value",
            field="temperature",
        )
    return temperature


def _boolean(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InvalidRequest(
        f"{name} must be true or false, not {value!r}", reason="invalid_value", field=name
    )


MIN_UPLOAD_RATE = 8000
"""The lowest sample rate an upload may declare, in Hz (telephone audio)."""
MAX_UPLOAD_RATE = 384_000
"""The highest sample rate an upload may declare, in Hz."""
MAX_UPLOAD_CHANNELS = 8
"""The most channels an upload may have (7.1 surround)."""
MAX_UPLOAD_SAMPLES_PER_SECOND = 768_000
"""Samples per second over all channels (384 kHz stereo, 96 kHz on 8 channels): what one
block of decoding holds in memory grows with it."""
MIN_COMPRESSED_BYTES_PER_SECOND = 16
"""Compressed audio is never smaller than this per second: FLAC holds digital silence in
about 23 bytes a second at 8 kHz. A header that claims more audio than that lies."""
_WAV_HEADER_BYTES = 44
# Header, metadata chunks, padding: what an uncompressed file may hold beyond its samples.
_PCM_SLACK_BYTES = 1 << 20


def probe_audio(upload: UploadFile, max_seconds: float) -> float:
    """The duration of the uploaded audio in seconds, from its header, once the header is
    found plausible: nothing is decoded here.

    Raises :class:`InvalidRequest` (``field="file"``) for a file that is not audio or holds
    no samples (``invalid_file``, ``empty_file``), whose sample rate is outside
    :data:`MIN_UPLOAD_RATE`..:data:`MAX_UPLOAD_RATE` (``unsupported_sample_rate``), whose
    channels exceed :data:`MAX_UPLOAD_CHANNELS` or :data:`MAX_UPLOAD_SAMPLES_PER_SECOND`
    (``unsupported_channels``), whose declared length the body cannot hold
    (``inconsistent_file``), or that is longer than ``max_seconds`` (``audio_too_long``;
    the job applies the limit again to the decoded audio).

    Example: ``probe_audio(request.file, max_seconds=7200)`` -> ``11.0``.
    """
    name, size = upload.filename, upload.size or 0
    try:
        upload.file.seek(0)
        info = probe(upload.file)
    except AudioError as exc:
        # probe names the spooled file: say the client's name for it instead.
        why = str(exc).removeprefix(display_name(upload.file)).strip()
        raise InvalidRequest(f"{name!r} {why}", field="file", reason="invalid_file") from None
    finally:
        upload.file.seek(0)
    rate, channels = info.sample_rate, info.channels
    duration = info.duration
    if duration is None and info.uncompressed and info.bit_rate > 0:
        duration = max(0, size - _WAV_HEADER_BYTES) * 8 / info.bit_rate
    if not MIN_UPLOAD_RATE <= rate <= MAX_UPLOAD_RATE:
        raise InvalidRequest(
            f"{name!r} declares {rate} Hz; this server takes {MIN_UPLOAD_RATE} to "
            f"{MAX_UPLOAD_RATE} Hz",
            field="file",
            reason="unsupported_sample_rate",
        )
    if not 1 <= channels <= MAX_UPLOAD_CHANNELS or rate * channels > MAX_UPLOAD_SAMPLES_PER_SECOND:
        raise InvalidRequest(
            f"{name!r} has {channels} channels at {rate} Hz; this server takes at most "
            f"{MAX_UPLOAD_CHANNELS} channels and {MAX_UPLOAD_SAMPLES_PER_SECOND} samples a "
            "second in all: mix it down first",
            field="file",
            reason="unsupported_channels",
        )
    if duration is not None and duration < 0.001:
        raise InvalidRequest(f"{name!r} holds no audio samples", field="file", reason="empty_file")
    # A stream that does not say its length (webm, ...) is held to the limit as it decodes.
    duration = duration or 0.0
    if info.uncompressed and info.bit_rate > 0:
        body_seconds = (size + _PCM_SLACK_BYTES) * 8 / info.bit_rate
    else:
        body_seconds = size / MIN_COMPRESSED_BYTES_PER_SECOND
    if duration > body_seconds + 1.0:
        raise InvalidRequest(
            f"{name!r} declares {duration:.0f} s of audio but its {size} bytes cannot "
            "hold that much: the file is damaged or forged",
            field="file",
            reason="inconsistent_file",
        )
    if duration > max_seconds:
        raise InvalidRequest(
            f"{name!r} lasts {duration / 60:.0f} min; this server takes files of "
            f"at most {max_seconds / 60:.0f} min: cut it into parts",
            field="file",
            reason="audio_too_long",
        )
    return duration
