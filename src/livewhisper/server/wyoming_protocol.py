"""The Wyoming protocol's speech-to-text side as the server sees it, with no I/O.

Wyoming (Home Assistant's voice pipelines, Rhasspy) frames events as a JSON line, then
optional extra JSON data and a binary payload; the ``wyoming`` package defines the
events. :func:`read_header` checks a header line against our limits before anything
else is read, so a client cannot make the server buffer more than :data:`MAX_PAYLOAD`
bytes; :class:`WyomingProtocol` is the state machine of one connection (``describe``,
``transcribe``, ``audio-start``, ``audio-chunk``..., ``audio-stop``), turning events
into actions or a :class:`~livewhisper.protocol.ProtocolError` whose code and
message become Wyoming's ``error`` event (:func:`error_event`); :func:`pcm_samples`
turns a chunk's bytes of any width and channel count into integer samples our
resampler takes.

Example::

    protocol = WyomingProtocol(info)
    protocol.receive(Describe().event())                           # [Reply(info event)]
    protocol.receive(AudioStart(rate=22050, width=2, channels=2).event())  # [Begin(...)]
    protocol.receive(chunk.event())                                # [Samples(...)]
    protocol.receive(AudioStop().event())                          # [Stop()]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong

from livewhisper.errors import ConfigError
from livewhisper.protocol import (
    MAX_FRAME_SECONDS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    ErrorCode,
    ProtocolError,
)

__all__ = [
    "MAX_CHANNELS",
    "MAX_HEADER",
    "MAX_PAYLOAD",
    "Begin",
    "Header",
    "Reply",
    "Samples",
    "Stop",
    "WyomingAction",
    "WyomingProtocol",
    "error_event",
    "parse_uri",
    "pcm_samples",
    "read_data",
    "read_header",
]

MAX_HEADER = 64 * 1024
"""The longest header line, and the most extra JSON data, an event may have (bytes)."""

MAX_CHANNELS = 8
"""The most channels an audio stream may have."""

MAX_PAYLOAD = int(MAX_SAMPLE_RATE * MAX_FRAME_SECONDS) * 4 * MAX_CHANNELS
"""The largest binary payload: one second of the widest audio the server takes."""


@dataclass(frozen=True)
class Header:
    """An event's header line: its type, inline data and the lengths that follow it.

    Example: ``read_header(line).payload_length`` bytes of audio follow ``data_length``.
    """

    type: str
    data: dict[str, Any]
    data_length: int
    payload_length: int


def read_header(line: bytes) -> Header:
    """Parse and bound a header line (without its newline).

    Raises :class:`ProtocolError` (``invalid_json``, ``frame_too_large``) for a line that
    is not a JSON object with a string ``type``, or that announces more data or payload
    than :data:`MAX_HEADER` and :data:`MAX_PAYLOAD`.

    Example::

        >>> read_header(b'{"type": "audio-chunk", "payload_length": 2048}').payload_length
        2048
    """
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(ErrorCode.INVALID_JSON, "an event header is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(ErrorCode.INVALID_JSON, "an event header needs a string 'type'")
    data = message.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "an event's 'data' must be an object")
    lengths = []
    for name, limit in (("data_length", MAX_HEADER), ("payload_length", MAX_PAYLOAD)):
        value = message.get(name) or 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProtocolError(ErrorCode.INVALID_JSON, f"{name} must be a whole number")
        if value > limit:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE,
                f"{name} {value} is over this server's limit of {limit} bytes: send "
                "audio in chunks of at most a second",
            )
        lengths.append(value)
    return Header(message["type"], data, lengths[0], lengths[1])


def read_data(extra: bytes) -> dict[str, Any]:
    """The extra JSON data after a header (``data_length`` bytes), merged into its data.

    Raises :class:`ProtocolError` (``invalid_json``) unless it is a JSON object.

    Example::

        >>> read_data(b'{"text": "hi"}')
        {'text': 'hi'}
    """
    try:
        data = json.loads(extra)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "an event's extra data is not a JSON object")
    return data


def parse_uri(uri: str) -> tuple[str, str, int]:
    """``(scheme, host or socket path, port)`` of a ``tcp://HOST:PORT`` or
    ``unix://PATH`` address (port 0 for a Unix socket).

    Raises :class:`~livewhisper.errors.ConfigError` for anything else.

    Example::

        >>> parse_uri("tcp://127.0.0.1:10300"), parse_uri("unix:///run/stt.sock")
        (('tcp', '127.0.0.1', 10300), ('unix', '/run/stt.sock', 0))
    """
    parts = urlsplit(uri)
    if parts.scheme == "unix" and (parts.netloc + parts.path):
        return "unix", parts.netloc + parts.path, 0
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.hostname and port is not None:
            return "tcp", parts.hostname, port
    raise ConfigError(
        f"cannot serve Wyoming on {uri!r}: use tcp://HOST:PORT (e.g. tcp://127.0.0.1:10300) "
        "or unix://PATH"
    )


def pcm_samples(audio: bytes, width: int, channels: int) -> npt.NDArray[np.int16 | np.int32]:
    """Little-endian PCM bytes as ``(n, channels)`` integer samples: int16 for widths 1
    (unsigned 8-bit) and 2, int32 for widths 3 and 4, full scale kept.

    Raises :class:`ProtocolError` (``invalid_frame_length``) when the bytes are not whole
    frames.

    Example::

        >>> pcm_samples(bytes([0, 128, 255]), width=1, channels=1).ravel().tolist()
        [-32768, 0, 32512]
    """
    frame = width * channels
    if len(audio) % frame:
        raise ProtocolError(
            ErrorCode.INVALID_FRAME_LENGTH,
            f"an audio chunk of {len(audio)} bytes is not whole frames of {width} byte(s) "
            f"x {channels} channel(s)",
        )
    raw = np.frombuffer(audio, dtype=np.uint8)
    samples: npt.NDArray[np.int16 | np.int32]
    if width == 1:
        samples = ((raw.astype(np.int16) - 128) << 8).astype(np.int16)
    elif width == 2:
        samples = raw.view("<i2").astype(np.int16)
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        # The 24 bits go to the top of an int32, so the sign comes along.
        samples = (triples[:, 0] << 8) | (triples[:, 1] << 16) | (triples[:, 2] << 24)
    else:
        samples = raw.view("<i4").astype(np.int32)
    return samples.reshape(-1, channels)


@dataclass(frozen=True)
class Reply:
    """Send ``event`` back (``info`` for ``describe``, ``pong`` for ``ping``)."""

    event: Event


@dataclass(frozen=True)
class Begin:
    """Audio starts at ``rate`` Hz: transcribe it with ``model`` in ``language`` (None:
    the server's defaults)."""

    rate: int
    model: str | None
    language: str | None


@dataclass(frozen=True)
class Samples:
    """``(n, channels)`` integer samples at ``rate`` Hz."""

    samples: npt.NDArray[np.int16 | np.int32]
    rate: int


@dataclass(frozen=True)
class Stop:
    """The audio is over: finish the transcript."""


WyomingAction = Reply | Begin | Samples | Stop


def _language(code: str | None) -> str | None:
    """``"en-US"`` -> ``"en"``: Home Assistant sends its region-tagged languages."""
    if not code:
        return None
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower() or None


class WyomingProtocol:
    """One Wyoming connection's speech-to-text exchange (see the module docstring).

    ``info`` answers ``describe``. Unknown event types are ignored, as Wyoming asks of
    servers (a client may send ``select-program``, say). Several transcriptions may follow
    each other on one connection.

    Example::

        >>> from wyoming.info import Info
        >>> p = WyomingProtocol(Info())
        >>> p.receive(AudioStart(rate=16000, width=2, channels=1).event())
        [Begin(rate=16000, model=None, language=None)]
        >>> p.receive(AudioStop().event())
        [Stop()]
    """

    def __init__(self, info: Info) -> None:
        self.info = info
        self._request: Transcribe | None = None
        self.streaming = False
        """Between ``audio-start`` and ``audio-stop``."""
        self._stopped = False  # an audio-stop has ended a transcription
        self._told = False  # of audio outside a stream, since the last audio-start

    def receive(self, event: Event) -> list[WyomingAction]:
        """The actions for one event; raises :class:`ProtocolError` for a bad one."""
        try:
            return self._receive(event)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(
                ErrorCode.INVALID_CONFIG, f"malformed {event.type!r} event: {exc!r} is wrong"
            ) from None

    def _receive(self, event: Event) -> list[WyomingAction]:
        if Describe.is_type(event.type):
            return [Reply(self.info.event())]
        if Ping.is_type(event.type):
            return [Reply(Pong(text=Ping.from_event(event).text).event())]
        if Transcribe.is_type(event.type):
            if self.streaming:
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_CONFIG, "transcribe during audio: send audio-stop first"
                )
            self._request = Transcribe.from_event(event)
            return []
        if AudioStart.is_type(event.type):
            if self.streaming:
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_CONFIG, "audio-start during audio: send audio-stop first"
                )
            start = AudioStart.from_event(event)
            _check_format(start.rate, start.width, start.channels)
            request, self._request = self._request, None
            self.streaming, self._told = True, False
            model = request.name if request is not None else None
            language = _language(request.language) if request is not None else None
            return [Begin(start.rate, model, language)]
        if AudioChunk.is_type(event.type):
            if not self.streaming:
                return self._outside_audio("audio-chunk")
            chunk = AudioChunk.from_event(event)
            _check_format(chunk.rate, chunk.width, chunk.channels)
            if not chunk.audio:
                return []
            return [Samples(pcm_samples(chunk.audio, chunk.width, chunk.channels), chunk.rate)]
        if AudioStop.is_type(event.type):
            if not self.streaming:
                return self._outside_audio("audio-stop")
            self.streaming, self._stopped = False, True
            return [Stop()]
        return []

    def _outside_audio(self, kind: str) -> list[WyomingAction]:
        """``kind`` sent with no audio going on (before any ``audio-start``, or after an
        ``audio-stop``): an ``error`` event with a harmless code, once until the next
        ``audio-start``, as protocol 1 answers audio after ``end``; the connection goes on
        and the audio is ignored."""
        if self._told:
            return []  # a microphone still sending: said once, then ignored
        self._told = True
        if self._stopped:
            notice = ProtocolError(
                ErrorCode.AUDIO_AFTER_END,
                f"{kind} after audio-stop: send audio-start to begin another transcription",
            )
        else:
            notice = ProtocolError(
                ErrorCode.AUDIO_BEFORE_START,
                f"{kind} before audio-start: send audio-start (rate, width, channels) first",
            )
        return [Reply(error_event(notice))]


def error_event(error: ProtocolError) -> Event:
    """Wyoming's ``error`` event for ``error``: its message as ``text``, its code.

    Example::

        >>> error_event(ProtocolError(ErrorCode.BUSY, "try again later")).data
        {'text': 'try again later', 'code': 'busy'}
    """
    return Error(text=error.message, code=error.code.value).event()


def _check_format(rate: object, width: object, channels: object) -> None:
    if not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_SAMPLE_RATE,
            f"rate {rate!r}: send a whole number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}",
        )
    if width not in (1, 2, 3, 4):
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_ENCODING, f"width {width!r}: send 1 to 4 bytes per sample"
        )
    if not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_ENCODING,
            f"channels {channels!r}: send 1 to {MAX_CHANNELS} channels",
        )
