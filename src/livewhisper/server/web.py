"""The web layer: one Starlette application for every route of ``livewhisper serve``.

Routes (``docs/protocol.md``), all on one port behind
:class:`~livewhisper.server.access.AccessControl`:

* ``GET /`` (the caption page), ``/static/...``, ``/favicon.ico``; ``GET /healthz``.
* ``GET /v1/info``: the models, default language and limits, for clients and the page.
* ``/v1/listen`` and ``/v1/captions`` (WebSocket): protocol 1, audio in, captions out.
* ``/v1/realtime`` (WebSocket): OpenAI's Realtime transcription sessions
  (:mod:`~livewhisper.server.realtime`).
* ``GET /v1/models`` and ``POST /v1/audio/transcriptions`` (``/translations``):
  OpenAI's API, so OpenAI clients work against it; with ``stream=true`` the answer is a
  stream of server-sent events: progress, each segment as it is decoded, and the
  finished transcript (the page's file view uses it).

Uploads are parsed by python-multipart through Starlette (spooled to disk past 1 MB),
held to the size limit while they stream in, and timed out when they stop arriving.
:data:`ERRORS` maps the domain's errors to HTTP statuses and OpenAI's error bodies.

Example::

    app = create_app(caption_server)        # an ASGI application, for uvicorn
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive
from starlette.websockets import WebSocket, WebSocketDisconnect

from livewhisper.errors import (
    AudioError,
    DecodeCancelled,
    DecodeOptionsError,
    LiveWhisperError,
    ModelNotFoundError,
    UnknownModelError,
)
from livewhisper.events import Segment, Transcription
from livewhisper.formats import to_json, to_srt, to_txt, to_vtt
from livewhisper.guards import compression_ratio
from livewhisper.languages import LANGUAGES
from livewhisper.server.access import AccessControl, error_body, error_response
from livewhisper.server.catalog import OPENAI_MODELS
from livewhisper.server.errors import (
    Busy,
    InvalidRequest,
    ShuttingDown,
)
from livewhisper.server.jobs import Job
from livewhisper.server.sessions import Disconnected
from livewhisper.server.uploads import (
    TranscriptionRequest,
    form_value,
    probe_audio,
    transcription_request,
)
from livewhisper.server.wsguard import PROTOCOL_KEY

if TYPE_CHECKING:
    from livewhisper.server.app import CaptionServer
    from livewhisper.server.config import ServerConfig

__all__ = ["ERRORS", "create_app", "render", "verbose_json"]

FORM_OVERHEAD = 1024 * 1024
"""Bytes a form may hold beside its file: the multipart framing and the text fields."""

_MAX_FIELD_BYTES = 64 * 1024  # a long prompt fits many times over
_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "files.js": "text/javascript; charset=utf-8",
    "worklet.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_PAGE_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

ERRORS: tuple[tuple[type[LiveWhisperError], int, str, str, str | None], ...] = (
    (InvalidRequest, 400, "invalid_request_error", "invalid_value", None),
    (UnknownModelError, 400, "invalid_request_error", "model_not_found", "model"),
    (ModelNotFoundError, 400, "invalid_request_error", "model_not_found", "model"),
    (AudioError, 400, "invalid_request_error", "invalid_file", "file"),
    (DecodeOptionsError, 400, "invalid_request_error", "unsupported_language", "language"),
    (Busy, 429, "rate_limit_error", "busy", None),
    (ShuttingDown, 503, "server_error", "shutting_down", None),
    (DecodeCancelled, 499, "invalid_request_error", "cancelled", None),
    (LiveWhisperError, 500, "server_error", "transcription_failed", None),
)
"""Domain error -> HTTP status, OpenAI error type, code and param (the first row whose
class matches wins; an :class:`InvalidRequest` names its own code and param, and a few
of its reasons have a status of their own: :data:`REASON_STATUS`)."""

REASON_STATUS = {"file_too_large": 413, "timeout": 408, "unsupported_media_type": 415}
"""The :class:`InvalidRequest` reasons answered with another status than 400."""


def error_answer(exc: LiveWhisperError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI error body for a domain error, by :data:`ERRORS`.

    Example: ``error_answer(Busy("try later"))[0]`` is 429.
    """
    for kind, status, error_type, code, param in ERRORS:
        if isinstance(exc, kind):
            if isinstance(exc, InvalidRequest):
                code, param = exc.reason, exc.field or param
                status = REASON_STATUS.get(code, status)
            return status, error_body(str(exc), code, error_type, param)
    raise AssertionError("LiveWhisperError is the table's last row")


def create_app(server: CaptionServer) -> ASGIApp:
    """The ASGI application of ``server``: every route, behind the access rules.

    Example: ``uvicorn.Config(create_app(server), ws="websockets-sansio")``.
    """
    web = _Routes(server)
    transcribe = functools.partial(web.transcribe, translate=False)
    translate = functools.partial(web.transcribe, translate=True)
    app = Starlette(
        routes=[
            Route("/", web.page),
            Route("/index.html", web.page),
            Route("/favicon.ico", web.static),
            Route("/static/{name}", web.static),
            Route("/healthz", lambda _: JSONResponse(server.health())),
            Route("/v1/info", lambda _: JSONResponse(server.info())),
            Route("/v1/models", web.models),
            Route("/v1/audio/transcriptions", transcribe, methods=["POST"]),
            Route("/v1/audio/translations", translate, methods=["POST"]),
            WebSocketRoute("/v1/listen", web.listen),
            WebSocketRoute("/v1/captions", web.captions),
            WebSocketRoute("/v1/realtime", web.realtime),
            Route("/v1/realtime", _upgrade_required),
            Route("/v1/listen", _upgrade_required),
            Route("/v1/captions", _upgrade_required),
        ],
        exception_handlers={HTTPException: _http_error, LiveWhisperError: _domain_error},
    )
    return AccessControl(app, server.config, closing=lambda: server.closing)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    message = exc.detail if exc.status_code != 404 else "no such route"
    return error_response(exc.status_code, message, code, headers=exc.headers)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiveWhisperError)
    status, body = error_answer(exc)
    return JSONResponse(body, status)


async def _upgrade_required(_: Request) -> Response:
    return error_response(
        426, "a WebSocket route: connect with a WebSocket client", "upgrade_required",
        headers={"Upgrade": "websocket"},
    )  # fmt: skip


class _Routes:
    """The endpoints, with the server whose state they show."""

    def __init__(self, server: CaptionServer) -> None:
        self.server = server
        static = importlib.resources.files("livewhisper.server") / "static"
        self.files = {name: (static / name).read_bytes() for name in (*_STATIC, "index.html")}

    # -- the page ------------------------------------------------------------------------
    async def page(self, _: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": _PAGE_POLICY}
        return Response(self.files["index.html"], media_type="text/html", headers=headers)

    async def static(self, request: Request) -> Response:
        name = request.path_params.get("name", "favicon.svg")  # /favicon.ico has none
        if name not in _STATIC:
            raise HTTPException(404)
        return Response(
            self.files[name], media_type=_STATIC[name], headers={"Cache-Control": "no-cache"}
        )

    # -- protocol 1 ------------------------------------------------------------------------
    async def listen(self, websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else ""
        await self.server.listen(_Socket(websocket), client)

    async def captions(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await self.server.captions(_Socket(websocket))

    # -- OpenAI's Realtime transcription sessions -------------------------------------------
    async def realtime(self, websocket: WebSocket) -> None:
        # Browsers offer the "realtime" subprotocol (and the key in another); echo it.
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept("realtime" if "realtime" in offered else None)
        client = websocket.client.host if websocket.client else ""
        beta = websocket.query_params.get("intent") == "transcription"
        await self.server.listen(_Socket(websocket), client, realtime=True, beta=beta)

    # -- OpenAI's API ----------------------------------------------------------------------
    async def models(self, _: Request) -> Response:
        models = [(e.name, e.to_dict()) for e in self.server.catalog.entries()]
        models += [(alias, {"alias_of": self.server.pool.default_model}) for alias in OPENAI_MODELS]
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "livewhisper", **about}
            for name, about in models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def transcribe(self, request: Request, *, translate: bool) -> Response:
        server, config = self.server, self.server.config
        jobs = server.jobs
        client = request.client.host if request.client else ""
        if jobs is None:
            raise ShuttingDown("the server is stopping")
        jobs.check_room(client)  # said before the upload is read, not after
        form = await self.read_form(request)
        try:
            entry = server.catalog.find(form_value(form, "model"))
            job_request = transcription_request(
                form,
                model=entry.name,
                multilingual=entry.multilingual,
                translate=translate,
                default_language=config.language,
                default_vocabulary=config.vocabulary,
                remedy=server.pool.multilingual_remedy(),
            )
            duration = await asyncio.to_thread(
                probe_audio, job_request.file, config.max_upload_seconds
            )
            job = jobs.submit(job_request, duration, client)
        except BaseException:
            await form.close()
            raise
        # The body is read: the next message is the client leaving. Then cancel the job.
        watcher = asyncio.create_task(_cancel_on_disconnect(request.receive, job))
        if job_request.stream:
            headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
            return StreamingResponse(
                _events(job, watcher), media_type="text/event-stream", headers=headers
            )
        try:
            result = await job.wait()
        finally:
            watcher.cancel()
        body, kind = render(result, job.request)
        return Response(body, media_type=kind, headers={"Cache-Control": "no-store"})

    async def read_form(self, request: Request) -> FormData:
        """The form of an upload, read within the limits; its file is the caller's."""
        config = self.server.config
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise InvalidRequest(
                "send the file as multipart/form-data (a form with a 'file' field), not "
                f"{request.headers.get('content-type') or 'no Content-Type'}",
                reason="unsupported_media_type",
            )
        limit = config.max_upload_bytes + FORM_OVERHEAD
        too_large = InvalidRequest(
            f"the file is larger than this server's limit of {_mb(config.max_upload_bytes)}",
            field="file",
            reason="file_too_large",
        )
        # uvicorn's HTTP parser has refused a Content-Length that is not a number.
        if int(request.headers.get("content-length", "0")) > limit:
            raise too_large
        limited = Request(request.scope, _limited(request.receive, limit, config, too_large))
        try:
            data = await limited.form(max_files=1, max_fields=64, max_part_size=_MAX_FIELD_BYTES)
        except HTTPException as exc:  # python-multipart refused the body
            raise InvalidRequest(
                f"malformed form data: {exc.detail}", reason="invalid_multipart"
            ) from None
        except ClientDisconnect:
            raise InvalidRequest("the upload was cut short", reason="incomplete") from None
        for _, value in data.multi_items():
            if isinstance(value, UploadFile) and (value.size or 0) > config.max_upload_bytes:
                await value.close()
                raise too_large
        return data


def _mb(size: int) -> str:
    return f"{size / 1e6:.3g} MB" if size >= 1e6 else f"{size} bytes"


def _limited(receive: Receive, limit: int, config: ServerConfig, error: InvalidRequest) -> Receive:
    """``receive``, refusing (``error``) a body past ``limit`` bytes, and any silent for
    ``config.body_timeout`` s or not whole ``config.request_timeout`` s after it began (a
    trickle of a byte a minute would pass the first check for days)."""
    timeout, deadline = config.body_timeout, config.request_timeout
    total = 0
    end = asyncio.get_running_loop().time() + deadline

    async def receive_within_limits() -> Message:
        nonlocal total
        left = end - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(receive(), min(timeout, max(left, 0.0)))
        except asyncio.TimeoutError:
            why = (
                f"did not arrive whole within {deadline:g} s"
                if left <= timeout
                else f"sent no byte for {timeout:g} s"
            )
            raise InvalidRequest(f"the upload {why}: it was given up", reason="timeout") from None
        total += len(message.get("body", b""))
        if total > limit:
            raise error
        return message

    return receive_within_limits


async def _cancel_on_disconnect(receive: Receive, job: Job) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    job.cancel()


class _Socket:
    """A Starlette WebSocket as the sessions' :class:`~livewhisper.server.sessions.Connection`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.guarded = websocket.scope.get(PROTOCOL_KEY)  # None under another ASGI server

    def gone(self) -> bool:
        """Whether the TCP connection is closed, whatever frames still wait unread."""
        return self.guarded is not None and bool(self.guarded.disconnected)

    def abort(self) -> None:
        """Drop the TCP connection at once (a close that could not complete in time)."""
        if self.guarded is not None:
            self.guarded.abort()

    async def send(self, message: str | bytes) -> None:
        try:
            key = "text" if isinstance(message, str) else "bytes"
            await self.websocket.send({"type": "websocket.send", key: message})
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise Disconnected(str(exc)) from None

    async def recv(self) -> str | bytes:
        try:
            message = await self.websocket.receive()
        except (OSError, RuntimeError) as exc:
            raise Disconnected(str(exc)) from None
        if message["type"] == "websocket.disconnect":
            raise Disconnected(f"closed ({message.get('code')})")
        text: str | None = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await self.websocket.close(code, reason)


# -- OpenAI's response formats ---------------------------------------------------------------


def render(result: Transcription, request: TranscriptionRequest) -> tuple[str, str]:
    """The response body and Content-Type for ``request.response_format`` (``json``,
    ``text``, ``srt``, ``vtt``, ``verbose_json``).

    Example: ``render(result, request)`` -> ``('{"text": ...}', 'application/json')``.
    """
    fmt = request.response_format
    plain = "text/plain; charset=utf-8"
    if fmt == "text":
        return _text(result.segments) + "\n", plain
    if fmt == "srt":
        return to_srt(result.segments, request.layout, result.duration), plain
    if fmt == "vtt":
        return to_vtt(result.segments, request.layout, result.duration), plain
    if fmt == "verbose_json":
        doc = verbose_json(result, request)
    else:
        doc = {"text": _text(result.segments), "usage": _usage(result)}
    return json.dumps(doc, ensure_ascii=False), "application/json"


def verbose_json(result: Transcription, request: TranscriptionRequest) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: task, language (its English name), duration, text and
    segments; ``words`` when ``timestamp_granularities`` asked for them.

    ``seek`` is the segment start in centiseconds and ``tokens`` is empty (whisper.cpp's
    token ids are not kept); ``no_speech_prob`` is not measured and given as 0.

    Example: ``verbose_json(result, request)["segments"][0]["start"]`` -> ``0.32``.
    """
    doc: dict[str, Any] = {
        "task": request.task,
        "language": LANGUAGES.get(result.language, result.language),
        "duration": round(result.duration, 3),
        "text": _text(result.segments),
        "segments": [
            {
                "id": index,
                "seek": round(segment.start * 100),
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "text": segment.text,
                "tokens": [],
                "temperature": request.options.temperature,
                "avg_logprob": round(segment.avg_logprob, 4),
                "compression_ratio": round(compression_ratio(segment.text), 4),
                "no_speech_prob": 0.0,
            }
            for index, segment in enumerate(result.segments)
        ],
        "usage": _usage(result),
    }
    if request.words:
        doc["words"] = [
            {"word": word.word.strip(), "start": round(word.start, 3), "end": round(word.end, 3)}
            for segment in result.segments
            for word in segment.words
        ]
    return doc


def _text(segments: tuple[Segment, ...] | list[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def _usage(result: Transcription) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(result.duration)}


async def _events(job: Job, watcher: asyncio.Task[None]) -> AsyncIterator[str]:
    """The job as server-sent events: progress, segments, then done or an error."""
    count = 0
    last: dict[str, Any] = {}
    try:
        async for segments in job.updates():
            progress = {
                "type": "transcript.progress",
                "job": job.id,
                "state": job.state.value,
                "progress": round(job.progress, 4),
                "processed": round(job.processed, 2),
                "duration": round(job.duration, 2),
                "ahead": job.ahead,
            }
            events = [progress] if progress != last else []
            last = progress
            for segment in segments:
                events.append(
                    {"type": "transcript.text.segment", "id": count,
                     "start": round(segment.start, 3), "end": round(segment.end, 3),
                     "text": segment.text.strip()}
                )  # fmt: skip
                events.append({"type": "transcript.text.delta", "delta": segment.text})
                count += 1
            if job.result is not None:
                events.append(_done_event(job.result, job.request))
            elif job.state.over:
                error = job.error or DecodeCancelled("the job was cancelled")
                events.append({"type": "error", **error_answer(error)[1]})
            yield "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
    finally:
        watcher.cancel()
        if not job.state.over:
            job.cancel()  # the client left before the end: nobody wants the rest


def _done_event(result: Transcription, request: TranscriptionRequest) -> dict[str, Any]:
    doc = verbose_json(result, request)
    return {
        "type": "transcript.text.done",
        "text": doc["text"],
        "language": result.language,
        "duration": doc["duration"],
        "segments": doc["segments"],
        "usage": doc["usage"],
        # The page offers these as downloads: rendered here, by the same writers as the
        # command line's files, rather than again in JavaScript.
        "files": {
            "txt": to_txt(result.segments),
            "srt": to_srt(result.segments, request.layout, result.duration),
            "vtt": to_vtt(result.segments, request.layout, result.duration),
            "json": to_json(result.segments, language=result.language, duration=result.duration),
        },
    }
