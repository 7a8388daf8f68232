"""A Wyoming speech-to-text server (Home Assistant's voice pipelines) on the model pool.

Each connection is a :class:`~livewhisper.server.wyoming_protocol.WyomingProtocol`
driving, for each ``audio-start`` ... ``audio-stop``, a
:class:`~livewhisper.dictation.Dictation` fed through a push source (which resamples any
rate and channel count to 16 kHz mono) and decoding on a shared
:class:`~livewhisper.server.pool.ModelPool`, as the caption server's sessions do. While
audio comes, the stable text of partials and the finals go out as ``transcript-chunk``
pieces after a ``transcript-start``; ``audio-stop`` gets the whole ``transcript`` and
``transcript-stop``. Live finals are cut at pauses and decoded piece by piece: when a
stream's transcript would be joined from several finals and the stream is no longer than
``whole_decode_seconds`` (a voice command, a short message), its audio is decoded again
whole at ``audio-stop``, as ``livewhisper transcribe`` would (the pieces cost a Spanish
clip 1-4 words in 18 against the file transcription). A stream of one final keeps it,
with no decode at the end. Bad input is answered with Wyoming's ``error`` event (its
``code`` one of protocol 1's) and the connection closed, but for audio outside
``audio-start`` ... ``audio-stop``, whose harmless code is sent once and the audio
ignored, as protocol 1 does with audio after ``end``.

Limits: loopback only unless ``allow_remote`` (Wyoming has no authentication),
``max_sessions`` connections at once (more get ``busy``), ``idle_timeout`` seconds
without an event, and the pace of :class:`~livewhisper.server.pacing.PaceLimits`
(audio more than ``max_ahead`` seconds ahead of real time is read only as it falls due).

Example::

    async with WyomingServer(WyomingConfig(uri="tcp://127.0.0.1:10300")) as server:
        await server.serve_forever()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.event import Event, async_write_event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from livewhisper import __version__
from livewhisper.audio.decode import SAMPLE_RATE, AudioArray, to_mono_float32
from livewhisper.audio.sources import PushSource
from livewhisper.deltas import TextDeltas
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, DecodeOptionsError
from livewhisper.events import Final, Partial
from livewhisper.filetranscribe import transcribe_file
from livewhisper.languages import LANGUAGES
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.protocol import ErrorCode, ProtocolError
from livewhisper.server.config import is_loopback
from livewhisper.server.pacing import AudioPace, PaceLimits
from livewhisper.server.pool import ModelPool, PooledEngine
from livewhisper.server.wyoming_protocol import (
    MAX_HEADER,
    Begin,
    Reply,
    Samples,
    Stop,
    WyomingProtocol,
    error_event,
    parse_uri,
    read_data,
    read_header,
)
from livewhisper.vocabulary import vocabulary_terms

__all__ = ["DEFAULT_URI", "WyomingConfig", "WyomingServer", "wyoming_info"]

log = logging.getLogger("livewhisper.server")

DEFAULT_URI = "tcp://127.0.0.1:10300"
"""Where ``livewhisper wyoming`` listens unless told otherwise (Wyoming's usual STT port)."""

_MAX_QUEUED = 1024  # events waiting for a client that does not read
_FINAL_END_SLACK = 0.1  # s of speech past a final's end that it may still cover
_WHISPER = Attribution("OpenAI", "https://github.com/openai/whisper")
_US = Attribution("livewhisper", "https://github.com/livewhisper/livewhisper")


@dataclass(frozen=True)
class WyomingConfig:
    """What a :class:`WyomingServer` serves and its limits.

    * ``uri``: ``tcp://HOST:PORT`` (port 0 picks a free one) or ``unix://PATH``.
    * ``models``: names or paths, the first the default; ``language``: the default
      language (None: detected, ``en`` for English-only models).
    * ``allow_remote``: listen beyond loopback (Wyoming has no token: anyone who reaches
      the port may use it).
    * ``max_sessions``: connections at once; ``idle_timeout``: seconds a connection may
      send nothing; ``max_ahead``, ``min_audio_rate``, ``max_audio_seconds``: the pace of
      an audio stream (:class:`~livewhisper.server.pacing.PaceLimits`).
    * ``workers``, ``threads``: the model pool (default: as ``livewhisper serve``).
    * ``vocabulary``: names and terms every stream is steered toward
      (:mod:`livewhisper.vocabulary`; Wyoming's ``transcribe`` event has no field for
      them).
    * ``whole_decode_seconds``: an audio stream up to this long whose live text came in
      several finals gets, at ``audio-stop``, the transcript of one decode of all its
      audio (the file transcription's, see
      :func:`~livewhisper.filetranscribe.transcribe_file`) instead of the finals joined;
      0 always joins them (no decode at the end). Default 30: one Whisper window.

    Raises :class:`~livewhisper.errors.ConfigError` for a bad value.

    Example: ``WyomingConfig(uri="tcp://0.0.0.0:10300", allow_remote=True)``.
    """

    uri: str = DEFAULT_URI
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    language: str | None = None
    allow_remote: bool = False
    max_sessions: int = 4
    idle_timeout: float = 30.0
    max_ahead: float = 10.0
    min_audio_rate: float = 0.5
    max_audio_seconds: float | None = 3600.0
    workers: int | None = None
    threads: int | None = None
    whole_decode_seconds: float = 30.0
    vocabulary: tuple[str, ...] = ()
    pace: PaceLimits = field(init=False)

    def __post_init__(self) -> None:
        scheme, host, _ = parse_uri(self.uri)
        if scheme == "tcp" and not is_loopback(host) and not self.allow_remote:
            raise ConfigError(
                f"listening on {host!r} lets anyone who reaches it use the server (Wyoming "
                "has no authentication): pass --allow-remote, or keep tcp://127.0.0.1:PORT"
            )
        if not self.models:
            raise ConfigError("serve at least one model")
        if self.max_sessions < 1:
            raise ConfigError("max_sessions must be at least 1")
        if not (math.isfinite(self.idle_timeout) and self.idle_timeout > 0):
            raise ConfigError("idle_timeout must be a positive number of seconds")
        if not (math.isfinite(self.whole_decode_seconds) and self.whole_decode_seconds >= 0):
            raise ConfigError("whole_decode_seconds must be 0 or more seconds")
        object.__setattr__(self, "vocabulary", vocabulary_terms(self.vocabulary))
        pace = PaceLimits(
            max_ahead=self.max_ahead,
            min_rate=self.min_audio_rate,
            max_length=self.max_audio_seconds,
        )
        object.__setattr__(self, "pace", pace)


def wyoming_info(pool: ModelPool, language: str | None = None) -> Info:
    """The ``info`` event's content: one ASR program with each served model and the
    languages it decodes (only ``language`` when the server is held to one).

    Example: ``wyoming_info(pool).asr[0].models[0].languages[:3]`` -> ``['en', 'zh', 'de']``.
    """
    models = []
    for name in pool.models:
        if language is not None:
            languages = [language]
        elif pool.multilingual(name):
            languages = list(LANGUAGES)
        else:
            languages = ["en"]
        models.append(
            AsrModel(
                name=name,
                attribution=_WHISPER,
                installed=True,
                description=f"Whisper {Path(name).name} on whisper.cpp",
                version=None,
                languages=languages,
            )
        )
    program = AsrProgram(
        name="livewhisper",
        attribution=_US,
        installed=True,
        description="Streaming speech-to-text on whisper.cpp",
        version=__version__,
        models=models,
        supports_transcript_streaming=True,
    )
    return Info(asr=[program])


class WyomingServer:
    """The Wyoming server (see the module docstring).

    ``pool`` lets it share loaded workers with a caption server or tests (the caller
    then owns it); otherwise it makes and closes its own.

    Example::

        server = await WyomingServer(WyomingConfig(uri="tcp://127.0.0.1:0")).start()
        print(server.uri)                  # tcp://127.0.0.1:41234
        await server.close()
    """

    def __init__(self, config: WyomingConfig | None = None, *, pool: ModelPool | None = None):
        self.config = config = config or WyomingConfig()
        self._own_pool = pool is None
        self.pool = pool or ModelPool.for_sessions(
            config.models, config.max_sessions, config.workers, config.threads
        )
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._live: dict[asyncio.Task[None], _Connection] = {}  # those holding a session
        self.info: Info | None = None

    async def start(self) -> WyomingServer:
        """Load the models (in a thread) and start listening."""
        if self._own_pool:
            await asyncio.to_thread(self.pool.start)
        try:
            self.pool.check_language(self.config.language)
        except ConfigError:
            await self._close_pool()
            raise
        self.info = wyoming_info(self.pool, self.config.language)
        scheme, host, port = parse_uri(self.config.uri)
        try:
            if scheme == "unix":
                Path(host).unlink(missing_ok=True)
                self._server = await asyncio.start_unix_server(
                    self._accept, host, limit=MAX_HEADER + 1
                )
            else:
                self._server = await asyncio.start_server(
                    self._accept, host, port, limit=MAX_HEADER + 1
                )
        except OSError as exc:
            await self._close_pool()
            raise ConfigError(
                f"cannot listen on {self.config.uri} ({exc.strerror or exc}): choose "
                "another with --uri"
            ) from None
        log.info("Wyoming on %s", self.uri)
        return self

    @property
    def uri(self) -> str:
        """The address listened on, the real port when the config said 0."""
        scheme, host, _ = parse_uri(self.config.uri)
        if scheme == "unix" or self._server is None:
            return self.config.uri
        port = self._server.sockets[0].getsockname()[1]
        return f"tcp://{'[' + host + ']' if ':' in host else host}:{port}"

    async def close(self, timeout: float = 2.0) -> None:
        """Stop listening, tell every client ``shutting_down`` (Wyoming's error event) and
        end its connection (cut after ``timeout`` s), release the workers if ours."""
        if self._server is not None:
            self._server.close()
        stopping = ProtocolError(ErrorCode.SHUTTING_DOWN, "the server is stopping")
        for connection in list(self._live.values()):
            connection.stop(stopping)
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=timeout)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await self._close_pool()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            await self.start()
        await asyncio.Event().wait()

    async def __aenter__(self) -> WyomingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _close_pool(self) -> None:
        if self._own_pool:
            await asyncio.to_thread(self.pool.close)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self.info is not None
        busy = len(self._connections) >= self.config.max_sessions
        self._connections.add(task)
        client = peer_name(writer)
        opened = time.monotonic()
        try:
            connection = _Connection(reader, writer, self.pool, self.config, self.info, client)
            if busy:
                error = ProtocolError(
                    ErrorCode.BUSY,
                    f"{self.config.max_sessions} clients are connected, the most this server "
                    "takes: try again later",
                )
                log.info("client %s refused: %s", client, error.message)
                await connection.refuse(error)
            else:
                log.info("client %s connected", client)
                self._live[task] = connection
                await connection.run()
            if busy or connection.failed:
                self._connections.discard(task)  # a lingering client holds no session
                await _linger(reader, writer)
        except asyncio.CancelledError:
            pass  # close() ends the connection; asyncio's stream callback wants no error
        finally:
            self._live.pop(task, None)
            if not busy:
                log.info("client %s left after %.1f s", client, time.monotonic() - opened)
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


LINGER_SECONDS = 2.0
"""How long a connection ended by an error still reads, and drops, what its client sends."""


async def _linger(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float = LINGER_SECONDS
) -> None:
    """End a connection after an error the way TCP lets the client read it: half-close
    (the client reads the error event, then the end of the stream) and drop what the
    client still sends until it closes or ``seconds`` pass. Closing a socket with unread
    input resets the connection, and a client still sending audio would lose the error
    event to a ``ConnectionResetError`` or ``BrokenPipeError`` on its next write."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    with contextlib.suppress(OSError, RuntimeError, asyncio.TimeoutError):
        if writer.can_write_eof():
            writer.write_eof()
        while (left := end - loop.time()) > 0:
            if not await asyncio.wait_for(reader.read(1 << 16), left):
                return  # the client closed too


def peer_name(writer: asyncio.StreamWriter) -> str:
    """The client's address as logs show it: ``host:port`` over TCP, ``unix`` on a socket.

    Example: ``peer_name(writer)`` is ``"127.0.0.1:50212"``.
    """
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return "unix"


class _Connection:
    """One client: events in through the protocol, a dictation per audio stream, events
    out through one sender task (so frames never interleave)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pool: ModelPool,
        config: WyomingConfig,
        info: Info,
        client: str = "?",
    ) -> None:
        self.reader, self.writer = reader, writer
        self.client = client
        self.audio_seconds = 0.0  # of the current stream
        self.pool, self.config = pool, config
        self.protocol = WyomingProtocol(info)
        self.outbox: asyncio.Queue[Event | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.pace: AudioPace | None = None
        self.stream: _Stream | None = None
        self.failed = False
        self._receiver: asyncio.Task[None] | None = None

    async def refuse(self, error: ProtocolError) -> None:
        with contextlib.suppress(OSError):
            await async_write_event(error_event(error), self.writer)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_all())
        self._receiver = asyncio.create_task(self._receive())
        try:
            await self._receiver
        except asyncio.CancelledError:
            if not self.failed:
                raise  # the server is closing, not our own _fail()
        except ProtocolError as exc:
            self._fail(exc)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client left
        except Exception:
            log.exception("Wyoming connection failed")
            self._fail(ProtocolError(ErrorCode.INTERNAL, "internal server error"))
        finally:
            self._receiver.cancel()
            await self._end_stream()
            self.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, 2.0)
            sender.cancel()

    # -- events in -----------------------------------------------------------------------
    async def _receive(self) -> None:
        last_event = self.loop.time()
        while not self.failed:
            now = self.loop.time()
            pace = self.pace
            if pace is not None:
                throttle = pace.wait(now)
                if throttle > 0:  # too far ahead of real time: TCP holds the rest back
                    await asyncio.sleep(min(throttle, pace.next_check(now)))
                    last_event = self.loop.time()
                    continue
                error = pace.check(now)
                if error is not None:
                    raise error
            left = last_event + self.config.idle_timeout - now
            if left <= 0:
                raise ProtocolError(
                    ErrorCode.IDLE_TIMEOUT,
                    f"no event for {self.config.idle_timeout:g} s: the connection is closed",
                )
            timeout = min(left, pace.next_check(now)) if pace is not None else left
            try:
                event = await asyncio.wait_for(self._read_event(), timeout)
            except asyncio.TimeoutError:
                continue
            if event is None:
                return
            last_event = self.loop.time()
            for action in self.protocol.receive(event):
                await self._apply(action)

    async def _read_event(self) -> Event | None:
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise ProtocolError(ErrorCode.INVALID_JSON, "an event was cut short") from None
            return None
        except asyncio.LimitOverrunError:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE, f"an event header is over {MAX_HEADER} bytes"
            ) from None
        header = read_header(line)
        data = header.data
        if header.data_length:
            data = {**data, **read_data(await self.reader.readexactly(header.data_length))}
        payload = None
        if header.payload_length:
            payload = await self.reader.readexactly(header.payload_length)
        return Event(type=header.type, data=data, payload=payload)

    async def _apply(self, action: Any) -> None:
        if isinstance(action, Reply):
            if action.event.type == "error":  # harmless: told, and the connection goes on
                data = action.event.data or {}
                log.info("client %s: error %s: %s", self.client, data.get("code"), data.get("text"))
            self._send(action.event)
        elif isinstance(action, Begin):
            self._begin(action)
        elif isinstance(action, Samples):
            assert self.stream is not None and self.pace is not None
            self.pace.add(len(action.samples) / action.rate, self.loop.time())
            self.audio_seconds += len(action.samples) / action.rate
            self.stream.feed(action)
        elif isinstance(action, Stop):
            assert self.stream is not None
            if self.pace is not None:
                self.pace.finish()
            stream, self.stream = self.stream, None
            self.pace = None
            stopped = time.monotonic()
            if stream.audio is not None and stream.pieced:
                # The transcript would be joined from pieces: one decode of all instead.
                await stream.release()
                text, language = await self._decode_whole(stream)
            else:
                stream.dictation.finish()
                text, language = await stream.result()
                await stream.release()
                if stream.audio is not None and stream.pieces >= 2:
                    text, language = await self._decode_whole(stream)
            self._send(Transcript(text=text, language=language or None).event())
            self._send(TranscriptStop().event())
            log.info(
                "client %s: %d words from %.1f s of audio (%s, %s), %.2f s after audio-stop",
                self.client,
                len(text.split()),
                self.audio_seconds,
                stream.engine.model_name,
                language or "?",
                time.monotonic() - stopped,
            )

    def _begin(self, begin: Begin) -> None:
        try:
            engine = self.pool.engine(begin.model)
        except ConfigError as exc:
            raise ProtocolError(ErrorCode.UNKNOWN_MODEL, str(exc)) from None
        language = begin.language or self.config.language
        try:
            language = self.pool.language(language, engine.model_name)
        except DecodeOptionsError as exc:
            engine.close()
            raise ProtocolError(ErrorCode.UNSUPPORTED_LANGUAGE, str(exc)) from None
        dictation = Dictation(
            engine,
            source=PushSource(sample_rate=begin.rate),
            decode=DecodeOptions(language, vocabulary=self.config.vocabulary),
        )
        self.pace = AudioPace(self.config.pace, self.loop.time())
        self.audio_seconds = 0.0
        self.stream = _Stream(
            engine, dictation, self._send, keep_seconds=self.config.whole_decode_seconds
        )
        self._send(TranscriptStart(language=language).event())

    async def _decode_whole(self, stream: _Stream) -> tuple[str, str]:
        """The transcript and language of one file-style decode of the stream's audio;
        the words of it that no chunk has carried yet go out as one last chunk."""
        assert stream.audio is not None
        engine = self.pool.engine(stream.engine.model_name)
        try:
            result = await asyncio.to_thread(
                transcribe_file,
                stream.audio.samples(),
                engine,
                stream.decode,
                sample_rate=stream.audio.rate or SAMPLE_RATE,
            )
        finally:
            engine.close()
        piece = stream.deltas.whole(result.text)
        if piece:
            self._send(TranscriptChunk(text=piece).event())
        return result.text.strip(), result.language

    async def _end_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.release()

    # -- events out ----------------------------------------------------------------------
    def _send(self, event: Event) -> None:
        if self.outbox.qsize() >= _MAX_QUEUED:
            self._fail(ProtocolError(ErrorCode.TOO_SLOW, "the client reads too slowly"))
            return
        self.outbox.put_nowait(event)

    def stop(self, error: ProtocolError) -> None:
        """End this connection from outside (the server is closing): ``error`` goes out
        as the last event, then the connection closes as after any fatal error."""
        self._fail(error)

    def _fail(self, error: ProtocolError) -> None:
        if not self.failed:
            self.failed = True
            log.info("client %s: error %s: %s", self.client, error.code.value, error.message)
            self.outbox.put_nowait(error_event(error))
            self.outbox.put_nowait(None)
            if self._receiver is not None and self._receiver is not asyncio.current_task():
                self._receiver.cancel()  # it may be waiting for an event that never comes

    async def _send_all(self) -> None:
        while (event := await self.outbox.get()) is not None:
            try:
                await async_write_event(event, self.writer)
            except OSError:
                return


class _Stream:
    """One ``audio-start`` ... ``audio-stop``: a dictation, its events forwarded, and its
    audio kept while it is short enough to be decoded again whole."""

    def __init__(
        self, engine: PooledEngine, dictation: Dictation, send: Any, *, keep_seconds: float
    ) -> None:
        self.engine = engine
        self.dictation = dictation
        self.decode = dictation.transcriber.decode
        self.deltas = TextDeltas(separator=" ")
        self.audio: _KeptAudio | None = _KeptAudio(keep_seconds) if keep_seconds > 0 else None
        self._send = send
        self._finals: list[str] = []
        self._language = self.decode.language or ""  # until a final says what was heard
        self._pump = asyncio.create_task(self._forward())

    def feed(self, chunk: Samples) -> None:
        self.dictation.feed(chunk.samples, sample_rate=chunk.rate)
        if self.audio is not None and not self.audio.add(chunk):
            self.audio = None  # too long: the live finals make the transcript

    async def _forward(self) -> None:
        deltas = self.deltas
        async for event in self.dictation:
            if isinstance(event, Partial):
                piece = deltas.partial(event.stable)
            elif isinstance(event, Final):
                piece = deltas.final(event.text)
                if event.text.strip():
                    self._finals.append(event.text.strip())
                self._language = event.language or self._language
            else:
                continue
            if piece:
                self._send(TranscriptChunk(text=piece).event())

    @property
    def pieces(self) -> int:
        """How many finals the live transcript has been joined from so far."""
        return len(self._finals)

    @property
    def pieced(self) -> bool:
        """Whether the live transcript is, or is likely to be, joined from several finals:
        the VAD heard more than one utterance, or speech past the one final so far, or,
        with no final yet, speech going on long enough for a commit
        (:attr:`~livewhisper.gate.StreamConfig.commit_after`)."""
        now = self.dictation.progress
        if now.utterances >= 2:
            return True
        if self.pieces == 0:
            return now.speech_until > self.dictation.stream_config.commit_after
        return now.finals_pending or now.speech_until > now.final_until + _FINAL_END_SLACK

    async def result(self) -> tuple[str, str]:
        """The whole transcript and its language, once every final is in."""
        await self._pump
        return " ".join(self._finals), self._language

    async def release(self) -> None:
        self.engine.close()
        if not self._pump.done():
            self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump
        await asyncio.to_thread(self.dictation.stop, 2.0)


class _KeptAudio:
    """The audio of one stream, mono float32 at its rate, up to ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.rate = 0
        self._blocks: list[AudioArray] = []
        self._seconds = 0.0

    def add(self, chunk: Samples) -> bool:
        """Keep ``chunk``; False (and nothing kept) once the stream is over the limit or
        changes its rate."""
        self._seconds += len(chunk.samples) / chunk.rate
        if self._seconds > self.limit or self.rate not in (0, chunk.rate):
            self._blocks.clear()
            return False
        self.rate = chunk.rate
        self._blocks.append(to_mono_float32(chunk.samples))
        return True

    def samples(self) -> AudioArray:
        """Shape ``(n,)`` float32 samples at :attr:`rate` Hz."""
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)
