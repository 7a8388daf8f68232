"""One OpenAI Realtime transcription connection (``/v1/realtime``) on the caption server.

Frames go through :class:`~livewhisper.server.realtime.RealtimeProtocol`. With turn
detection (the default) audio feeds a :class:`~livewhisper.dictation.Dictation` on the
server's model pool, whose partials and finals become deltas and completed items as
the person speaks; a client ``commit`` ends the current stream at once (its last
utterance becomes final) and later audio starts another. Without turn detection the
audio waits in a bounded buffer until the client commits it, then is decoded whole.
Sessions are held to protocol 1's limits: a place among ``max_sessions``, and frames read
as every :class:`~livewhisper.server.sessions.LiveSession` reads them (the idle timeout,
the pace).

Example::

    await RealtimeSession(connection, "3f9a0c1e", settings).run()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from livewhisper.audio.sources import PushSource
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, DecodeOptionsError
from livewhisper.events import Final, Partial
from livewhisper.protocol import CloseCode, ErrorCode, ProtocolError
from livewhisper.segmenter import SegmenterConfig
from livewhisper.server.catalog import OPENAI_MODELS, served_name
from livewhisper.server.pool import PooledEngine, not_served
from livewhisper.server.realtime import (
    Append,
    Clear,
    Commit,
    Configure,
    RealtimeAction,
    RealtimeError,
    RealtimeProtocol,
    Reply,
    TranscriptionSettings,
)
from livewhisper.server.sessions import (
    Connection,
    Disconnected,
    LiveSession,
    SessionSettings,
    close_soon,
)

__all__ = ["MAX_BUFFER_SECONDS", "RealtimeSession", "refuse"]

log = logging.getLogger("livewhisper.server")

MAX_BUFFER_SECONDS = 120.0
"""The most audio a session without turn detection may append before it commits."""


async def refuse(connection: Connection, code: ErrorCode, message: str) -> None:
    """Tell a Realtime client it cannot have a session (an OpenAI ``error``), and close.

    Example: ``await refuse(connection, ErrorCode.BUSY, "4 sessions are running")``.
    """
    event = RealtimeProtocol("refused", "").error(RealtimeError(code.value, message))
    with contextlib.suppress(Disconnected):
        await connection.send(json.dumps(event))
    await close_soon(connection, code.close_code or CloseCode.POLICY_VIOLATION, code.value)


class _Stream:
    """One dictation of the session and the task forwarding its events, in order after
    the stream before it."""

    def __init__(self, dictation: Dictation, engine: PooledEngine, offset: float) -> None:
        self.dictation = dictation
        self.engine = engine
        self.offset = offset  # seconds of the session's audio before this stream
        self.fed = 0.0
        self.pump: asyncio.Task[None] | None = None


class RealtimeSession(LiveSession):
    """One ``/v1/realtime`` connection (see the module docstring), with the life cycle of
    every :class:`~livewhisper.server.sessions.LiveSession`.

    Example::

        session = RealtimeSession(connection, "3f9a0c1e", settings, on_closed=release)
        await session.run()
    """

    kind = "realtime session"

    def __init__(
        self,
        connection: Connection,
        session_id: str,
        settings: SessionSettings,
        on_closed: Callable[[], object] = lambda: None,
        *,
        beta: bool = False,
    ) -> None:
        super().__init__(connection, session_id, settings, on_closed)
        self.protocol = RealtimeProtocol(session_id, settings.pool.default_model, beta=beta)
        self._stream: _Stream | None = None
        self._streams: list[_Stream] = []
        self._buffer: list[np.ndarray] = []
        self._buffered = 0.0
        self._audio_seconds = 0.0
        self._decodes: set[asyncio.Task[None]] = set()
        self._buffer_rate = 0
        self._decode = DecodeOptions()
        self._segmenter = SegmenterConfig()
        self._configure(TranscriptionSettings())

    async def run(self) -> None:
        """Greet the client, then serve the connection until it ends."""
        for event in self.protocol.opening():
            self._send(event)
        await super().run()

    # -- frames in -----------------------------------------------------------------------
    def _handle(self, frame: str | bytes) -> None:
        for action in self.protocol.receive(frame):
            try:
                self._apply(action)
            except RealtimeError as exc:
                log.info("%s %s: error %s: %s", self.kind, self.id, exc.code, exc.message)
                self._send(self.protocol.error(exc))

    def _ahead(self, ahead: bool) -> None:
        if self._stream is not None:
            self._stream.engine.ahead = ahead

    def _apply(self, action: RealtimeAction) -> None:
        if isinstance(action, Reply):
            self._send(action.event)
        elif isinstance(action, Configure):
            self._configure(action.settings)
            self._send(self.protocol.updated(action))
        elif isinstance(action, Append):
            seconds = len(action.samples) / action.rate
            self.pace.add(seconds, self._loop.time())
            self._audio_seconds += seconds
            if self.protocol.settings.turn_detection:
                stream = self._stream or self._new_stream()
                stream.dictation.feed(action.samples, sample_rate=action.rate)
                stream.fed += seconds
            else:
                self._hold(action)
        elif isinstance(action, Commit):
            self._commit()
        elif isinstance(action, Clear):
            self._clear()

    # -- settings and streams ------------------------------------------------------------
    def _configure(self, settings: TranscriptionSettings) -> None:
        model, pool = served_name(settings.model), self.settings.pool
        try:
            engine = pool.engine(model)
        except ConfigError:
            message = not_served(str(model), pool.models, OPENAI_MODELS)
            raise RealtimeError("model_not_found", message, "transcription.model") from None
        language = settings.language if settings.language else self.settings.config.language
        try:
            language = self.settings.pool.language(language, engine.model_name)
            decode = DecodeOptions(
                language=language,
                initial_prompt=settings.prompt,
                vocabulary=self.settings.config.vocabulary,
            )
            segmenter = _segmenter(settings)
        except (DecodeOptionsError, ConfigError) as exc:
            engine.close()
            raise RealtimeError("invalid_value", str(exc), "transcription.language") from None
        if self.engine is not None and self.engine.model_name != engine.model_name:
            self.engine.close()  # streams still running keep decoding on their own engine
        self.engine = engine
        self._decode, self._segmenter = decode, segmenter
        self.protocol.model = engine.model_name
        # Later audio goes to a stream with the new settings; audio already sent to one
        # is transcribed with the settings it came under.
        self._end_stream()

    def _new_stream(self) -> _Stream:
        assert self.engine is not None
        engine = self.settings.pool.engine(self.engine.model_name)
        dictation = Dictation(
            engine,
            source=PushSource(sample_rate=self.protocol.settings.rate),
            decode=self._decode,
            segmenter=self._segmenter,
        )
        stream = _Stream(dictation, engine, self._audio_seconds)
        previous = self._streams[-1].pump if self._streams else None
        stream.pump = asyncio.create_task(self._forward(stream, previous))
        self._stream = stream
        self._streams.append(stream)
        return stream

    def _end_stream(self) -> None:
        """No more audio for the current stream: its last utterance becomes final."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.dictation.finish()

    def _commit(self) -> None:
        if not self.protocol.settings.turn_detection:
            self._decode_buffer()
        elif self._stream is not None and self._stream.fed > 0:
            self._end_stream()
        else:
            raise RealtimeError(
                "input_audio_buffer_commit_empty", "there is no audio to commit", None
            )

    def _clear(self) -> None:
        self._buffer, self._buffered = [], 0.0
        stream, self._stream = self._stream, None
        if stream is not None and stream.pump is not None:
            stream.pump.cancel()  # its audio is dropped; the pump stops the dictation

    # -- commits by the client (no turn detection) ----------------------------------------
    def _hold(self, append: Append) -> None:
        if self._buffer and self._buffer_rate != append.rate:
            raise RealtimeError("invalid_value", "the rate changed: commit first", "audio")
        if self._buffered + len(append.samples) / append.rate > MAX_BUFFER_SECONDS:
            raise RealtimeError(
                "input_audio_buffer_too_long",
                f"the buffer holds at most {MAX_BUFFER_SECONDS:g} s: commit more often or "
                "turn server_vad on",
                "audio",
            )
        self._buffer_rate = append.rate
        self._buffer.append(append.samples)
        self._buffered += len(append.samples) / append.rate

    def _decode_buffer(self) -> None:
        if not self._buffer:
            raise RealtimeError(
                "input_audio_buffer_commit_empty", "there is no audio to commit", None
            )
        audio, rate = np.concatenate(self._buffer), self._buffer_rate
        self._buffer, self._buffered = [], 0.0
        assert self.engine is not None
        task = asyncio.create_task(self._transcribe(self.engine, audio, rate, self._decode))
        self._decodes.add(task)
        task.add_done_callback(self._decodes.discard)

    async def _transcribe(
        self, engine: PooledEngine, audio: np.ndarray, rate: int, options: DecodeOptions
    ) -> None:
        try:
            result = await asyncio.to_thread(engine.transcribe, audio, options, sample_rate=rate)
        except Exception as exc:
            if not self._over:
                self._send(self.protocol.error(RealtimeError("transcription_failed", str(exc))))
            return
        text = " ".join(s.text.strip() for s in result.segments if s.text.strip())
        for event in self.protocol.transcribed(text, len(audio) / rate):
            self._send(event)

    # -- events out ----------------------------------------------------------------------
    async def _forward(self, stream: _Stream, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # items in the order they were spoken
            await asyncio.wait([previous])  # its failure is its own; a cancel of ours is not
        try:
            async for event in stream.dictation:
                if isinstance(event, (Partial, Final)):
                    for message in self.protocol.on_event(event, stream.offset):
                        self._send(message)
        except Exception:
            log.exception("realtime session %s: the dictation failed", self.id)
            self._fail(ProtocolError(ErrorCode.INTERNAL, "the session's audio pipeline failed"))
        finally:
            stream.engine.close()
            with contextlib.suppress(ValueError):
                self._streams.remove(stream)
            await asyncio.to_thread(stream.dictation.stop, 2.0)

    def _send(self, event: dict[str, Any]) -> None:
        if self._over and event.get("type") != "error":
            return
        if not self.outbox.put(json.dumps(event, ensure_ascii=False)):
            self._fail(ProtocolError(ErrorCode.TOO_SLOW, "the client reads too slowly"))

    # -- the end -------------------------------------------------------------------------
    def _error_text(self, exc: ProtocolError) -> str:
        return json.dumps(self.protocol.error(RealtimeError(exc.code.value, exc.message)))

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [*(s.pump for s in self._streams if s.pump is not None), *self._decodes]

    def _dictations(self) -> list[Dictation]:
        return [stream.dictation for stream in self._streams]


def _segmenter(settings: TranscriptionSettings) -> SegmenterConfig:
    """The segmenter with the client's ``silence_duration_ms`` and ``prefix_padding_ms``."""
    config = SegmenterConfig()
    if settings.silence is not None:
        config = replace(config, pause=settings.silence, tail=min(config.tail, settings.silence))
    if settings.prefix_padding is not None:
        config = replace(config, pre_roll=settings.prefix_padding)
    return config
