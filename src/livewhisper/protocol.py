"""Protocol 1 of the caption server (``docs/protocol.md``): its messages, and no I/O.

Every message is a frozen dataclass; :class:`ListenProtocol` is one audio session's state
machine as the server sees it, frames in, actions or a :class:`ProtocolError` out. The
server and the client (:mod:`livewhisper.client`) share this module and need nothing else.

Example::

    protocol = ListenProtocol()
    protocol.receive('{"type": "config", "sample_rate": 48000}')   # [Start(config=...)]
    protocol.receive(pcm_bytes)                                    # [Audio(samples=...)]
    protocol.receive('{"type": "end"}')                            # [Finish()]
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from livewhisper.errors import ConfigError, LiveWhisperError
from livewhisper.events import Final, Partial, Status, Word
from livewhisper.vocabulary import vocabulary_terms

__all__ = [
    "MAX_FRAME_SECONDS",
    "MAX_NAME_LENGTH",
    "MAX_SAMPLE_RATE",
    "MAX_TEXT_BYTES",
    "MIN_SAMPLE_RATE",
    "PROTOCOL_VERSION",
    "Audio",
    "ClientAction",
    "CloseCode",
    "Config",
    "Encoding",
    "End",
    "ErrorCode",
    "ErrorMessage",
    "FinalMessage",
    "Finish",
    "ListenProtocol",
    "Notice",
    "PartialMessage",
    "ProtocolError",
    "Ready",
    "ServerMessage",
    "Start",
    "StatusMessage",
    "Subscribed",
    "WordInfo",
    "decode_frame",
    "encode",
    "parse_client_message",
    "parse_server_message",
]

PROTOCOL_VERSION = 1
"""The version in every ``ready`` and ``subscribed`` message."""
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 96000
"""Sample rates a session may declare, in Hz (any whole number in between)."""
MAX_FRAME_SECONDS = 1.0
"""The most audio one binary frame may carry."""
MAX_TEXT_BYTES = 4096
"""The largest text frame a client may send (a config message is about 150 bytes)."""
MAX_NAME_LENGTH = 64
"""The longest ``name`` a session may give itself."""


class Encoding(str, enum.Enum):
    """How the samples of a binary frame are written: little-endian int16 or float32.

    Example: ``Encoding("pcm_f32le").sample_bytes`` is 4.
    """

    PCM_S16LE = "pcm_s16le"
    PCM_F32LE = "pcm_f32le"

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample: 2 or 4."""
        return 2 if self is Encoding.PCM_S16LE else 4


class CloseCode(enum.IntEnum):
    """The WebSocket close codes (RFC 6455, section 7.4.1) the server uses.

    Example: ``await connection.close(CloseCode.TRY_AGAIN_LATER, "busy")``.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class ErrorCode(str, enum.Enum):
    """The ``code`` of an ``error`` message; :attr:`close_code` says if the session ends.

    Example: ``ErrorCode.BUSY.close_code`` is ``CloseCode.TRY_AGAIN_LATER``;
    ``ErrorCode.UNKNOWN_TYPE.close_code`` is None (the session goes on).
    """

    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_CONFIG = "invalid_config"
    UNEXPECTED_CONFIG = "unexpected_config"
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    UNKNOWN_MODEL = "unknown_model"
    INVALID_FRAME_LENGTH = "invalid_frame_length"
    INVALID_AUDIO = "invalid_audio"
    FRAME_TOO_LARGE = "frame_too_large"
    AUDIO_AFTER_END = "audio_after_end"
    AUDIO_BEFORE_START = "audio_before_start"  # Wyoming: audio before ``audio-start``
    IDLE_TIMEOUT = "idle_timeout"
    BUSY = "busy"
    TOO_SLOW = "too_slow"
    OVERFLOW = "overflow"
    TOO_LITTLE_AUDIO = "too_little_audio"
    SESSION_TOO_LONG = "session_too_long"
    DECODE_FAILED = "decode_failed"
    INTERNAL = "internal"
    SHUTTING_DOWN = "shutting_down"

    @property
    def close_code(self) -> CloseCode | None:
        """The close code that follows this error, or None if the session goes on."""
        if self in _HARMLESS:
            return None
        return _CLOSE_CODES.get(self, CloseCode.POLICY_VIOLATION)

    @property
    def fatal(self) -> bool:
        """Whether the server closes the connection after this error."""
        return self.close_code is not None


_HARMLESS = {
    ErrorCode.UNKNOWN_TYPE,
    ErrorCode.AUDIO_AFTER_END,
    ErrorCode.AUDIO_BEFORE_START,
    ErrorCode.OVERFLOW,
    ErrorCode.DECODE_FAILED,
}
# Any other fatal code closes with POLICY_VIOLATION.
_CLOSE_CODES = {
    ErrorCode.INVALID_JSON: CloseCode.INVALID_DATA,
    ErrorCode.INVALID_FRAME_LENGTH: CloseCode.INVALID_DATA,
    ErrorCode.INVALID_AUDIO: CloseCode.INVALID_DATA,
    ErrorCode.FRAME_TOO_LARGE: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.IDLE_TIMEOUT: CloseCode.GOING_AWAY,
    ErrorCode.SHUTTING_DOWN: CloseCode.GOING_AWAY,
    ErrorCode.BUSY: CloseCode.TRY_AGAIN_LATER,
    ErrorCode.INTERNAL: CloseCode.INTERNAL_ERROR,
}


class ProtocolError(LiveWhisperError):
    """A message that breaks protocol 1, with the :class:`ErrorCode` to report.

    Example: ``parse_client_message("{oops")`` raises one with ``code.value == "invalid_json"``.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_message(self) -> ErrorMessage:
        """The ``error`` message that reports this to the client."""
        return ErrorMessage(self.code.value, self.message)


# -- client -> server ------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The optional first message of a listen session: how its audio is sent, and options.

    * ``sample_rate``: Hz of the binary frames, a whole number from 8000 to 96000.
    * ``encoding``: ``pcm_s16le`` (default) or ``pcm_f32le``, mono.
    * ``language``: an ISO 639-1 code, ``"auto"`` to detect it, or None for the
      server's default (``serve --language``).
    * ``partials``: send partial text while speech goes on (True).
    * ``share``: also publish this session's captions on ``/v1/captions`` (False).
    * ``model``: one of the server's models (``ready`` and ``/v1/info`` name them), or
      None for its default.
    * ``name``: who speaks, sent with shared captions (at most :data:`MAX_NAME_LENGTH`
      characters); None sends none, and the caption page says ``"Speaker N"``.
    * ``vocabulary``: names and terms to steer the decoding toward (a list of strings, or
      one string of terms separated by commas; see :mod:`livewhisper.vocabulary`); None
      for the server's (``serve --vocabulary``), ``[]`` for none.

    Raises :class:`ProtocolError` for a field out of bounds. Example:
    ``Config(sample_rate=48000, language="es", share=True, name="Ana")``.
    """

    sample_rate: int = 16000
    encoding: Encoding = Encoding.PCM_S16LE
    language: str | None = None
    partials: bool = True
    share: bool = False
    model: str | None = None
    name: str | None = None
    vocabulary: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_rate", _check_sample_rate(self.sample_rate))
        if self.vocabulary is not None:
            if not isinstance(self.vocabulary, (str, list, tuple)):
                raise _invalid("vocabulary must be a list of names and terms, or null")
            try:
                object.__setattr__(self, "vocabulary", vocabulary_terms(self.vocabulary))
            except ConfigError as exc:
                raise _invalid(str(exc)) from None
        try:
            object.__setattr__(self, "encoding", Encoding(self.encoding))
        except ValueError:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_ENCODING,
                f"encoding {self.encoding!r} is not supported: use 'pcm_s16le' or 'pcm_f32le'",
            ) from None
        language = self.language
        if language is not None and not (
            isinstance(language, str)
            and 2 <= len(language) <= 8
            and language.replace("-", "").replace("_", "").isascii()
            and language.replace("-", "").replace("_", "").isalpha()
        ):
            raise _invalid(
                f"language must be a language code such as 'en', 'auto' or null, not {language!r}"
            )
        for name in ("partials", "share"):
            if not isinstance(getattr(self, name), bool):
                raise _invalid(f"{name} must be true or false")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise _invalid("model must be a model name or null")
        if self.name is not None and (
            not isinstance(self.name, str)
            or not 0 < len(self.name.strip()) <= MAX_NAME_LENGTH
            or not self.name.isprintable()
        ):
            raise _invalid(
                f"name must be printable text of 1 to {MAX_NAME_LENGTH} characters, or null"
            )

    @property
    def max_frame_bytes(self) -> int:
        """The largest binary frame this config allows: :data:`MAX_FRAME_SECONDS` of audio."""
        return int(self.sample_rate * MAX_FRAME_SECONDS) * self.encoding.sample_bytes

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, ``type`` included; None-valued options are left out."""
        doc = {"type": "config", **{f.name: getattr(self, f.name) for f in fields(self)}}
        doc["encoding"] = self.encoding.value
        if self.vocabulary is not None:
            doc["vocabulary"] = list(self.vocabulary)
        return {key: value for key, value in doc.items() if value is not None}


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_CONFIG, message)


def _check_sample_rate(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_SAMPLE_RATE, f"sample_rate must be a number, not {value!r}"
        )
    whole = math.isfinite(value) and value == int(value)
    if not whole or not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_SAMPLE_RATE,
            f"sample_rate {value!r} is not supported: send a whole number of Hz from "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (16000 avoids resampling)",
        )
    return int(value)


@dataclass(frozen=True)
class End:
    """``{"type": "end"}``: from a client, no more audio; from the server, every final is out.

    Example: ``encode(End())`` is ``'{"type":"end"}'``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "end"}


def parse_client_message(text: str) -> Config | End:
    """Parse a text frame from a listen client; raise :class:`ProtocolError` if it is bad
    (:attr:`ErrorCode.UNKNOWN_TYPE`, harmless, for an unknown ``type``). Unknown fields
    are ignored: newer clients may send more.

    Example::

        >>> parse_client_message('{"type": "config", "sample_rate": 48000}').sample_rate
        48000
    """
    doc = _load_object(text)
    kind = doc.get("type")
    if kind == "end":
        return End()
    if kind == "config":
        # null means the default, for every field
        given = {f.name: doc[f.name] for f in fields(Config) if doc.get(f.name) is not None}
        return Config(**given)
    raise ProtocolError(
        ErrorCode.UNKNOWN_TYPE,
        f"unknown message type {kind!r}: a listen client sends 'config', binary audio "
        "frames and 'end'",
    )


def _load_object(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"text frame is not valid JSON: {exc}"
        ) from None
    if not isinstance(doc, dict):
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"a message must be a JSON object, not {type(doc).__name__}"
        )
    return doc


# -- server -> client ------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The session is open: its id, the model decoding it, the rate it expects audio at.

    Example: ``Ready(session="3f9a0c1e", model="tiny.en-q8_0", sample_rate=16000)``.
    """

    session: str
    model: str
    sample_rate: int
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "ready", "session": self.session, "model": self.model,
                "sample_rate": self.sample_rate, "protocol": self.protocol}  # fmt: skip


@dataclass(frozen=True)
class Subscribed:
    """A caption listener is registered: events published from now on will reach it.

    Example: ``encode(Subscribed())`` is ``'{"type":"subscribed","protocol":1}'``.
    """

    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "subscribed", "protocol": self.protocol}


@dataclass(frozen=True)
class WordInfo:
    """One word of a final on the wire: text, times in session seconds, probability.

    Example: ``WordInfo(" Ask", 1.02, 1.3, 0.91).to_dict()["word"]`` is ``" Ask"``.
    """

    word: str
    start: float
    end: float
    probability: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, times to the millisecond."""
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "probability": round(self.probability, 4)}  # fmt: skip


@dataclass(frozen=True)
class PartialMessage:
    """Interim text of the utterance being spoken; on ``/v1/captions``, ``session`` and the
    speaker's ``name`` say whose.

    Example: ``encode(PartialMessage.from_event(partial, session="mic"))``.
    """

    text: str
    start: float
    end: float
    stable: str = ""
    session: str | None = None
    name: str | None = None

    @classmethod
    def from_event(
        cls, event: Partial, session: str | None = None, name: str | None = None
    ) -> PartialMessage:
        """The message for a :class:`~livewhisper.events.Partial`."""
        return cls(event.text, event.start, event.end, event.stable, session, name)

    def to_event(self) -> Partial:
        """Back to a :class:`~livewhisper.events.Partial` (without its timing fields)."""
        return Partial(self.text, self.start, self.end, self.stable)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        doc = {"type": "partial", "text": self.text, **_span(self), "stable": self.stable}
        return _tagged(doc, self.session, self.name)


@dataclass(frozen=True)
class FinalMessage:
    """The settled text of one utterance, with its words; ``session`` and ``name`` as for
    partials.

    Example: ``FinalMessage.from_event(event).to_event()`` is a ``Final`` again.
    """

    text: str
    start: float
    end: float
    words: tuple[WordInfo, ...] = field(default=())
    language: str = ""
    session: str | None = None
    name: str | None = None

    @classmethod
    def from_event(
        cls, event: Final, session: str | None = None, name: str | None = None
    ) -> FinalMessage:
        """The message for a :class:`~livewhisper.events.Final`."""
        words = tuple(WordInfo(w.word, w.start, w.end, w.probability) for w in event.words)
        return cls(event.text, event.start, event.end, words, event.language, session, name)

    def to_event(self) -> Final:
        """Back to a :class:`~livewhisper.events.Final` (without its timing fields)."""
        words = tuple(Word(w.word, w.start, w.end, w.probability) for w in self.words)
        return Final(self.text, self.start, self.end, words, self.language)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        words = [w.to_dict() for w in self.words]
        doc = {"type": "final", "text": self.text, **_span(self), "words": words,
               "language": self.language}  # fmt: skip
        return _tagged(doc, self.session, self.name)


@dataclass(frozen=True)
class StatusMessage:
    """How far the text is behind the speaker (:class:`~livewhisper.events.Status`): sent
    when it falls behind, every second while it stays behind, once when it caught up.

    Example::

        >>> encode(StatusMessage(4.2, True, 63.0))
        '{"type":"status","lag":4.2,"behind":true,"at":63.0}'
    """

    lag: float
    behind: bool
    at: float
    session: str | None = None
    name: str | None = None

    @classmethod
    def from_event(
        cls, event: Status, session: str | None = None, name: str | None = None
    ) -> StatusMessage:
        """The message for a :class:`~livewhisper.events.Status`."""
        return cls(event.lag, event.behind, event.at, session, name)

    def to_event(self) -> Status:
        """Back to a :class:`~livewhisper.events.Status` (without its wall-clock time)."""
        return Status(self.lag, self.behind, self.at)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        doc = {"type": "status", "lag": round(self.lag, 1), "behind": self.behind,
               "at": round(self.at, 3)}  # fmt: skip
        return _tagged(doc, self.session, self.name)


def _span(message: PartialMessage | FinalMessage) -> dict[str, float]:
    return {"start": round(message.start, 3), "end": round(message.end, 3)}


def _tagged(doc: dict[str, Any], session: str | None, name: str | None) -> dict[str, Any]:
    tags = {"session": session, "name": name}
    return doc | {key: value for key, value in tags.items() if value is not None}


@dataclass(frozen=True)
class ErrorMessage:
    """``{"type": "error", "code", "message"}``; ``code`` is an :class:`ErrorCode` value.

    Example: ``ErrorMessage("busy", "4 sessions are running, the most this server takes")``.
    """

    code: str
    message: str

    @property
    def fatal(self) -> bool:
        """Whether the server closes the session after it (unknown codes count as fatal)."""
        try:
            return ErrorCode(self.code).fatal
        except ValueError:
            return True

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"type": "error", "code": self.code, "message": self.message}


ServerMessage = (
    Ready | Subscribed | PartialMessage | FinalMessage | StatusMessage | ErrorMessage | End
)
"""Any message the server sends."""


def encode(message: ServerMessage | Config) -> str:
    """A message as the compact JSON text of one WebSocket text frame.

    Example::

        >>> encode(End())
        '{"type":"end"}'
    """
    return json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _word(doc: dict[str, Any]) -> WordInfo:
    return WordInfo(doc["word"], float(doc["start"]), float(doc["end"]), float(doc["probability"]))


# Each server message type: how to build it from its JSON object.
_PARSERS: dict[str, Any] = {
    "partial": lambda d: PartialMessage(
        d["text"], float(d["start"]), float(d["end"]), d.get("stable", ""),
        d.get("session"), d.get("name"),
    ),
    "final": lambda d: FinalMessage(
        d["text"], float(d["start"]), float(d["end"]),
        tuple(_word(w) for w in d.get("words", ())), d.get("language", ""),
        d.get("session"), d.get("name"),
    ),
    "status": lambda d: StatusMessage(
        float(d["lag"]), bool(d["behind"]), float(d["at"]), d.get("session"), d.get("name")
    ),
    "ready": lambda d: Ready(
        d["session"], d["model"], int(d["sample_rate"]), int(d["protocol"])
    ),
    "subscribed": lambda d: Subscribed(int(d.get("protocol", PROTOCOL_VERSION))),
    "error": lambda d: ErrorMessage(str(d["code"]), str(d.get("message", ""))),
    "end": lambda d: End(),
}  # fmt: skip


def parse_server_message(text: str) -> ServerMessage | None:
    """Parse a text frame from the server; None for a type this version does not know;
    :class:`ProtocolError` for text that is not a JSON object or lacks a field.

    Example::

        >>> parse_server_message('{"type":"end"}')
        End()
    """
    doc = _load_object(text)
    kind = doc.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return None
    try:
        message: ServerMessage = parser(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"malformed {kind!r} message from the server: {exc!r}"
        ) from None
    return message


# -- the listen session's state machine --------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Open the session with ``config`` (the client's, or the defaults).

    Example: ``ListenProtocol().receive('{"type": "config"}')`` is ``[Start(Config())]``.
    """

    config: Config


@dataclass(frozen=True)
class Audio:
    """Samples to decode, as sent: int16 or float32, at the session's rate.

    Example: ``dictation.feed(action.samples)`` (its push source knows the rate).
    """

    samples: npt.NDArray[np.int16] | npt.NDArray[np.float32] = field(repr=False)


@dataclass(frozen=True)
class Finish:
    """The client sent ``end``: flush, deliver the last finals, then ``end``.

    Example: ``if isinstance(action, Finish): dictation.finish()``.
    """


@dataclass(frozen=True)
class Notice:
    """A non-fatal error to report; the frame that caused it is otherwise ignored.

    Example: ``outbox.put(encode(notice.error))``.
    """

    error: ErrorMessage


ClientAction = Start | Audio | Finish | Notice


class ListenProtocol:
    """One listen session's frames in, actions out: the rules of protocol 1, sans I/O.

    A ``config`` is only valid first; any other first frame starts the session with
    ``defaults``. Binary frames go through :func:`decode_frame`. Fatal problems raise
    :class:`ProtocolError`; harmless ones come back as a :class:`Notice`.

    Example::

        protocol = ListenProtocol()
        for action in protocol.receive(frame):
            if isinstance(action, Audio):
                dictation.feed(action.samples, protocol.config.sample_rate)
    """

    def __init__(self, defaults: Config | None = None) -> None:
        self.defaults = defaults or Config()
        self.config: Config | None = None
        self.finished = False

    @property
    def started(self) -> bool:
        """Whether the session is open (a config or a first frame arrived)."""
        return self.config is not None

    def receive(self, frame: str | bytes) -> list[ClientAction]:
        """What to do about one WebSocket frame (text as ``str``, binary as ``bytes``)."""
        actions: list[ClientAction] = []
        if isinstance(frame, bytes):
            if self.finished:
                ignored = ErrorCode.AUDIO_AFTER_END.value, "audio after 'end' is ignored"
                return [Notice(ErrorMessage(*ignored))]
            samples = decode_frame(frame, self.config or self._start(self.defaults, actions))
            return [*actions, Audio(samples)] if samples.size else actions
        if len(frame) > MAX_TEXT_BYTES or len(frame.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE, f"text frames are limited to {MAX_TEXT_BYTES} bytes"
            )
        try:
            message = parse_client_message(frame)
        except ProtocolError as exc:
            if exc.code.fatal:
                raise
            return [Notice(exc.to_message())]
        if isinstance(message, Config):
            if self.started:
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_CONFIG,
                    "config must be the first message of a session, before any audio",
                )
            self._start(message, actions)
        elif not self.finished:  # a second end changes nothing
            if not self.started:
                self._start(self.defaults, actions)
            self.finished = True
            actions.append(Finish())
        return actions

    def _start(self, config: Config, actions: list[ClientAction]) -> Config:
        self.config = config
        actions.append(Start(config))
        return config


def decode_frame(data: bytes, config: Config) -> npt.NDArray[np.int16] | npt.NDArray[np.float32]:
    """The samples of one binary frame, checked against ``config``.

    Raises :class:`ProtocolError`: ``frame_too_large`` beyond :data:`MAX_FRAME_SECONDS`,
    ``invalid_frame_length`` for a partial sample, ``invalid_audio`` for NaN or infinite
    floats.

    Example::

        >>> decode_frame(b"\\x00\\x40\\x00\\xc0", Config())
        array([ 16384, -16384], dtype=int16)
    """
    size, kind = config.encoding.sample_bytes, config.encoding.value
    if len(data) > config.max_frame_bytes:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"a binary frame of {len(data)} bytes is more than {MAX_FRAME_SECONDS:g} s of "
            f"{kind} audio at {config.sample_rate} Hz ({config.max_frame_bytes} bytes): "
            "send smaller frames (20 to 100 ms is typical)",
        )
    if len(data) % size:
        raise ProtocolError(
            ErrorCode.INVALID_FRAME_LENGTH,
            f"a binary frame of {len(data)} bytes does not hold whole {size}-byte {kind} samples",
        )
    if config.encoding is Encoding.PCM_S16LE:
        return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)
    samples = np.frombuffer(data, dtype="<f4").astype(np.float32, copy=False)
    if not np.isfinite(samples).all():
        raise ProtocolError(ErrorCode.INVALID_AUDIO, "float audio contains NaN or infinity")
    return samples
