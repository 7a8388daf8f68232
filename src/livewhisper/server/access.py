"""Who may use the server: one ASGI middleware in front of every route.

:class:`AccessControl` checks each request, page or API, HTTP or WebSocket, before any
route sees it: the ``Host`` header against DNS rebinding, the browser ``Origin``, and the
token (``?token=`` or ``Authorization: Bearer``) beyond the public page. Refusals are
OpenAI-shaped JSON errors (403, 401); a refused WebSocket gets them as its HTTP answer.
The checks themselves are pure functions of the configuration and the headers.

Example::

    app = AccessControl(Starlette(routes=...), config)
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livewhisper.server.config import ServerConfig, is_loopback

__all__ = [
    "PUBLIC_PATHS",
    "AccessControl",
    "authorized",
    "error_body",
    "error_response",
    "host_allowed",
    "origin_allowed",
]

PUBLIC_PATHS = ("/", "/index.html", "/favicon.ico", "/healthz")
"""Paths anyone who may reach the server may read (with ``/static/...``): no token."""


def host_allowed(config: ServerConfig, host_header: str | None) -> bool:
    """Whether the ``Host`` header names this server.

    Without a token, only loopback names (or the configured host) pass: a web page that
    re-points its own domain at 127.0.0.1 (DNS rebinding) would pass the Origin check,
    and its Host header gives it away. With a token, the token is the protection.

    Example::

        >>> config = ServerConfig()
        >>> host_allowed(config, "127.0.0.1:8765"), host_allowed(config, "evil.example")
        (True, False)
    """
    if config.token is not None:
        return True
    if not host_header:
        return False
    host = urlsplit(f"//{host_header}").hostname or ""
    return is_loopback(host) or host == config.host.strip("[]").lower()


def origin_allowed(config: ServerConfig, headers: Mapping[str, str]) -> bool:
    """Whether a browser ``Origin`` may use the server: none (not a browser), the
    server's own, or one of ``config.allowed_origins``.

    Example: ``origin_allowed(config, {"host": "h:1", "origin": "http://h:1"})`` is True.
    """
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser: programs are held to the token, not the origin
    if origin in config.allowed_origins:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == headers.get("host")


def authorized(config: ServerConfig, headers: Mapping[str, str], query: str) -> bool:
    """Whether the request carries the token (``?token=`` or ``Authorization: Bearer``),
    or none is required.

    Example: ``authorized(ServerConfig(token="s3cret"), {}, "token=s3cret")`` is True.
    """
    token = config.token
    if token is None:
        return True
    offered = parse_qs(query).get("token", [])
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        offered.append(authorization[7:].strip())
    expected = token.encode()
    return any(hmac.compare_digest(value.encode(), expected) for value in offered)


def error_body(
    message: str, code: str, kind: str = "invalid_request_error", param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object, ``{"error": {"message", "type", "param", "code"}}``.

    Example: ``error_body("no such route", "not_found")["error"]["code"]``.
    """
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    code: str,
    *,
    kind: str = "invalid_request_error",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An HTTP answer with :func:`error_body` (no ``param``: the request as a whole).

    Example: ``error_response(404, "no such route: /v2", "not_found")``.
    """
    return JSONResponse(error_body(message, code, kind), status, headers=dict(headers or {}))


_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "authorization, content-type",
    "Access-Control-Max-Age": "600",
}


class AccessControl:
    """The access rules, as ASGI middleware around the whole application.

    In order: while ``closing()`` every request gets 503; a foreign ``Host`` gets 403
    (DNS rebinding); without a token, a peer that is not this machine gets 403; beyond
    :data:`PUBLIC_PATHS` and ``/static/``, a foreign ``Origin`` gets 403, a CORS
    preflight its 204, and a missing or wrong token 401. Every HTTP answer gets
    ``nosniff`` and ``no-referrer`` (a ``?token=`` must not leak in a Referer), and those
    to an allowed browser origin get CORS headers.

    Example::

        app = AccessControl(app, ServerConfig(token="s3cret"), closing=lambda: False)
    """

    def __init__(
        self, app: ASGIApp, config: ServerConfig, *, closing: Callable[[], bool] = lambda: False
    ) -> None:
        self.app = app
        self.config = config
        self.closing = closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        added = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
        if "origin" in headers and scope["type"] == "http" and origin_allowed(self.config, headers):
            added |= {"Access-Control-Allow-Origin": headers["origin"], "Vary": "Origin"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                extra = MutableHeaders(scope=message)
                for name, value in added.items():
                    extra.setdefault(name, value)
            await send(message)

        refusal = self._check(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send_with_headers)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect, before the answer
        await refusal(scope, receive, send_with_headers)

    def _check(self, scope: Scope, headers: Headers) -> Response | None:
        config, path = self.config, scope["path"]
        if self.closing():
            return error_response(
                503, "the server is stopping", "shutting_down", kind="server_error"
            )
        if not host_allowed(config, headers.get("host")):
            return error_response(
                403, "unexpected Host header: use http://127.0.0.1:PORT/", "forbidden_host"
            )
        client = scope.get("client")
        if config.token is None and client and not is_loopback(str(client[0])):
            return error_response(
                403, "without a token only this machine may connect", "forbidden_client"
            )
        if path in PUBLIC_PATHS or path.startswith("/static/"):
            return None
        if not origin_allowed(config, headers):
            return error_response(
                403, "this Origin may not connect: see serve --allow-origin", "forbidden_origin"
            )
        if scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
            return Response(status_code=204, headers=_PREFLIGHT)  # the origin's added on send
        if not authorized(config, headers, scope.get("query_string", b"").decode("latin-1")):
            return error_response(
                401,
                "a valid token is required (Authorization: Bearer TOKEN, or ?token=)",
                "invalid_api_key",
                headers={"WWW-Authenticate": 'Bearer realm="livewhisper"'},
            )
        return None
