"""File uploads for the transcription API: multipart parsing, form validation, errors.

Pure logic and local files only, no sockets: :class:`MultipartParser` turns the bytes of
a ``multipart/form-data`` body, fed in pieces of any size, into part events;
:class:`FormReader` keeps the small fields in memory and streams the file to a temporary
file, enforcing the size limits as it goes; :func:`transcription_request` checks the
fields the OpenAI transcription API defines; :func:`probe_audio` checks that the file is
audio. Every refusal is an :class:`UploadError` that carries its HTTP status and renders
as OpenAI's error object.

Why not a library? The standard library's ``cgi`` is gone (Python 3.13) and its
``email`` parser wants the whole body in memory; ``python-multipart`` would do, but the
part of it needed here is one small state machine, tested below the HTTP layer.

Example::

    parser = MultipartParser(boundary_of(content_type))
    reader = FormReader(max_file_bytes=100 << 20)
    for chunk in body:
        reader.handle(parser.feed(chunk))
    parser.close()
    form = reader.finish()
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

import soundfile

from livewhisper.engine import DecodeOptions
from livewhisper.errors import DecodeOptionsError, LiveWhisperError

__all__ = [
    "RESPONSE_FORMATS",
    "FormReader",
    "MultipartError",
    "MultipartParser",
    "PartData",
    "PartEnd",
    "PartStart",
    "TranscriptionRequest",
    "UploadError",
    "UploadForm",
    "UploadedFile",
    "boundary_of",
    "probe_audio",
    "transcription_request",
]

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
"""The ``response_format`` values of the OpenAI transcription API, all supported."""

MAX_FIELD_BYTES = 64 * 1024
"""The largest text field (a long ``prompt`` fits many times over)."""

_MAX_HEADER_BYTES = 16 * 1024
_MAX_PARTS = 64
_MAX_LINE_PADDING = 256
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class UploadError(LiveWhisperError):
    """A request the API refuses: HTTP ``status``, and OpenAI's error fields.

    ``code`` names the problem for programs (``"model_not_found"``, ``"invalid_file"``);
    ``param`` is the form field at fault, if one is; ``headers`` go with the response
    (``Allow``, ``WWW-Authenticate``).

    Example::

        >>> UploadError(400, "unknown model 'x'", code="model_not_found", param="model").to_dict()
        {'error': {'message': "unknown model 'x'", 'type': 'invalid_request_error', \
'param': 'model', 'code': 'model_not_found'}}
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        kind: str = "invalid_request_error",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.kind = kind
        self.headers = headers

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


class MultipartError(UploadError):
    """A ``multipart/form-data`` body that breaks the format (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message, code="invalid_multipart")


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type; :class:`UploadError` if none.

    Example::

        >>> boundary_of('multipart/form-data; boundary="a1b2"')
        b'a1b2'
    """
    kind, params = _header_params(content_type or "")
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not boundary:
        raise UploadError(
            415 if kind != "multipart/form-data" else 400,
            "send the file as multipart/form-data (a form with a 'file' field), "
            f"not {content_type or 'no Content-Type'}",
            code="unsupported_media_type",
        )
    if len(boundary) > 70 or not boundary.isascii():
        raise MultipartError("the multipart boundary must be 1 to 70 ASCII characters")
    return boundary.encode("ascii")


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="file"; filename="a.wav"'`` -> ``('form-data', {...})``."""
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if key.endswith("*"):  # RFC 5987: filename*=UTF-8''na%C3%AFve.wav
            charset, _, encoded = raw.partition("''")
            with contextlib.suppress(LookupError, UnicodeDecodeError):
                params[key[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            continue
        params.setdefault(key, raw)
    return kind.strip().lower(), params


@dataclass(frozen=True)
class PartStart:
    """A part begins: its field ``name``, ``filename`` (None for a text field), type."""

    name: str
    filename: str | None
    content_type: str


@dataclass(frozen=True)
class PartData:
    """Some bytes of the current part's content."""

    data: bytes


@dataclass(frozen=True)
class PartEnd:
    """The current part is complete."""


PartEvent = PartStart | PartData | PartEnd


class MultipartParser:
    """An incremental ``multipart/form-data`` parser (RFC 7578): bytes in, part events out.

    Feed the body in pieces of any size; each :meth:`feed` returns the events those bytes
    complete. Data is held back only while it might be the start of a boundary, so memory
    stays at about one piece whatever the size of the parts. :meth:`close` checks that the
    closing boundary came. Raises :class:`MultipartError` for a malformed body.

    Example::

        >>> p = MultipartParser(b"XY")
        >>> events = p.feed(b'--XY\\r\\nContent-Disposition: form-data; name="model"\\r\\n\\r\\n')
        >>> events += p.feed(b"tiny.en\\r\\n--XY--\\r\\n")
        >>> p.close()
        >>> events
        [PartStart(name='model', filename=None, content_type='text/plain'), \
PartData(data=b'tiny.en'), PartEnd()]
    """

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # The first delimiter has no CRLF before it: pretend it had, to treat all alike.
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"
        self._parts = 0

    @property
    def done(self) -> bool:
        """Whether the closing boundary has been read."""
        return self._state == "end"

    def feed(self, data: bytes) -> list[PartEvent]:
        """Parse ``data``, the next bytes of the body; return the events they complete."""
        if self._state == "end":
            return []  # the epilogue: ignored, as RFC 2046 says
        self._buffer += data
        events: list[PartEvent] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """Raise :class:`MultipartError` unless the body ended with its closing boundary."""
        if self._state != "end":
            raise MultipartError(
                "the form data ended before its closing boundary: the upload was cut short"
            )

    def _step(self, events: list[PartEvent]) -> bool:
        """Make one transition if the buffer allows; False when more bytes are needed."""
        buffer, delimiter = self._buffer, self._delimiter
        if self._state in ("preamble", "data"):
            at = buffer.find(delimiter)
            if at < 0:
                keep = len(delimiter) - 1  # the tail might be the start of a delimiter
                if len(buffer) > keep:
                    if self._state == "data":
                        events.append(PartData(bytes(buffer[:-keep])))
                    del buffer[:-keep]
                return False
            if self._state == "data":
                if at:
                    events.append(PartData(bytes(buffer[:at])))
                events.append(PartEnd())
            del buffer[: at + len(delimiter)]
            self._state = "delimiter"
            return True
        if self._state == "delimiter":
            if len(buffer) < 2:
                return False
            if buffer.startswith(b"--"):
                self._state = "end"
                buffer.clear()
                return False
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > _MAX_LINE_PADDING:
                    raise MultipartError("a multipart boundary is followed by garbage")
                return False
            if buffer[:end].strip(b" \t"):
                raise MultipartError("a multipart boundary is followed by garbage")
            del buffer[: end + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            if buffer.startswith(b"\r\n"):
                end, skip = 0, 2  # a part without headers
            else:
                end = buffer.find(b"\r\n\r\n")
                skip = 4
                if end < 0:
                    if len(buffer) > _MAX_HEADER_BYTES:
                        raise MultipartError("the headers of a form part are too long")
                    return False
            events.append(self._part_start(bytes(buffer[:end])))
            del buffer[: end + skip]
            self._state = "data"
            return True
        return False

    def _part_start(self, raw: bytes) -> PartStart:
        self._parts += 1
        if self._parts > _MAX_PARTS:
            raise MultipartError(f"the form has more than {_MAX_PARTS} parts")
        headers: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon:
                raise MultipartError("a form part has a malformed header line")
            # Browsers send UTF-8 file names raw in the header; be liberal in what we take.
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode(
                "utf-8", errors="replace"
            )
        kind, params = _header_params(headers.get("content-disposition", ""))
        if kind != "form-data" or "name" not in params:
            raise MultipartError("each form part needs 'Content-Disposition: form-data; name=...'")
        content_type = headers.get("content-type", "text/plain")
        return PartStart(params["name"], params.get("filename"), content_type)


@dataclass(frozen=True)
class UploadedFile:
    """The uploaded file: where it was saved, its name on the client, its size."""

    path: Path
    filename: str
    size: int
    content_type: str


@dataclass
class UploadForm:
    """A parsed form: text fields (each name may repeat) and the file, if one came.

    Example: ``form.value("model")`` is the last ``model`` field, or None.
    """

    fields: dict[str, list[str]] = field(default_factory=dict)
    file: UploadedFile | None = None

    def value(self, name: str) -> str | None:
        """The last value of field ``name``, or None if absent."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        """Every value of ``name`` and of ``name[]`` (the array form some clients use)."""
        return self.fields.get(name, []) + self.fields.get(f"{name}[]", [])

    def discard(self) -> None:
        """Delete the saved file, if any."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.path.unlink()


class FormReader:
    """Collect a form from :class:`MultipartParser` events, the file streamed to disk.

    The part named ``file_field`` (the first one with a filename) is written to a new
    temporary file in ``directory``; more than ``max_file_bytes`` of it raises
    :class:`UploadError` 413. Text fields are kept in memory, each at most
    :data:`MAX_FIELD_BYTES`. On any error, and on :meth:`abort`, the file is deleted.

    Example::

        reader = FormReader(max_file_bytes=25 << 20)
        reader.handle(parser.feed(chunk))          # for every chunk of the body
        form = reader.finish()                     # form.file.path, form.value("model")
    """

    def __init__(
        self,
        *,
        max_file_bytes: int,
        file_field: str = "file",
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.file_field = file_field
        self.directory = directory
        self._form = UploadForm()
        self._part: PartStart | None = None
        self._text = bytearray()
        self._sink: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0
        self._skipping = False

    def handle(self, events: Iterable[PartEvent]) -> None:
        """Take the events of one :meth:`MultipartParser.feed`."""
        try:
            for event in events:
                if isinstance(event, PartStart):
                    self._start(event)
                elif isinstance(event, PartData):
                    self._data(event.data)
                else:
                    self._end()
        except BaseException:
            self.abort()
            raise

    def finish(self) -> UploadForm:
        """The form, once the parser is closed. The caller owns the file from now on."""
        if self._sink is not None:  # the parser would have raised: defensive
            self.abort()
            raise MultipartError("the file part was not complete")
        return self._form

    def abort(self) -> None:
        """Close and delete the file being written, and any file already saved."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
        self._form.discard()

    def _start(self, part: PartStart) -> None:
        self._part = part
        self._text.clear()
        self._skipping = False
        if part.filename is None:
            return
        if part.name != self.file_field or self._form.file is not None or self._sink:
            self._skipping = True  # another file: not ours to keep
            return
        suffix = Path(part.filename).suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
        handle, name = tempfile.mkstemp(
            prefix="livewhisper-upload-", suffix=suffix, dir=self.directory
        )
        self._path = Path(name)
        self._sink = os.fdopen(handle, "wb")
        self._size = 0

    def _data(self, data: bytes) -> None:
        if self._part is None or self._skipping:
            return
        if self._sink is not None:
            self._size += len(data)
            if self._size > self.max_file_bytes:
                raise UploadError(
                    413,
                    f"the file is larger than this server's limit of "
                    f"{_megabytes(self.max_file_bytes)}",
                    code="file_too_large",
                    param="file",
                )
            # A blocking write, on purpose: it lands in the page cache at memory speed.
            self._sink.write(data)
            return
        self._text += data
        if len(self._text) > MAX_FIELD_BYTES:
            raise UploadError(
                400,
                f"the form field {self._part.name!r} is longer than {MAX_FIELD_BYTES} bytes",
                code="field_too_long",
                param=self._part.name,
            )

    def _end(self) -> None:
        part, self._part = self._part, None
        if part is None or self._skipping:
            return
        if self._sink is not None:
            assert self._path is not None and part.filename is not None
            self._sink.close()
            self._sink = None
            self._form.file = UploadedFile(self._path, part.filename, self._size, part.content_type)
            self._path = None
            return
        try:
            text = self._text.decode("utf-8")
        except UnicodeDecodeError:
            raise UploadError(
                400,
                f"the form field {part.name!r} is not UTF-8 text",
                code="invalid_value",
                param=part.name,
            ) from None
        self._form.fields.setdefault(part.name, []).append(text)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.3g} MB" if size >= 1e6 else f"{size} bytes"


@dataclass(frozen=True)
class TranscriptionRequest:
    """A validated transcription (or translation) request.

    ``model`` is the pool's name for it; ``options`` the decode options (language,
    translation, prompt, temperature); ``words`` asks for word timestamps in
    ``verbose_json``; ``stream`` for server-sent events instead of one response.

    Example: ``TranscriptionRequest(file, "tiny.en-q8_0", DecodeOptions(language="en"))``.
    """

    file: UploadedFile
    model: str
    options: DecodeOptions
    response_format: str = "json"
    words: bool = False
    stream: bool = False

    @property
    def task(self) -> str:
        """``"translate"`` or ``"transcribe"``, as OpenAI's ``verbose_json`` says."""
        return "translate" if self.options.translate else "transcribe"


def transcription_request(
    form: UploadForm,
    *,
    model: str,
    multilingual: bool,
    translate: bool = False,
    default_language: str | None = None,
) -> TranscriptionRequest:
    """Check the OpenAI fields of ``form`` for ``model`` (already looked up by the caller).

    Fields: ``file`` (required, not empty), ``language`` (ISO 639-1, ``auto``, or absent
    for ``default_language``), ``prompt``, ``response_format`` (one of
    :data:`RESPONSE_FORMATS`), ``temperature`` (0 to 1), ``timestamp_granularities[]``
    (``segment``, ``word``) and ``stream`` (``true``/``false``). ``translate`` is the
    translations endpoint: into English, whatever was spoken. Raises :class:`UploadError`
    naming the field at fault.

    Example::

        request = transcription_request(form, model="tiny.en-q8_0", multilingual=False)
    """
    upload = form.file
    if upload is None:
        raise UploadError(
            400,
            "no file: send the audio in a form field named 'file'",
            code="missing_file",
            param="file",
        )
    if upload.size == 0:
        raise UploadError(
            400,
            f"{upload.filename!r} is empty: there is no audio in it",
            code="empty_file",
            param="file",
        )
    response_format = (form.value("response_format") or "json").strip().lower()
    if response_format not in RESPONSE_FORMATS:
        raise UploadError(
            400,
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, "
            f"not {response_format!r}",
            code="invalid_value",
            param="response_format",
        )
    language = _language(form.value("language"), default_language, model, multilingual)
    if translate and not multilingual:
        raise UploadError(
            400,
            f"{model} is an English-only model: it cannot translate; choose a multilingual "
            "model (one without .en)",
            code="unsupported_task",
            param="model",
        )
    granularities = {g.strip().lower() for g in form.values("timestamp_granularities")}
    if not granularities <= {"segment", "word"}:
        raise UploadError(
            400,
            "timestamp_granularities may be 'segment' and 'word', not "
            f"{', '.join(sorted(granularities - {'segment', 'word'}))}",
            code="invalid_value",
            param="timestamp_granularities",
        )
    try:
        options = DecodeOptions(
            language=language,
            translate=translate,
            initial_prompt=form.value("prompt") or "",
            temperature=_temperature(form.value("temperature")),
        )
    except DecodeOptionsError as exc:  # a language whisper.cpp does not know
        raise UploadError(400, str(exc), code="unsupported_language", param="language") from None
    return TranscriptionRequest(
        upload,
        model,
        options,
        response_format,
        words="word" in granularities,
        stream=_boolean(form.value("stream"), "stream"),
    )


def _language(value: str | None, default: str | None, model: str, multilingual: bool) -> str | None:
    language = (value or "").strip().lower() or default
    if language is None or language == "auto":
        return None if multilingual else "en"
    try:
        language = DecodeOptions(language=language).language
    except DecodeOptionsError as exc:
        raise UploadError(400, str(exc), code="unsupported_language", param="language") from None
    if not multilingual and language != "en":
        raise UploadError(
            400,
            f"{model} is an English-only model: it cannot transcribe {language!r}; choose "
            "a multilingual model (one without .en)",
            code="unsupported_language",
            param="language",
        )
    return language


def _temperature(value: str | None) -> float:
    if value is None or not value.strip():
        return 0.0
    try:
        temperature = float(value)
    except ValueError:
        temperature = math.nan
    if not 0.0 <= temperature <= 1.0:
        raise UploadError(
            400,
            f"temperature must be a number from 0 to 1, not {value!r}",
            code="invalid_value",
            param="temperature",
        )
    return temperature


def _boolean(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UploadError(
        400, f"{name} must be true or false, not {value!r}", code="invalid_value", param=name
    )


def probe_audio(upload: UploadedFile, max_seconds: float) -> float:
    """The duration of the uploaded audio in seconds; :class:`UploadError` if unusable.

    Reads only the file's header (libsndfile: wav, flac, ogg/vorbis/opus, mp3, ...).
    Refuses a file that is not audio, holds no samples, or is longer than ``max_seconds``.

    Example: ``probe_audio(form.file, max_seconds=7200)`` -> ``11.0``.
    """
    try:
        info = soundfile.info(str(upload.path))
    except (soundfile.SoundFileError, RuntimeError, OSError) as exc:
        raise UploadError(
            400,
            f"{upload.filename!r} is not audio this server can read ({_why(exc)}); it reads "
            "wav, flac, ogg (vorbis, opus) and mp3: convert other files first, e.g. "
            "`ffmpeg -i recording.m4a recording.flac`",
            code="invalid_file",
            param="file",
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise UploadError(
            400, f"{upload.filename!r} holds no audio samples", code="empty_file", param="file"
        )
    duration = float(info.frames) / float(info.samplerate)
    if duration > max_seconds:
        raise UploadError(
            400,
            f"{upload.filename!r} lasts {duration / 60:.0f} min; this server takes files of "
            f"at most {max_seconds / 60:.0f} min: cut it into parts",
            code="audio_too_long",
            param="file",
        )
    return duration


def _why(exc: BaseException) -> str:
    text = str(exc)
    # libsndfile's message repeats the (temporary, meaningless) path: keep only the reason.
    return text.rsplit(": ", 1)[-1].strip().rstrip(".") or type(exc).__name__
