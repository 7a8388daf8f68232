"""Who may use the server: the Host, Origin and token checks both ports apply.

Pure functions of the configuration and the request's headers, so the WebSocket port
(:mod:`~livewhisper.server.app`) and the file API port
(:mod:`~livewhisper.server.httpapi`) refuse exactly the same requests.

Example::

    if not host_allowed(config, headers.get("Host")):
        ...  # 403: a foreign name pointed at 127.0.0.1 (DNS rebinding)
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from livewhisper.server.config import ServerConfig

__all__ = ["LOOPBACK_NAMES", "authorized", "host_allowed", "origin_allowed"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""Host names that always mean this machine."""


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
    return host in LOOPBACK_NAMES or host == config.host.strip("[]").lower()


def origin_allowed(
    config: ServerConfig, headers: Headers, *, sibling_ports: Collection[int] = ()
) -> bool:
    """Whether a browser ``Origin`` may use this port (no ``Origin``: not a browser).

    The server's own origin passes, and so do ``config.allowed_origins``; with
    ``sibling_ports``, an origin on the same host name and one of those ports too (the
    caption page, on the WebSocket port, calling the file API on its own port).

    Example::

        >>> config = ServerConfig()
        >>> h = Headers({"Host": "127.0.0.1:8766", "Origin": "http://127.0.0.1:8765"})
        >>> origin_allowed(config, h), origin_allowed(config, h, sibling_ports=[8765])
        (False, True)
    """
    origin = headers.get("Origin")
    if origin is None:
        return True  # not a browser: programs are held to the token, not the origin
    if origin in config.allowed_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    host = headers.get("Host")
    if parts.netloc == host:
        return True
    try:
        port = parts.port
    except ValueError:
        return False
    own = urlsplit(f"//{host}").hostname if host else None
    return port in sibling_ports and own is not None and parts.hostname == own


def authorized(config: ServerConfig, headers: Headers, query: str) -> bool:
    """Whether the request carries the token (``?token=`` or ``Authorization: Bearer``),
    or none is required.

    Example::

        >>> authorized(ServerConfig(token="s3cret"), Headers(), "token=s3cret")
        True
    """
    token = config.token
    if token is None:
        return True
    offered = parse_qs(query).get("token", [])
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        offered.append(authorization[7:].strip())
    expected = token.encode()
    return any(hmac.compare_digest(value.encode(), expected) for value in offered)
