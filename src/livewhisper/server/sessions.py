"""What happens on each connection: audio sessions, caption listeners, and their outboxes.

* :class:`Outbox`: the messages waiting for one connection. Queuing never waits: a newer
  partial replaces an older one of the same session, a final discards the partials
  before it, and a connection that falls ``max_queued`` finals behind is dropped.
* :class:`CaptionHub`: the ``/v1/captions`` listeners; an event is encoded once for all.
* :class:`LiveSession`: what every audio session does, read at its pace; its
  :class:`ListenSession` is one ``/v1/listen`` connection driving one push
  :class:`~livewhisper.dictation.Dictation` through
  :class:`~livewhisper.protocol.ListenProtocol`.

Example::

    hub = CaptionHub(max_listeners=100)
    outbox = hub.subscribe(connection)          # in a /v1/captions handler
    hub.publish("mic", final)                   # from anywhere on the event loop
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from livewhisper.audio.sources import PushSource
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, DecodeOptionsError, LiveWhisperError
from livewhisper.events import Event, Final, Partial, Status
from livewhisper.gate import StreamConfig
from livewhisper.protocol import (
    Audio,
    ClientAction,
    CloseCode,
    Config,
    End,
    ErrorCode,
    ErrorMessage,
    FinalMessage,
    Finish,
    ListenProtocol,
    Notice,
    PartialMessage,
    ProtocolError,
    Ready,
    Start,
    StatusMessage,
    Subscribed,
    encode,
)
from livewhisper.server.config import ServerConfig
from livewhisper.server.pacing import AudioPace
from livewhisper.server.pool import ModelPool, PooledEngine

__all__ = [
    "CaptionHub",
    "Connection",
    "Disconnected",
    "ListenSession",
    "LiveSession",
    "Outbox",
    "close_soon",
    "deliver",
    "encode_event",
    "on_loop",
]

_T = TypeVar("_T")
log = logging.getLogger("livewhisper.server")

# How long a closing handshake may take before the TCP connection is simply dropped: a
# peer that stopped reading would otherwise hold the close (and its buffers) forever.
CLOSE_TIMEOUT = 2.0
# Seconds ahead of real time past which a session's decodes wait for others' (a client
# on a bumpy network may bunch up a second of frames and still keep time).
_AHEAD_PRIORITY = 2.0
# While throttled, how often to look whether the client is gone.
_GONE_POLL = 0.25
# Overflow notices at most this often: one is enough to tell a client it sends too fast.
_OVERFLOW_NOTICE_INTERVAL = 5.0


class Disconnected(LiveWhisperError):
    """The peer is gone: what a :class:`Connection` raises instead of sending or receiving."""


class Connection(Protocol):
    """What sessions need of a WebSocket connection; methods raise :class:`Disconnected`
    once the peer is gone. Example: any object with these three methods."""

    async def recv(self) -> str | bytes:
        """The next frame: ``str`` for text, ``bytes`` for binary (audio)."""

    async def send(self, message: str | bytes) -> None:
        """Send one frame."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake."""


@dataclass(frozen=True)
class Closing:
    """The outbox's last item: close the connection with ``code`` and ``reason``.

    Example: ``Closing(1000, "")``.
    """

    code: int
    reason: str


class Outbox:
    """Messages waiting for one connection; :meth:`put` and :meth:`put_partial` never wait.

    Example::

        outbox = Outbox(max_queued=256)
        outbox.put_partial(text, key="mic")      # replaces mic's partial if still queued
        if not outbox.put(final_text, key="mic"):
            ...                                  # the reader is too slow: drop it
        item = await outbox.get()                # str, or Closing last
    """

    def __init__(self, max_queued: int = 256) -> None:
        # Each item: (session key or None, is a partial, text).
        self._items: collections.deque[tuple[str | None, bool, str]] = collections.deque()
        self._closing: Closing | None = None
        self._wake = asyncio.Event()
        self._kept = 0  # queued items other than partials
        self.max_queued = max_queued

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing is not None

    def put(self, text: str, *, key: str | None = None) -> bool:
        """Queue a message that must not be lost; False if ``max_queued`` are waiting.

        Partials of session ``key`` still queued are discarded: this final settles them.
        """
        if self._closing is not None:
            return True
        if self._kept >= self.max_queued:
            return False
        if key is not None:
            self._discard_partial(key)
        self._items.append((key, False, text))
        self._kept += 1
        self._wake.set()
        return True

    def put_partial(self, text: str, key: str) -> None:
        """Queue a partial of session ``key``, replacing the one still waiting, if any."""
        if self._closing is not None:
            return
        self._discard_partial(key)
        self._items.append((key, True, text))
        self._wake.set()

    def close(self, code: int, reason: str = "") -> None:
        """Close the connection once the messages already queued are sent."""
        if self._closing is None:
            self._closing = Closing(code, reason)
            self._wake.set()

    async def get(self) -> str | Closing:
        """The next message, or :class:`Closing` when all are sent after :meth:`close`."""
        while not self._items:
            if self._closing is not None:
                return self._closing
            self._wake.clear()
            await self._wake.wait()
        _, partial, text = self._items.popleft()
        if not partial:
            self._kept -= 1
        return text

    def _discard_partial(self, key: str) -> None:
        for index, (item_key, partial, _) in enumerate(self._items):
            if partial and item_key == key:
                del self._items[index]
                return  # there is never more than one per key


async def close_soon(connection: Connection, code: int, reason: str = "") -> None:
    """Close ``connection``; past :data:`CLOSE_TIMEOUT` s, drop the TCP connection instead.

    Example: ``await close_soon(connection, CloseCode.TRY_AGAIN_LATER, "busy")``.
    """
    try:
        await asyncio.wait_for(connection.close(code, reason), CLOSE_TIMEOUT)
    except (asyncio.TimeoutError, OSError):
        abort = getattr(connection, "abort", None)  # the web layer's connections have it
        if abort is not None:
            abort()


async def deliver(connection: Connection, outbox: Outbox) -> None:
    """Send what ``outbox`` holds, in order, until it says to close (then close).

    Example: ``sender = asyncio.create_task(deliver(connection, outbox))``.
    """
    while True:
        item = await outbox.get()
        if isinstance(item, Closing):
            await close_soon(connection, item.code, item.reason)
            return
        await connection.send(item)


def on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[[_T], None]
) -> Callable[[_T], None]:
    """``callback`` for another thread (a dictation's) to call: it runs on ``loop``.

    Example: ``Dictation(engine, on_final=on_loop(loop, hub_publish))``.
    """

    def call(value: _T) -> None:
        # After the server stopped, the loop is closed and nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, value)

    return call


class CaptionHub:
    """The ``/v1/captions`` listeners, and the fan-out of shared sessions' events to them.

    Runs on the event loop only. Each listener has an :class:`Outbox`: a stalled one
    loses partials until, ``max_queued`` finals behind, it is dropped (``too_slow``).

    Example::

        outbox = hub.subscribe(connection)      # None once max_listeners listen
        asyncio.create_task(deliver(connection, outbox))
        hub.publish("3f9a0c1e", event)
    """

    def __init__(self, max_listeners: int = 1000, max_queued: int = 256) -> None:
        self.max_listeners = max_listeners
        self.max_queued = max_queued
        self._listeners: dict[Outbox, Connection] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._listeners)

    def subscribe(self, connection: Connection) -> Outbox | None:
        """Register a listener; its outbox starts with ``subscribed``. None if full."""
        if len(self._listeners) >= self.max_listeners:
            return None
        outbox = Outbox(self.max_queued)
        outbox.put(encode(Subscribed()))
        self._listeners[outbox] = connection
        return outbox

    def unsubscribe(self, outbox: Outbox) -> None:
        """Forget a listener (idempotent)."""
        self._listeners.pop(outbox, None)

    def publish(self, session: str, event: Event | Status, name: str | None = None) -> None:
        """Queue ``event`` of ``session`` (spoken by ``name``) for every listener, at once."""
        if not self._listeners:
            return
        text = encode_event(event, session, name)
        if not isinstance(event, Final):
            key = f"{session}/status" if isinstance(event, Status) else session
            for outbox in self._listeners:
                outbox.put_partial(text, key)
            return
        slow = [outbox for outbox in self._listeners if not outbox.put(text, key=session)]
        for outbox in slow:
            self._drop(outbox)

    def _drop(self, outbox: Outbox) -> None:
        connection = self._listeners.pop(outbox)
        self.dropped += 1
        log.warning("dropping a caption listener %d events behind", self.max_queued)
        # Its sender may be stuck writing to a full socket, so close from outside it.
        task = asyncio.create_task(
            close_soon(connection, CloseCode.POLICY_VIOLATION, ErrorCode.TOO_SLOW.value)
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def encode_event(event: Event | Status, session: str | None = None, name: str | None = None) -> str:
    """The text frame of a partial, final or status event (of ``session``, by ``name``).

    Example: ``encode_event(final, "mic")`` is ``'{"type":"final",...,"session":"mic"}'``.
    """
    if isinstance(event, Status):
        return encode(StatusMessage.from_event(event, session, name))
    if isinstance(event, Partial):
        return encode(PartialMessage.from_event(event, session, name))
    return encode(FinalMessage.from_event(event, session, name))


@dataclass(frozen=True)
class SessionSettings:
    """What every live session of a server shares: the model pool, the caption hub, and
    the server's settings (its default language and vocabulary, its limits).

    Example: ``SessionSettings(pool, CaptionHub(), ServerConfig(language="en"))``.
    """

    pool: ModelPool
    hub: CaptionHub
    config: ServerConfig


class LiveSession:
    """A live session's connection, whatever its protocol (:class:`ListenSession`, OpenAI
    Realtime's :class:`~livewhisper.server.realtime_session.RealtimeSession`): frames in
    at the session's pace, messages out through the outbox, and the end.

    :meth:`run` returns once the connection is over; it never raises for anything the
    client did (that becomes the protocol's error and a close code), and other sessions
    never notice. ``on_closed`` is called as soon as the connection is closed and the
    session's waiting decodes are cancelled, before its threads are joined: a client that
    reconnects at once finds its place free. A protocol's subclass handles each frame
    (``_handle``), words errors (``_error_text``), and names what to end (``_tasks``,
    ``_dictations``).

    Example::

        async def handler(connection):
            await ListenSession(connection, "3f9a0c1e", settings).run()
    """

    kind = "session"  # in the log
    idle_hint = "send audio (silence too)"  # what the idle timeout's error asks for

    def __init__(
        self,
        connection: Connection,
        session_id: str,
        settings: SessionSettings,
        on_closed: Callable[[], object] = lambda: None,
    ) -> None:
        self.connection = connection
        self.id = session_id
        self.settings = settings
        self.outbox = Outbox(settings.config.max_queued_finals)
        self.engine: PooledEngine | None = None
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self.pace = AudioPace(settings.config.pace, self._loop.time())
        self._over = False

    async def run(self) -> None:
        """Serve the connection until it ends; release everything it used."""
        sender = asyncio.create_task(deliver(self.connection, self.outbox))
        try:
            async for frame in self._frames():
                self._handle(frame)
        except ProtocolError as exc:
            self._fail(exc)
        except Exception:
            log.exception("%s %s failed", self.kind, self.id)
            self._fail(ProtocolError(ErrorCode.INTERNAL, "internal server error"))
        finally:
            await self._release(sender)

    def _handle(self, frame: str | bytes) -> None:
        raise NotImplementedError

    def _error_text(self, exc: ProtocolError) -> str:
        raise NotImplementedError

    def _finished(self) -> bool:  # the client sends no more: it only waits for us
        return False

    def _ahead(self, ahead: bool) -> None:
        if self.engine is not None:
            self.engine.ahead = ahead

    def _tasks(self) -> list[asyncio.Task[None]]:
        return []

    def _dictations(self) -> list[Dictation]:
        return []

    async def _frames(self) -> AsyncIterator[str | bytes]:
        """The connection's frames, read no faster than the session's pace allows.

        A client too far ahead of real time is read no further until its audio is due (TCP
        holds the rest back), so no session queues more decoding than it may; while it
        runs ahead its decodes wait for those of sessions keeping time (:meth:`_ahead`).
        Ends when the peer is gone or the outbox closes; raises
        :class:`~livewhisper.protocol.ProtocolError` when the client sends nothing for the
        idle timeout (unless :meth:`_finished`) or breaks the pace's limits.
        """
        pace, idle_timeout, loop = self.pace, self.settings.config.idle_timeout, self._loop
        last_frame = loop.time()
        while not self.outbox.closing:
            now = loop.time()
            self._ahead(pace.ahead(now) > _AHEAD_PRIORITY)
            throttle = pace.wait(now)
            if throttle > 0:
                await asyncio.sleep(min(throttle, pace.next_check(now), _GONE_POLL))
                last_frame = loop.time()  # we kept it waiting: not idle
                gone = getattr(self.connection, "gone", None)
                if gone is not None and gone():
                    return  # its frames wait unread: the disconnect is behind them
                continue
            timeout = None
            if not self._finished():
                left = last_frame + idle_timeout - now
                if left <= 0:
                    raise ProtocolError(
                        ErrorCode.IDLE_TIMEOUT, f"no frame for {idle_timeout:g} s: {self.idle_hint}"
                    )
                timeout = min(left, pace.next_check(now))
            error = pace.check(now)  # after the idle check: a silent client is idle
            if error is not None:
                raise error
            try:
                frame = await asyncio.wait_for(self.connection.recv(), timeout)
            except asyncio.TimeoutError:
                continue
            except Disconnected:
                return
            last_frame = loop.time()
            yield frame

    def _fail(self, exc: ProtocolError) -> None:
        if self.outbox.closing:
            return
        self._over = True
        log.info("%s %s: error %s: %s", self.kind, self.id, exc.code.value, exc.message)
        self.outbox.put(self._error_text(exc))
        self.outbox.close(exc.code.close_code or CloseCode.POLICY_VIOLATION, exc.code.value)

    async def _release(self, sender: asyncio.Task[None]) -> None:
        self._over = True
        if self.engine is not None:
            self.engine.close()  # decodes still waiting for a worker are not needed now
        tasks = self._tasks()
        for task in tasks:
            task.cancel()
        if self.outbox.closing:
            # Let the last messages and the close frame go out; deliver() bounds the close.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), CLOSE_TIMEOUT * 2)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        self._on_closed()
        await asyncio.gather(*tasks, return_exceptions=True)
        for dictation in self._dictations():
            # stop() joins threads (bounded by its timeout): keep that off the event loop.
            await asyncio.to_thread(dictation.stop, 2.0)


class ListenSession(LiveSession):
    """One ``/v1/listen`` connection (see :class:`LiveSession`): protocol 1's frames in,
    a dictation, events out.

    Example: ``await ListenSession(connection, "3f9a0c1e", settings, on_closed).run()``.
    """

    kind = "listen session"

    idle_hint = "send audio (silence too) or 'end'"
    # Set at the client's start; class defaults until then, so LiveSession's constructor serves.
    dictation: Dictation | None = None
    share = False
    name: str | None = None
    _pump: asyncio.Task[None] | None = None
    _overflow_seen = 0
    _overflow_noticed_at = -_OVERFLOW_NOTICE_INTERVAL

    @functools.cached_property
    def protocol(self) -> ListenProtocol:
        """Protocol 1's rules for this connection's frames."""
        return ListenProtocol()

    # -- frames in ---------------------------------------------------------------------
    def _handle(self, frame: str | bytes) -> None:
        for action in self.protocol.receive(frame):
            self._apply(action)

    def _finished(self) -> bool:
        return self.protocol.finished

    def _apply(self, action: ClientAction) -> None:
        if isinstance(action, Start):
            self._start(action.config)
        elif isinstance(action, Audio):
            assert self.dictation is not None and self.protocol.config is not None
            self.pace.add(len(action.samples) / self.protocol.config.sample_rate, self._loop.time())
            self.dictation.feed(action.samples)
            self._check_overflow()
        elif isinstance(action, Finish):
            assert self.dictation is not None
            self.pace.finish()
            self.dictation.finish()
        elif isinstance(action, Notice):
            self.outbox.put(encode(action.error))

    def _start(self, config: Config) -> None:
        pool = self.settings.pool
        try:
            engine = pool.engine(config.model)
        except ConfigError as exc:
            raise ProtocolError(ErrorCode.UNKNOWN_MODEL, str(exc)) from None
        defaults = self.settings.config
        language = config.language if config.language is not None else defaults.language
        try:
            allowed = pool.language(language, engine.model_name)
        except DecodeOptionsError as exc:
            raise ProtocolError(ErrorCode.UNSUPPORTED_LANGUAGE, str(exc)) from None
        vocabulary = defaults.vocabulary if config.vocabulary is None else config.vocabulary
        self.engine = engine
        self.share = config.share
        self.name = config.name
        self.dictation = Dictation(
            engine,
            source=PushSource(sample_rate=config.sample_rate),
            decode=DecodeOptions(language=allowed, vocabulary=vocabulary),
            stream=StreamConfig(partials=config.partials),
            on_error=on_loop(self._loop, self._decode_failed),
            on_status=on_loop(self._loop, self._lagging),
        )
        self.outbox.put(encode(Ready(self.id, engine.model_name, config.sample_rate)))
        # The iterator subscribes before it starts the dictation, so no event is missed;
        # audio fed before then waits in the push source.
        self._pump = asyncio.create_task(self._forward(self.dictation))

    def _check_overflow(self) -> None:
        assert self.dictation is not None
        lost = self.dictation.source.overflow_samples - self._overflow_seen
        now = time.monotonic()
        if lost > 0 and now - self._overflow_noticed_at > _OVERFLOW_NOTICE_INTERVAL:
            self._overflow_noticed_at = now
            self._overflow_seen += lost
            message = (
                f"{lost / 16000:.1f} s of audio dropped: "
                "audio arrives faster than it can be decoded"
            )
            self.outbox.put(encode(ErrorMessage(ErrorCode.OVERFLOW.value, message)))

    # -- events out --------------------------------------------------------------------
    async def _forward(self, dictation: Dictation) -> None:
        try:
            async for event in dictation:
                if isinstance(event, Partial):
                    self.outbox.put_partial(encode_event(event), self.id)
                elif not self.outbox.put(encode_event(event), key=self.id):
                    self._fail(ProtocolError(ErrorCode.TOO_SLOW, "the client reads too slowly"))
                    return
                if self.share:
                    self.settings.hub.publish(self.id, event, self.name)
        except Exception:
            log.exception("session %s: the dictation failed", self.id)
            self._fail(ProtocolError(ErrorCode.INTERNAL, "the session's audio pipeline failed"))
            return
        if self._over:
            return
        if self.protocol.finished:
            self.outbox.put(encode(End()))
            self.outbox.close(CloseCode.NORMAL)
        else:
            self._fail(ProtocolError(ErrorCode.INTERNAL, "the session's audio pipeline stopped"))

    def _decode_failed(self, exc: BaseException) -> None:
        if not self._over:
            self.outbox.put(encode(ErrorMessage(ErrorCode.DECODE_FAILED.value, str(exc))))

    def _lagging(self, status: Status) -> None:
        if self._over:
            return
        # Only the newest report matters: it replaces one still waiting to be sent.
        self.outbox.put_partial(encode_event(status), f"{self.id}/status")
        if self.share:
            self.settings.hub.publish(self.id, status, self.name)

    # -- the end -----------------------------------------------------------------------
    def _error_text(self, exc: ProtocolError) -> str:
        return encode(exc.to_message())

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [self._pump] if self._pump is not None else []

    def _dictations(self) -> list[Dictation]:
        return [self.dictation] if self.dictation is not None else []
