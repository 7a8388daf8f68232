"""How to decode: :class:`DecodeOptions` and the rules over them, as plain data.

Nothing here touches whisper.cpp: building, checking and sizing options is pure Python,
so the streaming rules (:mod:`livewhisper.policy`), the command line and the server take
options without loading the native library. :class:`~livewhisper.engine.Engine` decodes
with them.

Example::

    >>> options = DecodeOptions(language="Spanish", beam_size=2)
    >>> options.language
    'es'
    >>> check_options(options, "tiny.en", multilingual=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    livewhisper.errors.DecodeOptionsError: tiny.en is an English-only model and cannot ...
    >>> audio_ctx_for(2.0)  # encoder positions for 2 s of audio: the floor
    768
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livewhisper.errors import ConfigError, DecodeOptionsError
from livewhisper.languages import language_code
from livewhisper.vocabulary import vocabulary_terms

MAX_AUDIO_CTX = 1500  # encoder positions for Whisper's 30 s window (50 per second)
AUDIO_CTX_MARGIN = 64  # positions beyond the audio: a little context keeps greedy text intact
# Measured on the bundled tiny.en: a context much shorter than ~15 s makes greedy decoding
# loop ("ask not to ask not to...") and the temperature fallback then costs more than the
# shorter encoder saves; from 768 up the words match the full context. (A 5 s margin with
# no floor is faster and scored better on the shared clips, but sometimes writes text into
# the silence after the speech: live partials use it, capped, and nothing else.)
AUDIO_CTX_FLOOR = 768


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode one chunk. Immutable: pass a new one (``dataclasses.replace``) to change.

    ``language`` is a code or an English name (see :data:`~livewhisper.languages.LANGUAGES`;
    kept as the code); ``None`` or ``"auto"`` detects it (slower). ``beam_size=1`` is
    greedy decoding, the fastest. ``temperature_increment`` > 0 re-decodes at higher
    temperatures when the text looks wrong (``logprob_threshold``, ``entropy_threshold``);
    ``no_speech_threshold`` lets Whisper skip windows it judges silent. ``audio_ctx=None``
    sizes the encoder context to the chunk for greedy decoding (full 30 s for beam search,
    which loops with a short context); ``0`` always uses the full context.

    ``vocabulary`` lists names and terms to steer the decoding toward (a sequence, or
    one string of terms separated by commas or lines; see :mod:`livewhisper.vocabulary`):
    the decode's initial prompt becomes a sentence listing them, followed by
    ``initial_prompt`` (or the stream's history), both fitted into Whisper's prompt, and
    a run of decoded words that sounds and reads like a term is written as the term
    (:mod:`livewhisper.spelling`).

    Raises :class:`DecodeOptionsError` for a value out of range or an unknown language.
    Building options loads nothing: whisper.cpp is loaded by the
    :class:`~livewhisper.engine.Engine`.

    Example: ``DecodeOptions(language="en", vocabulary=("Siobhan Okonkwo", "Zyntrix"))``.
    """

    language: str | None = None
    translate: bool = False
    initial_prompt: str = ""
    vocabulary: tuple[str, ...] = ()
    beam_size: int = 1
    temperature: float = 0.0
    temperature_increment: float = 0.2
    logprob_threshold: float = -1.0
    entropy_threshold: float = 2.4
    no_speech_threshold: float = 0.6
    audio_ctx: int | None = None
    suppress_non_speech: bool = True
    max_tokens: int = 0
    single_segment: bool = False

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.beam_size > 16:
            raise DecodeOptionsError(f"beam_size must be 1 to 16, not {self.beam_size}")
        if not 0.0 <= self.temperature <= 1.0:
            raise DecodeOptionsError(f"temperature must be within 0..1, not {self.temperature}")
        if self.temperature_increment < 0:
            raise DecodeOptionsError("temperature_increment must not be negative")
        if self.audio_ctx is not None and not 0 <= self.audio_ctx <= MAX_AUDIO_CTX:
            raise DecodeOptionsError(f"audio_ctx must be within 0..{MAX_AUDIO_CTX}")
        # From the table, not from whisper.cpp: options are plain data, and building them
        # must not load the native library (nor register its exit hooks).
        object.__setattr__(self, "language", language_code(self.language))
        try:
            object.__setattr__(self, "vocabulary", vocabulary_terms(self.vocabulary))
        except ConfigError as exc:
            raise DecodeOptionsError(str(exc)) from None


MULTILINGUAL_REMEDY = "use a multilingual model such as 'base-q8_0'"
"""What :func:`check_options` tells a user of an English-only model by default."""


def check_options(
    options: DecodeOptions,
    model_name: str,
    multilingual: bool,
    *,
    remedy: str = MULTILINGUAL_REMEDY,
) -> str | None:
    """The language to decode with, or :class:`DecodeOptionsError` if the model cannot.

    English-only models neither translate nor decode other languages; check up front,
    before a stream starts, rather than once per utterance on a worker thread. ``remedy``
    ends the refusal of another language: a server names the models it serves.

    Example: ``check_options(DecodeOptions(language="es"), "tiny.en", False)`` raises.
    """
    if multilingual:
        return options.language
    if options.language not in (None, "en"):
        raise DecodeOptionsError(
            f"{model_name} is an English-only model and cannot decode language "
            f"{options.language!r}; {remedy}"
        )
    if options.translate:
        raise DecodeOptionsError(f"{model_name} is English-only: it cannot translate")
    return "en"


def audio_ctx_for(
    seconds: float, floor: int = AUDIO_CTX_FLOOR, margin: int = AUDIO_CTX_MARGIN
) -> int:
    """The encoder context that covers ``seconds`` of audio plus ``margin``, at least ``floor``.

    Example: ``audio_ctx_for(2.0)`` is 768; ``audio_ctx_for(2.0, floor=256, margin=256)`` 384.
    """
    needed = math.ceil(seconds * MAX_AUDIO_CTX / 30.0) + margin
    return min(MAX_AUDIO_CTX, max(floor, -(-needed // 32) * 32))
