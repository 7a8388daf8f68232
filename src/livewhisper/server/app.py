"""The caption server: one port for the page, audio sessions, caption feeds and health.

Routes (all ``GET``):

* ``/``: the caption page, with its files under ``/static/``.
* ``/healthz``: ``{"status": "ok", ...}`` with session, listener and worker counts.
* ``/v1/info``: the models, default language and limits, for clients and the page.
* ``/v1/listen`` (WebSocket): an audio session, protocol 1 (``docs/protocol.md``).
* ``/v1/captions`` (WebSocket): the events of the microphone session and of every
  session that asked to be shared, each with its ``session`` id.

HTTP is answered in websockets' ``process_request`` hook, which also checks the
``Host`` and ``Origin`` headers and the token before any WebSocket is accepted.
File uploads (``POST``) have a port of their own, ``--http-port``: websockets cannot take
request bodies (:mod:`~livewhisper.server.httpapi` says why); the server starts both.

Example::

    async with CaptionServer(ServerConfig(port=0)) as server:
        print("open", server.url)
        await server.serve_forever()
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import importlib.resources
import json
import logging
import secrets
import threading
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from livewhisper import __version__
from livewhisper.audio.sources import Microphone
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, LiveWhisperError
from livewhisper.events import Event
from livewhisper.server.access import authorized, host_allowed, origin_allowed
from livewhisper.server.catalog import ModelCatalog, find_benchmarks, read_speeds
from livewhisper.server.config import ServerConfig
from livewhisper.server.httpapi import TranscriptionApi
from livewhisper.server.jobs import JobRegistry
from livewhisper.server.pool import ModelPool, default_workers
from livewhisper.server.protocol import (
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
from livewhisper.server.sessions import (
    CaptionHub,
    ListenSession,
    Outbox,
    SessionSettings,
    close_soon,
    deliver,
)

__all__ = ["MIC_SESSION", "CaptionServer", "ServerThread"]

log = logging.getLogger("livewhisper.server")

MIC_SESSION = "mic"
"""The ``session`` of the server's own microphone on ``/v1/captions``."""

# websockets refuses bigger frames outright (close 1009, no error message); below this,
# frames over the protocol's 1 s limit get a proper frame_too_large error first.
_HARD_MAX_FRAME = 2 * int(MAX_SAMPLE_RATE * MAX_FRAME_SECONDS) * Encoding.PCM_F32LE.sample_bytes

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/worklet.js": ("worklet.js", "text/javascript; charset=utf-8"),
    "/static/files.js": ("files.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
_PAGE_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:{api}; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class CaptionServer:
    """The live caption server (see the module docstring for its routes).

    :meth:`start` loads the models (in a thread: it may take a while the first time),
    opens the microphone session if asked, and listens; :meth:`close` stops everything.
    ``pool`` lets several servers or tests share loaded workers (the caller then owns it).

    Example::

        server = CaptionServer(ServerConfig(port=0, max_sessions=2))
        await server.start()
        print(server.url, server.port)
        await server.close()
    """

    def __init__(self, config: ServerConfig | None = None, *, pool: ModelPool | None = None):
        self.config = config or ServerConfig()
        if pool is None:
            workers, threads = default_workers(self.config.max_sessions)
            pool = ModelPool(
                self.config.models,
                workers=self.config.workers or workers,
                threads=self.config.threads or threads,
            )
            self._own_pool = True
        else:
            self._own_pool = False
        self.pool = pool
        self.hub = CaptionHub(self.config.max_listeners, self.config.max_queued_finals)
        self._settings = SessionSettings(
            pool,
            self.hub,
            self.config.language,
            self.config.idle_timeout,
            self.config.max_queued_finals,
        )
        self._server: Server | None = None
        self._sessions = 0
        # Every open connection's outbox, to say goodbye at shutdown.
        self._outboxes: set[Outbox] = set()
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        self._mic: Dictation | None = None
        self._closing = False
        self.catalog = ModelCatalog(pool)
        self.jobs: JobRegistry | None = None
        self.api: TranscriptionApi | None = None
        self._static = {path: (_read_static(name), kind) for path, (name, kind) in _STATIC.items()}

    # -- life cycle ------------------------------------------------------------------
    async def start(self) -> CaptionServer:
        """Load the models, open the microphone if configured, and start listening."""
        if self._own_pool:
            await asyncio.to_thread(self.pool.start)
        self._check_language()
        try:
            if self.config.mic:
                await self._start_mic()
            self._server = await serve(
                self._handle,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                max_size=_HARD_MAX_FRAME,
                compression=None,  # PCM does not compress, and deflate costs memory per peer
                server_header=f"livewhisper/{__version__}",
                close_timeout=2,
            )
            await self._start_api()
        except BaseException:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            await self._stop_resources()
            raise
        log.info("serving on %s", self.url)
        return self

    async def close(self, timeout: float = 3.0) -> None:
        """Tell every connection ``shutting_down`` and close it (1001), stop the microphone,
        release the workers. Connections still open after ``timeout`` s are cut."""
        self._closing = True  # from now on new connections get 503
        if self._server is not None:
            goodbye = encode(ErrorMessage(ErrorCode.SHUTTING_DOWN.value, "the server is stopping"))
            for outbox in self._outboxes:
                outbox.put(goodbye)
                outbox.close(CloseCode.GOING_AWAY, ErrorCode.SHUTTING_DOWN.value)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._no_connections.wait(), timeout)
            self._server.close()
            await self._server.wait_closed()
        await self._stop_resources()

    async def _start_api(self) -> None:
        self.catalog.speeds = await asyncio.to_thread(
            read_speeds, find_benchmarks(), threads=self.pool.threads
        )
        self.jobs = JobRegistry(
            self.pool,
            max_running=self.config.max_jobs,
            max_waiting=self.config.max_waiting_jobs,
            max_seconds=self.config.max_upload_seconds,
        )
        self.api = TranscriptionApi(self.config, self.catalog, self.jobs, page_port=self.port)
        await self.api.start()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> CaptionServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The port listened on (the real one when the config said 0)."""
        if self._server is None:
            return self.config.port
        for sock in self._server.sockets:
            port: int = sock.getsockname()[1]
            return port
        return self.config.port

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
    def api_port(self) -> int:
        """The file API's port (the real one when the config said 0)."""
        return self.api.port if self.api is not None else self.config.api_port

    @property
    def api_url(self) -> str:
        """The file API's base address, e.g. ``http://127.0.0.1:8766/v1``: an OpenAI
        client's ``base_url``."""
        base = self.url.rstrip("/").rsplit(":", 1)[0]
        return f"{base}:{self.api_port}/v1"

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
            "sessions": self._sessions,
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
            "mic": self.config.mic,
            "transcriptions": {
                "port": self.api_port,
                "max_upload_bytes": self.config.max_upload_bytes,
                "max_upload_seconds": self.config.max_upload_seconds,
                "models": [entry.to_dict() for entry in self.catalog.entries()],
            },
        }

    # -- HTTP ----------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if self._closing:
            return _text(503, "the server is stopping")
        if not host_allowed(self.config, request.headers.get("Host")):
            # A page from another site that resolved its own name to 127.0.0.1 (DNS
            # rebinding) would pass the Origin check; the Host header gives it away.
            return _text(403, "unexpected Host header: use http://127.0.0.1:PORT/")
        static = self._static.get(url.path)
        if static is not None:
            body, kind = static
            response = _response(200, body, kind)
            if kind.startswith("text/html"):
                response.headers["Content-Security-Policy"] = self._page_policy(request.headers)
            return response
        if url.path == "/healthz":
            return _json(200, self.health())
        websocket = url.path in ("/v1/listen", "/v1/captions")
        if websocket or url.path == "/v1/info":
            if websocket and not origin_allowed(self.config, request.headers):
                return _text(403, "this Origin may not connect: see serve --allow-origin")
            if not authorized(self.config, request.headers, url.query):
                response = _text(401, "a valid token is required (?token= or Authorization)")
                response.headers["WWW-Authenticate"] = 'Bearer realm="livewhisper"'
                return response
            return None if websocket else _json(200, self.info())
        return _text(404, f"no such page: {url.path}")

    def _page_policy(self, headers: Headers) -> str:
        # The file view posts to the API's port: another origin, allowed by name. A host
        # source without a scheme takes the page's own (http, or https behind a proxy).
        host = urlsplit(f"//{headers.get('Host', '')}").hostname or ""
        if not host or not all(c.isalnum() or c in ".-:" for c in host):
            return _PAGE_POLICY.format(api="")
        if ":" in host:
            host = f"[{host}]"
        return _PAGE_POLICY.format(api=f" {host}:{self.api_port}")

    # -- WebSocket -------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        path = urlsplit(connection.request.path).path
        if path == "/v1/listen":
            await self._listen(connection)
        elif path == "/v1/captions":
            await self._captions(connection)

    async def _listen(self, connection: ServerConnection) -> None:
        if self._sessions >= self.config.max_sessions:
            await _refuse(
                connection,
                ErrorCode.BUSY,
                f"{self.config.max_sessions} sessions are running, the most this server "
                "takes: try again later",
            )
            return
        self._sessions += 1
        session_id = secrets.token_hex(4)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._sessions -= 1

        log.info("session %s opened", session_id)
        session = ListenSession(connection, session_id, self._settings, release)
        self._track(session.outbox)
        try:
            await session.run()
        finally:
            release()
            self._untrack(session.outbox)
            log.info("session %s closed", session_id)

    async def _captions(self, connection: ServerConnection) -> None:
        outbox = self.hub.subscribe(connection)
        if outbox is None:
            await _refuse(connection, ErrorCode.BUSY, f"{self.hub.max_listeners} listeners already")
            return
        sender = asyncio.create_task(deliver(connection, outbox))
        self._track(outbox)
        try:
            # Listeners have nothing to say; reading keeps the close handshake working.
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass
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
    async def _start_mic(self) -> None:
        loop = asyncio.get_running_loop()

        def publish(event: Event) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is gone
                loop.call_soon_threadsafe(self.hub.publish, MIC_SESSION, event)

        def failed(exc: BaseException) -> None:
            log.error("microphone session: %s", exc)

        language = self.config.language
        if not self.pool.multilingual():
            language = "en"
        dictation = Dictation(
            self.pool.engine(),
            source=Microphone(self.config.mic_device),
            decode=DecodeOptions(language=language),
            on_partial=publish,
            on_final=publish,
            on_error=failed,
        )
        await asyncio.to_thread(dictation.start)  # opening a device can take a second
        self._mic = dictation

    async def _stop_resources(self) -> None:
        api, self.api = self.api, None
        if api is not None:
            await api.close()
        jobs, self.jobs = self.jobs, None
        if jobs is not None:
            await jobs.close()
        mic, self._mic = self._mic, None
        if mic is not None:
            await asyncio.to_thread(mic.stop, 2.0)
        if self._own_pool:
            await asyncio.to_thread(self.pool.close)

    def _check_language(self) -> None:
        language = DecodeOptions(language=self.config.language).language
        if language not in (None, "en") and not self.pool.multilingual():
            raise ConfigError(
                f"{self.pool.default_model} is an English-only model: it cannot decode "
                f"{language!r}; pass a multilingual --model such as base-q8_0"
            )


async def _refuse(connection: ServerConnection, code: ErrorCode, message: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(encode(ErrorMessage(code.value, message)))
    await close_soon(connection, code.close_code or CloseCode.POLICY_VIOLATION, code.value)


def _read_static(name: str) -> bytes:
    return importlib.resources.files("livewhisper.server").joinpath("static", name).read_bytes()


def _response(status: int, body: bytes, kind: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),  # a ?token= must not leak in a Referer
            ("Connection", "close"),
        ]
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def _text(status: int, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def _json(status: int, doc: dict[str, Any]) -> Response:
    return _response(status, json.dumps(doc).encode(), "application/json")


class ServerThread:
    """A :class:`CaptionServer` on its own event loop in a background thread.

    For programs that are not asyncio (and for tests): :meth:`start` returns once the
    server listens, or raises its startup error; :meth:`stop` shuts it down.

    Example::

        with ServerThread(ServerConfig(port=0)) as server:
            print("captions at", server.url)
            input("Enter stops the server\\n")
    """

    def __init__(self, config: ServerConfig | None = None, *, pool: ModelPool | None = None):
        self.server = CaptionServer(config, pool=pool)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="livewhisper-server", daemon=True)
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
        """The file API's base address (``http://127.0.0.1:PORT/v1``)."""
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

    def _run(self) -> None:
        asyncio.run(self._main())

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
