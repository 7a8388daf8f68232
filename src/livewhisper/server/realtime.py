"""OpenAI's Realtime API, transcription sessions: the rules of the wire, with no I/O.

The ``openai`` client's ``client.realtime.connect(...)`` (and ``client.beta.realtime``)
opens a WebSocket at ``{base_url}/realtime`` (``?model=...`` or ``?intent=transcription``)
and speaks JSON events. :class:`RealtimeProtocol` turns each client frame into actions
(:class:`Configure`, :class:`Append`, :class:`Commit`, :class:`Clear`, or a
:class:`Reply` such as an ``error`` event) and turns our partials and finals into
OpenAI's server events: ``input_audio_buffer.speech_started`` at the first text of an
utterance, ``conversation.item.input_audio_transcription.delta`` as its stable text
grows, and at its final ``speech_stopped``, ``committed``, the last delta and
``...transcription.completed``.

Both session shapes are taken, by ``session.update`` and
``transcription_session.update`` alike: the current one
(``session.audio.input.{format, transcription, turn_detection}``) and the beta one
(``input_audio_format``, ``input_audio_transcription``, ``turn_detection``). Audio is
PCM16 (24 kHz unless the format says another rate), or G.711 mu-law or A-law at 8 kHz
as telephone bridges send it; ``turn_detection: null`` leaves commits to the client.

Example::

    protocol = RealtimeProtocol("3f9a0c1e", model="tiny.en-q8_0")
    protocol.opening()                       # [{"type": "session.created", ...}]
    protocol.receive('{"type": "input_audio_buffer.append", "audio": "AAAA"}')
    protocol.on_event(final, offset=0.0)     # [speech_stopped, committed, ..., completed]
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from livewhisper.audio.decode import g711_to_pcm16
from livewhisper.deltas import TextDeltas
from livewhisper.errors import LiveWhisperError
from livewhisper.events import Final, Partial
from livewhisper.protocol import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = [
    "DEFAULT_RATE",
    "G711_RATE",
    "Append",
    "Clear",
    "Commit",
    "Configure",
    "RealtimeAction",
    "RealtimeError",
    "RealtimeProtocol",
    "Reply",
    "TranscriptionSettings",
    "error_event",
    "parse_session",
]

DEFAULT_RATE = 24000
"""The sample rate of OpenAI's ``pcm16`` / ``audio/pcm`` audio."""

G711_RATE = 8000
"""The sample rate of G.711 audio (``g711_ulaw`` / ``audio/pcmu``, ``g711_alaw`` /
``audio/pcma``), in Hz."""

_PCM_NAMES = ("pcm16", "audio/pcm")
# Each G.711 law's format names, the beta's then the current one.
_G711_NAMES = {"mulaw": ("g711_ulaw", "audio/pcmu"), "alaw": ("g711_alaw", "audio/pcma")}
_G711_LAWS = {name: law for law, names in _G711_NAMES.items() for name in names}


class RealtimeError(LiveWhisperError):
    """A client event the session cannot take: OpenAI's error ``code`` and ``param``.

    Example: ``RealtimeError("invalid_value", "rate 4000 ...", "session.audio.input.format")``.
    """

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


@dataclass(frozen=True)
class TranscriptionSettings:
    """What a session transcribes with (the parsed ``session`` of an update).

    ``model`` as the client named it (``""``: the server's default; OpenAI's names are
    aliases of it); ``language`` a code or None to detect; ``turn_detection`` False for
    commits by the client only; ``silence`` and ``prefix_padding`` in seconds when the
    client set them (the segmenter's ``pause`` and ``pre_roll``); ``rate`` the audio's
    sample rate in Hz; ``g711`` the G.711 law (``"mulaw"``, ``"alaw"``) of 8 kHz telephone
    audio (``rate`` 8000), or None for PCM16.

    Example: ``TranscriptionSettings(rate=24000, language="en", prompt="Zyntrix")``.
    """

    rate: int = DEFAULT_RATE
    g711: str | None = None
    model: str = ""
    language: str | None = None
    prompt: str = ""
    turn_detection: bool = True
    silence: float | None = None
    prefix_padding: float | None = None
    noise_reduction: Any = None

    def describe(self) -> dict[str, Any]:
        """The ``audio.input`` part of a session object, as OpenAI shows it."""
        detection: dict[str, Any] | None = None
        if self.turn_detection:
            detection = {
                "type": "server_vad",
                "silence_duration_ms": _ms(self.silence),
                "prefix_padding_ms": _ms(self.prefix_padding),
            }
        fmt: dict[str, Any] = {"type": "audio/pcm", "rate": self.rate}
        if self.g711:
            fmt = {"type": _G711_NAMES[self.g711][1]}
        return {
            "format": fmt,
            "transcription": {
                "model": self.model or None,
                "language": self.language,
                "prompt": self.prompt,
            },
            "turn_detection": detection,
            "noise_reduction": self.noise_reduction,
        }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _seconds(value: Any, name: str, param: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RealtimeError("invalid_value", f"{name} must be a number of milliseconds", param)
    if not 0 <= value <= 10000:
        raise RealtimeError("invalid_value", f"{name} must be from 0 to 10000 ms", param)
    return float(value) / 1000


def _object(value: Any, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RealtimeError("invalid_type", f"{param} must be an object", param)
    return value


def _text(value: Any, param: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RealtimeError("invalid_type", f"{param} must be a string", param)
    return value


def _audio_format(fmt: Any) -> dict[str, Any]:
    """The ``rate`` and ``g711`` settings of a format: a name (the beta's ``"pcm16"``,
    ``"g711_ulaw"``...) or an object (``{"type": "audio/pcm", "rate": 16000}``)."""
    name = fmt.get("type") if isinstance(fmt, dict) else fmt
    if not isinstance(name, str):
        raise RealtimeError("invalid_type", "the audio format is a name or an object", "format")
    if name in _G711_LAWS:
        return {"g711": _G711_LAWS[name], "rate": G711_RATE}
    if name not in _PCM_NAMES:
        raise RealtimeError(
            "invalid_value",
            f"unknown audio format {name!r}: use audio/pcm (PCM16), audio/pcmu or "
            "audio/pcma (G.711 at 8 kHz)",
            "format",
        )
    rate = fmt.get("rate", DEFAULT_RATE) if isinstance(fmt, dict) else DEFAULT_RATE
    if not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise RealtimeError(
            "invalid_value",
            f"rate {rate!r}: use a whole number of Hz from {MIN_SAMPLE_RATE} to "
            f"{MAX_SAMPLE_RATE} (OpenAI sends 24000)",
            "format.rate",
        )
    return {"g711": None, "rate": rate}


def parse_session(session: Any, current: TranscriptionSettings) -> TranscriptionSettings:
    """``current`` with what a ``session`` object of an update sets (either shape).

    Raises :class:`RealtimeError` for a value the server cannot take (an unknown audio
    format, a rate outside 8-96 kHz, a malformed field).

    Example::

        >>> s = parse_session({"input_audio_format": "pcm16",
        ...                    "input_audio_transcription": {"language": "es"},
        ...                    "turn_detection": None}, TranscriptionSettings())
        >>> s.language, s.turn_detection, s.rate
        ('es', False, 24000)
    """
    session = _object(session, "session")
    audio_input = _object(_object(session.get("audio"), "session.audio").get("input"), "input")
    changes: dict[str, Any] = {}
    # The format: {"type": "audio/pcm", "rate": 24000} now, "pcm16" in the beta.
    fmt = audio_input.get("format", session.get("input_audio_format"))
    if fmt is not None:
        changes.update(_audio_format(fmt))
    key = "transcription" if "transcription" in audio_input else None
    transcription = audio_input.get(key) if key else session.get("input_audio_transcription")
    if transcription is not None:
        transcription = _object(transcription, "transcription")
        for field_name in ("model", "language", "prompt"):
            if field_name in transcription:
                value = _text(transcription[field_name], f"transcription.{field_name}")
                changes[field_name] = value or ("" if field_name != "language" else None)
    if "turn_detection" in audio_input or "turn_detection" in session:
        detection = audio_input.get("turn_detection", session.get("turn_detection"))
        changes["turn_detection"] = detection is not None
        if detection is not None:
            detection = _object(detection, "turn_detection")
            changes["silence"] = _seconds(
                detection.get("silence_duration_ms"), "silence_duration_ms", "turn_detection"
            )
            changes["prefix_padding"] = _seconds(
                detection.get("prefix_padding_ms"), "prefix_padding_ms", "turn_detection"
            )
    for noise in ("noise_reduction", "input_audio_noise_reduction"):
        source = audio_input if noise == "noise_reduction" else session
        if noise in source:
            changes["noise_reduction"] = source[noise]  # shown back; not applied
    return replace(current, **changes)


def error_event(
    event_id: str,
    code: str,
    message: str,
    param: str | None = None,
    client_event_id: str | None = None,
) -> dict[str, Any]:
    """OpenAI's ``error`` server event.

    Example::

        >>> error_event("event_1", "invalid_json", "not JSON")["error"]["type"]
        'invalid_request_error'
    """
    return {
        "type": "error",
        "event_id": event_id,
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }


@dataclass(frozen=True)
class Reply:
    """Send ``event`` (a server event) to the client."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Configure:
    """The client asks for these settings: if the server can take them (the model, the
    language), :meth:`RealtimeProtocol.updated` gives the ``answer`` event."""

    settings: TranscriptionSettings
    answer: str = "session.updated"


@dataclass(frozen=True)
class Append:
    """PCM16 samples at ``rate`` Hz, ``(n,)`` int16."""

    samples: npt.NDArray[np.int16] = field(repr=False)
    rate: int


@dataclass(frozen=True)
class Commit:
    """The client committed the audio so far: it is one item, transcribe it now."""


@dataclass(frozen=True)
class Clear:
    """The client dropped the audio not yet committed (already answered)."""


RealtimeAction = Reply | Configure | Append | Commit | Clear


class RealtimeProtocol:
    """One Realtime transcription connection (see the module docstring).

    ``model`` is what the session reports it decodes with; ``beta`` answers with the
    beta's ``transcription_session.*`` names (the connection asked for
    ``intent=transcription``).

    Example::

        >>> p = RealtimeProtocol("s1", model="tiny.en-q8_0")
        >>> p.receive('{"type": "input_audio_buffer.clear"}')[0].event["type"]
        'input_audio_buffer.cleared'
        >>> p.receive("{oops")[0].event["error"]["code"]
        'invalid_json'
    """

    def __init__(self, session_id: str, model: str, *, beta: bool = False) -> None:
        self.session_id = session_id
        self.model = model
        self.beta = beta
        self.settings = TranscriptionSettings()
        self._events = 0
        self._items = 0
        self._item: str | None = None  # the utterance being spoken
        self._previous: str | None = None
        self._deltas = TextDeltas(separator="")

    # -- client -> server ------------------------------------------------------------------
    def opening(self) -> list[dict[str, Any]]:
        """The events that greet a new connection."""
        kind = "transcription_session.created" if self.beta else "session.created"
        return [self._event(kind, session=self.session_object())]

    def session_object(self) -> dict[str, Any]:
        """The session as ``session.created`` / ``...updated`` show it."""
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": f"sess_{self.session_id}",
            "model": self.model,
            "audio": {"input": self.settings.describe()},
        }

    def updated(self, configure: Configure) -> dict[str, Any]:
        """Take the settings of ``configure``; the ``...updated`` event that says so."""
        self.settings = configure.settings
        return self._event(configure.answer, session=self.session_object())

    def receive(self, frame: str | bytes) -> list[RealtimeAction]:
        """The actions for one WebSocket frame; a bad one gets an ``error`` reply only."""
        client_id: str | None = None
        try:
            if isinstance(frame, bytes):
                raise RealtimeError("invalid_json", "send JSON text frames, not binary ones")
            try:
                message = json.loads(frame)
            except ValueError:
                raise RealtimeError("invalid_json", "the event is not valid JSON") from None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise RealtimeError("invalid_json", "an event is a JSON object with a 'type'")
            client_id = (
                message.get("event_id") if isinstance(message.get("event_id"), str) else None
            )
            return self._receive(message)
        except RealtimeError as exc:
            return [Reply(self.error(exc, client_id))]

    def error(self, exc: RealtimeError, client_event_id: str | None = None) -> dict[str, Any]:
        """The ``error`` event for ``exc``."""
        return error_event(self._next_id(), exc.code, exc.message, exc.param, client_event_id)

    def _receive(self, message: dict[str, Any]) -> list[RealtimeAction]:
        kind = message["type"]
        if kind in ("session.update", "transcription_session.update"):
            settings = parse_session(message.get("session"), self.settings)
            return [Configure(settings, kind.replace(".update", ".updated"))]
        if kind == "input_audio_buffer.append":
            audio = message.get("audio")
            if not isinstance(audio, str):
                raise RealtimeError("missing_required_parameter", "append needs 'audio'", "audio")
            try:
                data = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError):
                raise RealtimeError("invalid_value", "'audio' is not base64", "audio") from None
            law = self.settings.g711
            if law is not None:
                samples = g711_to_pcm16(data, law)
            elif len(data) % 2:
                raise RealtimeError("invalid_value", "PCM16 audio is whole 2-byte samples", "audio")
            else:
                samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
            return [Append(samples, self.settings.rate)] if len(samples) else []
        if kind == "input_audio_buffer.commit":
            return [Commit()]
        if kind == "input_audio_buffer.clear":
            self._item = None
            self._deltas = TextDeltas(separator="")
            return [Reply(self._event("input_audio_buffer.cleared")), Clear()]
        raise RealtimeError(
            "invalid_value",
            f"event type {kind!r} is not taken by a transcription session here",
            "type",
        )

    # -- server -> client ------------------------------------------------------------------
    def on_event(self, event: Partial | Final, offset: float) -> list[dict[str, Any]]:
        """The server events for one of our events; ``offset``: seconds of the session's
        audio before the stream the event's times count from."""
        out: list[dict[str, Any]] = []
        if self._item is None:
            if isinstance(event, Partial) and not event.stable.strip() and not event.text.strip():
                return out
            self._items += 1
            self._item = f"item_{self.session_id}{self._items:04d}"
            out.append(
                self._event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=round((offset + event.start) * 1000),
                    item_id=self._item,
                )
            )
        item = self._item
        if isinstance(event, Partial):
            piece = self._deltas.partial(event.stable)
            if piece:
                out.append(self._delta(item, piece))
            return out
        end_ms = round((offset + event.end) * 1000)
        out.append(
            self._event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item)
        )
        out.append(self._committed(item))
        piece = self._deltas.final(event.text)
        if piece:
            out.append(self._delta(item, piece))
        out.append(self._completed(item, event.text, event.end - event.start))
        self._item = None
        return out

    def transcribed(self, text: str, seconds: float) -> list[dict[str, Any]]:
        """The events for a buffer the client committed (no turn detection), decoded."""
        self._items += 1
        item = f"item_{self.session_id}{self._items:04d}"
        out = [self._committed(item)]
        if text.strip():
            out.append(self._delta(item, text.strip()))
        out.append(self._completed(item, text, seconds))
        return out

    def _committed(self, item: str) -> dict[str, Any]:
        event = self._event(
            "input_audio_buffer.committed", item_id=item, previous_item_id=self._previous
        )
        self._previous = item
        return event

    def _delta(self, item: str, piece: str) -> dict[str, Any]:
        return self._event(
            "conversation.item.input_audio_transcription.delta",
            item_id=item,
            content_index=0,
            delta=piece,
        )

    def _completed(self, item: str, text: str, seconds: float) -> dict[str, Any]:
        return self._event(
            "conversation.item.input_audio_transcription.completed",
            item_id=item,
            content_index=0,
            transcript=text.strip(),
            usage={"type": "duration", "seconds": round(max(0.0, seconds), 3)},
        )

    def _next_id(self) -> str:
        self._events += 1
        return f"event_{self.session_id}{self._events:05d}"

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": self._next_id(), **fields}
