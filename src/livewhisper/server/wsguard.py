"""uvicorn's WebSocket protocol, with the bounds a public server needs on each connection.

uvicorn's websockets-sansio implementation writes a pong for every ping whether or not
the peer reads (a never-reading ping flooder makes it buffer without end), and its close
waits for the send buffer to drain (for a peer that stopped reading, forever).
:func:`guarded_protocol` makes a subclass that drops (close 1008) a client sending more
than ``max_pings_per_second`` pings a second (``ping_flood``) or leaving more than
``max_output_bytes`` unread (``too_slow``); aborts the TCP connection when a close has
not completed 2 s after it began; and puts itself in the ASGI scope
(:data:`PROTOCOL_KEY`), for its ``abort()`` (drop the connection at once) and its
``disconnected`` (whether it is closed).

Example::

    uvicorn.Config(app, ws=guarded_protocol(max_output_bytes=1_000_000))
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["PROTOCOL_KEY", "guarded_protocol"]

PROTOCOL_KEY = "livewhisper.protocol"
"""The ASGI scope key of the connection's guarded protocol."""


def guarded_protocol(
    *,
    max_output_bytes: int = 1_000_000,
    max_pings_per_second: float = 10.0,
) -> type[asyncio.Protocol]:
    """A WebSocket protocol class for ``uvicorn.Config(ws=...)`` with these bounds.

    Example: ``guarded_protocol(max_pings_per_second=5.0)``.
    """

    bounds = {"max_output_bytes": max_output_bytes, "max_pings_per_second": max_pings_per_second}
    return type("Guarded", (_GuardedProtocol,), bounds)


class _DeadlineTransport:
    """A transport whose ``close`` becomes ``abort`` if it takes too long."""

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._timeout = timeout
        self._deadline: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._transport.close()
        if self._deadline is None:
            # A no-op once the buffer drained and the connection is gone.
            self._deadline = self._loop.call_later(self._timeout, self._transport.abort)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _GuardedProtocol(WebSocketsSansIOProtocol):
    max_output_bytes = 1_000_000
    max_pings_per_second = 10.0
    close_timeout_s = 2.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guarded = _DeadlineTransport(
            cast(asyncio.Transport, transport), self.loop, self.close_timeout_s
        )
        super().connection_made(cast(asyncio.Transport, guarded))
        self.close_timeout = self.close_timeout_s  # uvicorn's wait for the peer's close
        self._ping_tokens = self.max_pings_per_second
        self._ping_time = self.loop.time()
        self._dropped = False

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            cast(dict[str, Any], scope)[PROTOCOL_KEY] = self

    def handle_ping(self) -> None:
        if self._dropped:
            return
        now = self.loop.time()
        rate = self.max_pings_per_second
        self._ping_tokens = min(rate, self._ping_tokens + (now - self._ping_time) * rate) - 1
        self._ping_time = now
        if self._ping_tokens < 0:
            self._drop("ping_flood")
            return
        super().handle_ping()
        self._check_output()

    def send_keepalive_ping(self) -> None:
        if self._dropped:
            return
        super().send_keepalive_ping()
        self._check_output()

    async def send(self, message: Any) -> None:
        await super().send(message)
        self._check_output()

    def _check_output(self) -> None:
        if self.transport.get_write_buffer_size() > self.max_output_bytes:
            self._drop("too_slow")

    def _drop(self, reason: str) -> None:
        """Close 1008 with ``reason``; the TCP connection goes after ``close_timeout``."""
        if self._dropped:
            return
        self._dropped = True
        self.stop_keepalive()
        with contextlib.suppress(Exception):  # the protocol may be closing already
            self.conn.fail(1008, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1008, "reason": reason})
        self.transport.close()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        self._dropped = True
        self.stop_keepalive()
        self.transport.abort()
