"""The caption server: one port, one ASGI application, served by uvicorn.

:class:`CaptionServer` owns what the routes share (the model pool, the caption hub, the
file jobs, the microphone session) and serves :func:`~livewhisper.server.web.create_app`
with uvicorn on ``config.port``; :class:`ServerThread` runs it on a thread of its own.

Example::

    async with CaptionServer(ServerConfig(port=0)) as server:
        print("open", server.url, "or point an OpenAI client at", server.api_url)
        await server.serve_forever()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn
from uvicorn.lifespan.off import LifespanOff

from livewhisper import __version__
from livewhisper.audio.sources import Microphone
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, LiveWhisperError
from livewhisper.protocol import (
    MAX_FRAME_SECONDS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    PROTOCOL_VERSION,
    CloseCode,
    Encoding,
    ErrorCode,
    ErrorMessage,
    encode,
)
from livewhisper.server.catalog import ModelCatalog
from livewhisper.server.config import ServerConfig
from livewhisper.server.jobs import JobRegistry
from livewhisper.server.pool import ModelPool
from livewhisper.server.realtime_session import RealtimeSession
from livewhisper.server.realtime_session import refuse as realtime_refuse
from livewhisper.server.sessions import (
    CaptionHub,
    Connection,
    Disconnected,
    ListenSession,
    LiveSession,
    Outbox,
    SessionSettings,
    close_soon,
    deliver,
    on_loop,
)
from livewhisper.server.uploads import layout_defaults
from livewhisper.server.web import create_app
from livewhisper.server.wsguard import guarded_protocol

__all__ = ["MIC_SESSION", "CaptionServer", "ServerThread"]

log = logging.getLogger("livewhisper.server")

MIC_SESSION = "mic"
"""The ``session`` of the server's own microphone on ``/v1/captions``."""

# Bigger frames are refused by the WebSocket layer (close 1009, no error message); below
# this, frames over the protocol's 1 s limit get a proper frame_too_large error first.
_HARD_MAX_FRAME = 2 * int(MAX_SAMPLE_RATE * MAX_FRAME_SECONDS) * Encoding.PCM_F32LE.sample_bytes
# Connections beyond the sessions and listeners: page loads, uploads, health checks.
_SPARE_CONNECTIONS = 64


class CaptionServer:
    """The live caption server (routes: :mod:`~livewhisper.server.web`).

    :meth:`start` loads the models, opens the microphone session if asked, and listens;
    :meth:`close` stops everything. ``pool`` lets several servers or tests share loaded
    workers (the caller then owns it). Raises :class:`ConfigError` for a port in use.

    Example::

        server = CaptionServer(ServerConfig(port=0, max_sessions=2))
        await server.start()
        print(server.url, server.port)
        await server.close()
    """

    def __init__(self, config: ServerConfig | None = None, *, pool: ModelPool | None = None):
        self.config = config = config or ServerConfig()
        self._own_pool = pool is None
        self.pool = pool or ModelPool.for_sessions(
            config.models, config.max_sessions, config.workers, config.threads
        )
        self.hub = CaptionHub(self.config.max_listeners, self.config.max_queued_finals)
        self._settings = SessionSettings(self.pool, self.hub, config)
        self._uvicorn: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sessions: dict[str, str] = {}  # the client address of each session id
        # Every open connection's outbox, to say goodbye at shutdown.
        self._outboxes: set[Outbox] = set()
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        self._mic: Dictation | None = None
        self.closing = False
        """True from :meth:`close` on: new requests then get 503."""
        self.catalog = ModelCatalog(self.pool)
        self.jobs: JobRegistry | None = None

    # -- life cycle ------------------------------------------------------------------
    async def start(self) -> CaptionServer:
        """Load the models, open the microphone if configured, and start listening."""
        if self._own_pool:
            await asyncio.to_thread(self.pool.start)
        try:
            language = self.pool.check_language(self.config.language)
            if self.config.mic:
                await self._start_mic(language)
            self.jobs = JobRegistry(self.pool, self.config)
            self.catalog.speeds = self.jobs.speeds
            self._socket = _bind(self.config.host, self.config.port)
            config = uvicorn.Config(
                create_app(self),
                # websockets-sansio, bounded: ping floods, unread output, endless closes.
                ws=guarded_protocol(
                    max_output_bytes=self.config.max_output_bytes,
                    max_pings_per_second=self.config.max_pings_per_second,
                ),
                ws_max_size=_HARD_MAX_FRAME,
                ws_per_message_deflate=False,  # PCM does not compress; deflate costs memory
                lifespan="off",
                log_config=None,  # the application's logging is its own business
                access_log=True,  # uvicorn.access, at INFO: shown if logging asks for it
                server_header=False,
                headers=[("server", f"livewhisper/{__version__}")],
                limit_concurrency=self.config.max_sessions
                + self.config.max_listeners
                + _SPARE_CONNECTIONS,
                timeout_graceful_shutdown=2,
            )
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = LifespanOff(config)
            await server.startup(sockets=[self._socket])
            self._uvicorn = server
            # uvicorn's loop refreshes the Date header each second and little else.
            self._ticker = asyncio.create_task(server.main_loop())
        except BaseException:
            await self._stop_resources()
            raise
        log.info("serving on %s", self.url)
        return self

    async def close(self, timeout: float = 3.0) -> None:
        """Tell every connection ``shutting_down`` and close it (1001), stop the microphone
        and the file jobs, release the workers; connections open after ``timeout`` s are cut."""
        self.closing = True  # from now on new requests get 503
        goodbye = encode(ErrorMessage(ErrorCode.SHUTTING_DOWN.value, "the server is stopping"))
        for outbox in self._outboxes:
            outbox.put(goodbye)
            outbox.close(CloseCode.GOING_AWAY, ErrorCode.SHUTTING_DOWN.value)
        if self.jobs is not None:
            await self.jobs.close()  # a stream then ends with its cancelled event
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._no_connections.wait(), timeout)
        await self._stop_resources()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._uvicorn is None:
            await self.start()
        await asyncio.Event().wait()

    async def __aenter__(self) -> CaptionServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The port listened on (the real one when the config said 0)."""
        return self.config.port if self._socket is None else int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The caption page's address, e.g. ``http://127.0.0.1:8765/``."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        """The WebSocket base address, e.g. ``ws://127.0.0.1:8765``."""
        return "ws" + self.url[4:].rstrip("/")

    @property
    def api_url(self) -> str:
        """OpenAI's API on this server, e.g. ``http://127.0.0.1:8765/v1``: an OpenAI
        client's ``base_url``."""
        return self.url + "v1"

    @property
    def microphone(self) -> Dictation | None:
        """The dictation of the server's own microphone (``--mic``), once started."""
        return self._mic

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` document."""
        stats = self.pool.stats
        return {
            "status": "ok",
            "protocol": PROTOCOL_VERSION,
            "sessions": len(self._sessions),
            "max_sessions": self.config.max_sessions,
            "listeners": len(self.hub),
            "mic": self._mic is not None,
            "workers": stats.workers,
            "busy_workers": stats.busy,
            "waiting_decodes": stats.waiting,
            "jobs": self.jobs.running if self.jobs is not None else 0,
            "waiting_jobs": self.jobs.waiting if self.jobs is not None else 0,
        }

    def info(self) -> dict[str, Any]:
        """The ``/v1/info`` document: what a client may ask for."""
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "models": [
                {"name": name, "multilingual": self.pool.multilingual(name)}
                for name in self.pool.models
            ],
            "default_model": self.pool.default_model,
            "language": self.config.language,
            "encodings": [e.value for e in Encoding],
            "sample_rates": [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE],
            "max_frame_seconds": MAX_FRAME_SECONDS,
            "max_sessions": self.config.max_sessions,
            "limits": {
                "max_sessions_per_client": self.config.sessions_per_client,
                "max_ahead": self.config.max_ahead,
                "min_audio_rate": self.config.min_audio_rate,
                "max_session_seconds": self.config.max_session_seconds,
                "max_uploads_per_client": self.config.max_uploads_per_client,
            },
            "mic": self.config.mic,
            "transcriptions": {
                "max_upload_bytes": self.config.max_upload_bytes,
                "max_upload_seconds": self.config.max_upload_seconds,
                "models": [entry.to_dict() for entry in self.catalog.entries()],
                "subtitles": layout_defaults(),
            },
        }

    # -- protocol 1 ------------------------------------------------------------------
    async def listen(
        self,
        connection: Connection,
        client: str = "",
        *,
        realtime: bool = False,
        beta: bool = False,
    ) -> None:
        """Serve one accepted ``/v1/listen`` connection from address ``client`` until it
        ends; its place is free again the moment the connection is closed. ``realtime``:
        a ``/v1/realtime`` connection (OpenAI's Realtime transcription, ``beta`` names)
        under the same limits."""
        per_client, busy = self.config.sessions_per_client, ""
        if len(self._sessions) >= self.config.max_sessions:
            busy = (
                f"{self.config.max_sessions} sessions are running, the most this server "
                "takes: try again later"
            )
        elif list(self._sessions.values()).count(client) >= per_client:
            busy = (
                f"this address has {per_client} sessions running, the most one client may "
                "hold: end one first"
            )
        kind = "realtime" if realtime else "listen"
        if busy:
            log.info("%s session from %s refused: busy: %s", kind, client or "?", busy)
            await (realtime_refuse if realtime else _refuse)(connection, ErrorCode.BUSY, busy)
            return
        session_id = secrets.token_hex(4)
        self._sessions[session_id] = client
        release = functools.partial(self._sessions.pop, session_id, None)  # idempotent
        opened = time.monotonic()
        log.info("%s session %s opened by %s", kind, session_id, client or "?")
        session: LiveSession
        if realtime:
            session = RealtimeSession(connection, session_id, self._settings, release, beta=beta)
        else:
            session = ListenSession(connection, session_id, self._settings, release)
        self._track(session.outbox)
        try:
            await session.run()
        finally:
            release()
            self._untrack(session.outbox)
            took = time.monotonic() - opened
            log.info("%s session %s closed after %.1f s", kind, session_id, took)

    async def captions(self, connection: Connection) -> None:
        """Serve one accepted ``/v1/captions`` connection until it ends."""
        outbox = self.hub.subscribe(connection)
        if outbox is None:
            await _refuse(connection, ErrorCode.BUSY, f"{self.hub.max_listeners} listeners already")
            return
        sender = asyncio.create_task(deliver(connection, outbox))
        self._track(outbox)
        try:
            # Listeners have nothing to say; reading keeps the close handshake working.
            with contextlib.suppress(Disconnected):
                while True:
                    await connection.recv()
        finally:
            self._untrack(outbox)
            self.hub.unsubscribe(outbox)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    def _track(self, outbox: Outbox) -> None:
        self._outboxes.add(outbox)
        self._no_connections.clear()

    def _untrack(self, outbox: Outbox) -> None:
        self._outboxes.discard(outbox)
        if not self._outboxes:
            self._no_connections.set()

    # -- the microphone --------------------------------------------------------------
    async def _start_mic(self, language: str | None) -> None:
        loop = asyncio.get_running_loop()
        publish = on_loop(loop, functools.partial(self.hub.publish, MIC_SESSION))
        dictation = Dictation(
            self.pool.engine(),
            source=Microphone(self.config.mic_device),
            decode=DecodeOptions(language=language, vocabulary=self.config.vocabulary),
            on_partial=publish,
            on_final=publish,
            on_error=functools.partial(log.error, "microphone session: %s"),
        )
        await asyncio.to_thread(dictation.start)  # opening a device can take a second
        self._mic = dictation

    async def _stop_resources(self) -> None:
        server, self._uvicorn = self._uvicorn, None
        if server is not None:
            server.should_exit = True
            if self._ticker is not None:
                await self._ticker
            await server.shutdown(sockets=[self._socket] if self._socket else None)
        elif self._socket is not None:
            self._socket.close()
        jobs, self.jobs = self.jobs, None
        if jobs is not None:
            await jobs.close()
        mic, self._mic = self._mic, None
        if mic is not None:
            await asyncio.to_thread(mic.stop, 2.0)
        if self._own_pool:
            await asyncio.to_thread(self.pool.close)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`ConfigError` if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on port {port} ({exc.strerror or exc}): choose another with --port"
        ) from None
    sock.setblocking(False)
    return sock


async def _refuse(connection: Connection, code: ErrorCode, message: str) -> None:
    with contextlib.suppress(Disconnected):
        await connection.send(encode(ErrorMessage(code.value, message)))
    await close_soon(connection, code.close_code or CloseCode.POLICY_VIOLATION, code.value)


class ServerThread:
    """A :class:`CaptionServer` on its own event loop in a background thread, for programs
    that are not asyncio: :meth:`start` returns once it listens, or raises its startup
    error; :meth:`stop` shuts it down.

    Example::

        with ServerThread(ServerConfig(port=0)) as server:
            print("captions at", server.url)
            input("Enter stops the server\\n")
    """

    def __init__(self, config: ServerConfig | None = None, *, pool: ModelPool | None = None):
        self.server = CaptionServer(config, pool=pool)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="livewhisper-server", daemon=True
        )
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The caption page's address."""
        return self.server.url

    @property
    def ws_url(self) -> str:
        """The WebSocket base address (``ws://127.0.0.1:PORT``)."""
        return self.server.ws_url

    @property
    def api_url(self) -> str:
        """OpenAI's API on this server (``http://127.0.0.1:PORT/v1``)."""
        return self.server.api_url

    def start(self, timeout: float = 600.0) -> ServerThread:
        """Start the thread and wait until the server listens; re-raise a startup error."""
        self._thread.start()
        if not self._started.wait(timeout):
            raise LiveWhisperError(f"the caption server did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, function: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 30.0) -> Any:
        """Run a coroutine function on the server's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(function(), self._loop).result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server down and wait for the thread (at most ``timeout`` s)."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()
