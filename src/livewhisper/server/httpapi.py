"""The file transcription API: a small HTTP/1.1 server on its own port (``--http-port``).

Routes (``docs/protocol.md``, "File transcription"):

* ``POST /v1/audio/transcriptions``: OpenAI's transcription API (``file``, ``model``,
  ``language``, ``prompt``, ``response_format``, ``temperature``,
  ``timestamp_granularities[]``), so OpenAI clients work against it; with
  ``stream=true`` the answer is a stream of server-sent events: progress, each segment
  as it is decoded, and the finished transcript (the caption page's file view uses it).
* ``POST /v1/audio/translations``: the same, translated into English.
* ``GET /v1/models``: the models a file may use, with size and measured speed.

Why a port of its own: the WebSocket port is websockets' server, whose HTTP layer parses
handshake requests only. websockets 17 answers any request with a body with 400
("unsupported request body") before ``process_request`` runs, so uploads cannot reach
it; sharing the port would need a byte-copying proxy in front of every WebSocket or
websockets' private internals. This server is the other half: one request per
connection, bodies streamed through the multipart parser to disk, on the same event loop
as the WebSocket server, and behind the same Host, Origin and token checks.

Example::

    api = TranscriptionApi(config, catalog, jobs, page_port=8765)
    await api.start()
    print(api.port)            # then: openai.OpenAI(base_url=f"http://127.0.0.1:{api.port}/v1")
    await api.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import math
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers

from livewhisper import __version__
from livewhisper.errors import ConfigError, DecodeCancelled, LiveWhisperError
from livewhisper.events import Segment, Transcription
from livewhisper.formats import to_json, to_srt, to_txt, to_vtt
from livewhisper.server.access import authorized, host_allowed, origin_allowed
from livewhisper.server.catalog import ModelCatalog, language_name
from livewhisper.server.config import ServerConfig
from livewhisper.server.jobs import Job, JobRegistry, JobUpdate
from livewhisper.server.uploads import (
    FormReader,
    MultipartParser,
    TranscriptionRequest,
    UploadError,
    UploadForm,
    boundary_of,
    probe_audio,
    transcription_request,
)

__all__ = ["TRANSCRIPTIONS", "TRANSLATIONS", "TranscriptionApi", "render", "verbose_json"]

log = logging.getLogger("livewhisper.server")

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
MODELS = "/v1/models"

_MAX_HEAD = 64 * 1024  # request line and headers
_HEAD_TIMEOUT = 30.0
_BODY_IDLE_TIMEOUT = 60.0  # no byte of the body for this long: the client is gone
_FORM_OVERHEAD = 1024 * 1024  # multipart framing and text fields beside the file
_MAX_CONNECTIONS = 64
_LINGER_SECONDS = 5.0
_CHUNK = 64 * 1024


@dataclass
class _Request:
    method: str
    path: str
    query: str
    headers: Headers
    body_pending: bool = False  # a body was announced and not read to its end
    cors: list[tuple[str, str]] = field(default_factory=list)


class TranscriptionApi:
    """The HTTP server of the file API (see the module docstring for its routes).

    ``page_port`` is the WebSocket port, whose caption page may call this API from the
    browser (CORS). :meth:`start` listens on ``config.host`` and ``config.api_port``;
    :meth:`close` stops listening and ends open requests (their jobs are the
    registry's to cancel).

    Example::

        api = await TranscriptionApi(config, catalog, jobs, page_port=8765).start()
    """

    def __init__(
        self,
        config: ServerConfig,
        catalog: ModelCatalog,
        jobs: JobRegistry,
        *,
        page_port: int,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.jobs = jobs
        self.page_port = page_port
        self._server: asyncio.Server | None = None
        self._tasks: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._closing = False

    async def start(self) -> TranscriptionApi:
        """Listen; raises :class:`ConfigError` if the port is taken."""
        try:
            self._server = await asyncio.start_server(
                self._connection, self.config.host, self.config.api_port, limit=_MAX_HEAD
            )
        except OSError as exc:
            raise ConfigError(
                f"the file API cannot listen on port {self.config.api_port} "
                f"({exc.strerror or exc}): choose another with --http-port"
            ) from None
        log.info("file API on port %d", self.port)
        return self

    @property
    def port(self) -> int:
        """The port listened on (the real one when the config said 0)."""
        if self._server is not None:
            for sock in self._server.sockets:
                port: int = sock.getsockname()[1]
                return port
        return self.config.api_port

    async def close(self, timeout: float = 3.0) -> None:
        """Stop listening, cancel the jobs, give open requests ``timeout`` s to end (a
        stream ends with a ``cancelled`` error event), then cut their connections."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        await self.jobs.close()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            # Cut rather than cancel: a handler then ends on its own, through its error
            # path (asyncio logs a cancelled connection task as an unhandled error).
            for task in pending:
                self._tasks[task].transport.abort()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- one connection, one request -----------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks[task] = writer
        request: _Request | None = None
        try:
            try:
                request = await asyncio.wait_for(_read_head(reader), _HEAD_TIMEOUT)
                await self._dispatch(request, reader, writer)
            except asyncio.LimitOverrunError:
                raise UploadError(
                    431, "the request headers are too large", code="headers_too_large"
                ) from None
        except UploadError as exc:
            cors = request.cors if request is not None else []
            await _send_json(writer, exc.status, exc.to_dict(), [*cors, *exc.headers])
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass  # the client went away or said nothing: nobody to answer
        except Exception:
            log.exception("file API request failed")
            with contextlib.suppress(Exception):
                error = UploadError(
                    500, "internal server error", code="internal", kind="server_error"
                )
                await _send_json(writer, 500, error.to_dict())
        finally:
            self._tasks.pop(task, None)
            if request is not None and request.body_pending:
                await _linger(reader, writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer ``request``, or raise :class:`UploadError` to refuse it."""
        headers = request.headers
        length = headers.get("Content-Length", "0").strip()
        request.body_pending = "Transfer-Encoding" in headers or length not in ("", "0")
        if self._closing:
            raise UploadError(
                503, "the server is stopping", code="shutting_down", kind="server_error"
            )
        if len(self._tasks) > _MAX_CONNECTIONS:
            raise UploadError(
                503, "too many requests at once: try again", code="busy", kind="server_error"
            )
        if not host_allowed(self.config, headers.get("Host")):
            raise UploadError(
                403, "unexpected Host header: use http://127.0.0.1:PORT/", code="forbidden_host"
            )
        if not origin_allowed(self.config, headers, sibling_ports=(self.page_port,)):
            raise UploadError(
                403,
                "this Origin may not use the API: see serve --allow-origin",
                code="forbidden_origin",
            )
        request.cors = _cors(headers)
        route = request.path.rstrip("/") or "/"
        method = {TRANSCRIPTIONS: "POST", TRANSLATIONS: "POST", MODELS: "GET"}.get(route)
        if method is None:
            raise UploadError(404, f"no such route: {request.path}", code="not_found")
        if request.method == "OPTIONS":
            await _send(writer, 204, b"", None, request.cors + _preflight(method))
            return
        if request.method != method:
            raise UploadError(
                405,
                f"{route} takes {method} only",
                code="method_not_allowed",
                headers=(("Allow", f"{method}, OPTIONS"),),
            )
        if not authorized(self.config, headers, request.query):
            raise UploadError(
                401,
                "a valid token is required (Authorization: Bearer TOKEN, or ?token=)",
                code="invalid_api_key",
                headers=(("WWW-Authenticate", 'Bearer realm="livewhisper"'),),
            )
        if route == MODELS:
            await _send_json(writer, 200, self._models(), request.cors)
            return
        await self._transcribe(request, reader, writer, translate=route == TRANSLATIONS)

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": entry.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "livewhisper",
                    **entry.to_dict(),
                }
                for entry in self.catalog.entries()
            ],
        }

    # -- transcription ---------------------------------------------------------------------
    async def _transcribe(
        self,
        request: _Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        translate: bool,
    ) -> None:
        if not self.jobs.has_room():  # said before the upload, not after it
            raise UploadError(
                429,
                "every transcription slot is taken: try again in a few minutes",
                code="busy",
                kind="rate_limit_error",
            )
        boundary = boundary_of(request.headers.get("Content-Type"))
        limit = self.config.max_upload_bytes + _FORM_OVERHEAD
        length = _content_length(request.headers, limit, self.config.max_upload_bytes)
        if request.headers.get("Expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        form = await self._read_form(request, reader, boundary, length, limit)
        try:
            entry = self.catalog.find(form.value("model"))
            job_request = transcription_request(
                form,
                model=entry.name,
                multilingual=entry.multilingual,
                translate=translate,
                default_language=self.config.language,
            )
            duration = await asyncio.to_thread(
                probe_audio, job_request.file, self.config.max_upload_seconds
            )
            job = self.jobs.submit(job_request, duration)
        except BaseException:
            form.discard()
            raise
        watcher = asyncio.create_task(_watch_disconnect(reader, job))
        try:
            if job_request.stream:
                await self._stream(job, writer, request.cors)
            else:
                await self._respond(job, writer, request.cors)
        finally:
            watcher.cancel()

    async def _read_form(
        self,
        request: _Request,
        reader: asyncio.StreamReader,
        boundary: bytes,
        length: int | None,
        limit: int,
    ) -> UploadForm:
        parser = MultipartParser(boundary)
        form = FormReader(max_file_bytes=self.config.max_upload_bytes)
        try:
            async for chunk in _body(reader, length, limit):
                form.handle(parser.feed(chunk))
            request.body_pending = False
            parser.close()
            return form.finish()
        except BaseException:
            form.abort()
            raise

    async def _respond(
        self, job: Job, writer: asyncio.StreamWriter, cors: list[tuple[str, str]]
    ) -> None:
        try:
            result = await job.wait()
        except DecodeCancelled:
            return  # the client left (or the server is stopping): nobody to answer
        except LiveWhisperError as exc:
            error = _as_upload_error(exc)
            await _send_json(writer, error.status, error.to_dict(), cors)
            return
        body, kind = render(result, job.request)
        await _send(writer, 200, body.encode(), kind, cors)

    async def _stream(
        self, job: Job, writer: asyncio.StreamWriter, cors: list[tuple[str, str]]
    ) -> None:
        writer.write(
            _head(
                200,
                [
                    ("Content-Type", "text/event-stream; charset=utf-8"),
                    ("Cache-Control", "no-store"),
                    ("X-Accel-Buffering", "no"),  # a reverse proxy must not hold events back
                    *cors,
                ],
            )
        )
        count = 0
        last: dict[str, Any] = {}
        async for update in job.updates():
            progress = _progress_event(job, update)
            events = [progress] if progress != last else []
            last = progress
            for segment in update.segments:
                events.append(
                    {
                        "type": "transcript.text.segment",
                        "id": count,
                        "start": round(segment.start, 3),
                        "end": round(segment.end, 3),
                        "text": segment.text.strip(),
                    }
                )
                events.append({"type": "transcript.text.delta", "delta": segment.text})
                count += 1
            if update.result is not None:
                events.append(_done_event(update.result, job.request))
            elif update.error is not None:
                events.append({"type": "error", **_as_upload_error(update.error).to_dict()})
            elif update.state.over:
                cancelled = UploadError(499, "the job was cancelled", code="cancelled")
                events.append({"type": "error", **cancelled.to_dict()})
            writer.write(
                "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events).encode()
            )
            try:
                await writer.drain()
            except ConnectionError:
                job.cancel()
                return


# -- OpenAI's response formats ---------------------------------------------------------------


def render(result: Transcription, request: TranscriptionRequest) -> tuple[str, str]:
    """The response body and Content-Type for ``request.response_format``.

    ``json``: ``{"text"}`` (and ``usage``); ``text``: the text; ``srt`` and ``vtt``:
    subtitles; ``verbose_json``: :func:`verbose_json`.

    Example: ``render(result, request)`` -> ``('1\\n00:00:00,000 --> ...', 'text/plain...')``.
    """
    fmt = request.response_format
    plain = "text/plain; charset=utf-8"
    if fmt == "text":
        return _text(result.segments) + "\n", plain
    if fmt == "srt":
        return to_srt(result.segments), plain
    if fmt == "vtt":
        return to_vtt(result.segments), plain
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
        "language": language_name(result.language),
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
                "compression_ratio": round(_compression_ratio(segment.text), 4),
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


def _compression_ratio(text: str) -> float:
    """Whisper's repetition measure: text bytes over their zlib-compressed size."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _progress_event(job: Job, update: JobUpdate) -> dict[str, Any]:
    return {
        "type": "transcript.progress",
        "job": job.id,
        "state": update.state.value,
        "progress": round(update.progress, 4),
        "processed": round(update.processed, 2),
        "duration": round(update.duration, 2),
        "ahead": update.ahead,
    }


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
            "srt": to_srt(result.segments),
            "vtt": to_vtt(result.segments),
            "json": to_json(result.segments, language=result.language, duration=result.duration),
        },
    }


def _as_upload_error(error: LiveWhisperError) -> UploadError:
    if isinstance(error, UploadError):
        return error
    return UploadError(500, str(error), code="transcription_failed", kind="server_error")


# -- HTTP/1.1, the little of it this API needs ---------------------------------------------------


async def _read_head(reader: asyncio.StreamReader) -> _Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise UploadError(400, "malformed request line", code="invalid_request") from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise UploadError(505, f"unsupported protocol {version}", code="invalid_request")
    headers = Headers()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name:
            raise UploadError(400, "malformed header line", code="invalid_request")
        headers[name.decode("ascii", errors="replace")] = value.strip().decode("latin-1")
    url = urlsplit(target)
    return _Request(method, url.path, url.query, headers)


def _content_length(headers: Headers, limit: int, file_limit: int) -> int | None:
    """The announced body length (None: chunked); refuses what cannot be taken."""
    encoding = headers.get("Transfer-Encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked" or "Content-Length" in headers:
            raise UploadError(
                501, f"unsupported Transfer-Encoding {encoding!r}", code="unsupported_encoding"
            )
        return None
    values = headers.get_all("Content-Length")
    if not values:
        raise UploadError(411, "a Content-Length header is required", code="length_required")
    try:
        length = int(values[0])
    except ValueError:
        length = -1
    if length < 0 or len(set(values)) > 1:
        raise UploadError(400, "malformed Content-Length", code="invalid_request")
    if length > limit:
        raise UploadError(
            413,
            f"the upload is larger than this server's limit of {file_limit / 1e6:.3g} MB",
            code="file_too_large",
            param="file",
        )
    return length


async def _body(
    reader: asyncio.StreamReader, length: int | None, limit: int
) -> AsyncIterator[bytes]:
    """The request body in pieces, ``length`` bytes or chunked; at most ``limit`` bytes."""
    if length is not None:
        remaining = length
        while remaining:
            data = await asyncio.wait_for(reader.read(min(_CHUNK, remaining)), _BODY_IDLE_TIMEOUT)
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data
        return
    total = 0
    while True:
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), _BODY_IDLE_TIMEOUT)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise UploadError(400, "malformed chunk size", code="invalid_request") from None
        if size == 0:
            trailer = b""
            while trailer != b"\r\n":  # trailers: none of them matter here
                trailer = await asyncio.wait_for(reader.readuntil(b"\r\n"), _BODY_IDLE_TIMEOUT)
            return
        total += size
        if total > limit:
            raise UploadError(
                413,
                "the upload is larger than this server's limit",
                code="file_too_large",
                param="file",
            )
        remaining = size
        while remaining:
            data = await asyncio.wait_for(reader.read(min(_CHUNK, remaining)), _BODY_IDLE_TIMEOUT)
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data
        if await asyncio.wait_for(reader.readexactly(2), _BODY_IDLE_TIMEOUT) != b"\r\n":
            raise UploadError(400, "malformed chunk", code="invalid_request")


async def _watch_disconnect(reader: asyncio.StreamReader, job: Job) -> None:
    """Cancel ``job`` when its client closes the connection (nothing more is expected
    from it after the body: one request per connection)."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(_CHUNK):
            pass
    job.cancel()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read and drop what the client still sends after an early answer, for a while.

    Closing with unread data makes the kernel reset the connection, and a client still
    sending its upload may then lose our answer (the 413 that says why) before reading it.
    """
    deadline = time.monotonic() + _LINGER_SECONDS
    with contextlib.suppress(Exception):
        await writer.drain()
        while (left := deadline - time.monotonic()) > 0:
            if not await asyncio.wait_for(reader.read(_CHUNK), left):
                break


def _cors(headers: Headers) -> list[tuple[str, str]]:
    origin = headers.get("Origin")
    if origin is None:
        return []
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]


def _preflight(methods: str) -> list[tuple[str, str]]:
    return [
        ("Access-Control-Allow-Methods", f"{methods}, OPTIONS"),
        ("Access-Control-Allow-Headers", "authorization, content-type"),
        ("Access-Control-Max-Age", "600"),
    ]


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client Closed Request"
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        f"Server: livewhisper/{__version__}",
        "X-Content-Type-Options: nosniff",
        "Connection: close",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    kind: str | None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    fields = [("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    if kind is not None:
        fields.insert(0, ("Content-Type", kind))
    writer.write(_head(status, fields + (headers or [])) + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _send_json(
    writer: asyncio.StreamWriter,
    status: int,
    doc: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> None:
    await _send(writer, status, json.dumps(doc).encode(), "application/json", headers)
