"""A protocol-1 client: send audio to a livewhisper server, read its captions (asyncio).

* :func:`listen` opens an audio session: send audio, say :meth:`ListenSession.end`,
  iterate over :class:`~livewhisper.events.Partial` and
  :class:`~livewhisper.events.Final` events until the server's ``end``.
* :func:`stream` does all of that for a file, an array or any
  :class:`~livewhisper.audio.AudioSource` (a :class:`~livewhisper.audio.Microphone`).
* :func:`captions` follows ``/v1/captions``: every shared session's events.

Needs the ``server`` extra (websockets). Server addresses may be given as
``ws://host:port`` (the path is added), ``http://host:port/`` or a full WebSocket URL.

Example::

    import asyncio
    from livewhisper import client

    async def main() -> None:
        async for event in client.stream("ws://127.0.0.1:8765", "talk.wav", language="en"):
            print(type(event).__name__, event.text)

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livewhisper.audio.decode import SAMPLE_RATE
from livewhisper.audio.sources import ArraySource, AudioSource, FileSource
from livewhisper.errors import ClosedError, LiveWhisperError
from livewhisper.events import Event, Status
from livewhisper.pcm import to_pcm16
from livewhisper.protocol import (
    Config,
    Encoding,
    End,
    ErrorMessage,
    FinalMessage,
    PartialMessage,
    ProtocolError,
    Ready,
    ServerMessage,
    StatusMessage,
    Subscribed,
    encode,
    parse_server_message,
)

__all__ = [
    "ListenSession",
    "ServerError",
    "captions",
    "listen",
    "send_source",
    "server_url",
    "stream",
]

OPEN_TIMEOUT = 15.0


class ServerError(LiveWhisperError):
    """The server reported an error that ended the session, or went away.

    ``code`` is the protocol's error code (``"busy"``, ``"unsupported_sample_rate"``...),
    or ``"closed"`` / ``"unauthorized"`` / ``"unreachable"`` for failures before or
    outside the protocol.

    Example::

        try:
            async with client.listen(url) as session: ...
        except client.ServerError as exc:
            if exc.code == "busy": ...
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


def server_url(server: str, path: str) -> str:
    """The WebSocket URL of ``path`` on ``server``; a URL that has a path keeps it.

    Example::

        >>> server_url("ws://127.0.0.1:8765", "/v1/listen")
        'ws://127.0.0.1:8765/v1/listen'
        >>> server_url("http://example.org:8765/?token=abc", "/v1/captions")
        'ws://example.org:8765/v1/captions?token=abc'
    """
    if "://" not in server:
        server = f"ws://{server}"
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise LiveWhisperError(f"not a server address: {server!r} (use ws://HOST:PORT)")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") or path, parts.query, ""))


async def _open(url: str, token: str | None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=OPEN_TIMEOUT,
            compression=None,
            max_size=2**22,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "refused")
        body = exc.response.body.decode(errors="replace").strip()
        raise ServerError(code, f"{url} refused the connection: {status} {body}") from None
    except (OSError, asyncio.TimeoutError) as exc:
        raise ServerError("unreachable", f"cannot connect to {url}: {exc}") from None


class ListenSession:
    """An open audio session (from :func:`listen`).

    Send audio with :meth:`send` while iterating over the events in another task, or
    send it all, :meth:`end`, then iterate: iteration ends at the server's ``end``, after
    the last final. Non-fatal errors the server reported collect in :attr:`notices`.
    Once closed (:meth:`close`, or the end of the ``listen`` block), sending, ending and
    iterating raise :class:`~livewhisper.errors.ClosedError`.

    Example::

        async with client.listen(url, language="en") as session:
            await session.send(samples)     # float or int16, at config.sample_rate
            await session.end()
            finals = [e async for e in session if isinstance(e, livewhisper.Final)]
    """

    def __init__(self, connection: ClientConnection, ready: Ready, config: Config) -> None:
        self.connection = connection
        self.ready = ready
        self.config = config
        self.notices: list[ErrorMessage] = []
        self.status: Status | None = None
        """The server's latest report of how far the text is behind (None before any)."""
        self._ended = False
        self._closed = False

    @property
    def id(self) -> str:
        """The session id the server gave (as seen on ``/v1/captions``)."""
        return self.ready.session

    @property
    def closed(self) -> bool:
        """Whether the session was closed (by :meth:`close` or the ``listen`` block)."""
        return self._closed

    async def send(self, audio: npt.ArrayLike | bytes) -> None:
        """Send mono audio at ``config.sample_rate``: raw bytes as they are, arrays
        converted to the session's encoding and cut into frames the server accepts.

        Raises :class:`~livewhisper.errors.ClosedError` once the session is closed.
        """
        self._check_open()
        if isinstance(audio, (bytes, bytearray, memoryview)):
            await self.connection.send(bytes(audio))
            return
        data = _encode_samples(np.asarray(audio), self.config.encoding)
        step = self.config.max_frame_bytes // 2  # half a second a frame, well under the limit
        for offset in range(0, len(data), step):
            await self.connection.send(data[offset : offset + step])

    async def end(self) -> None:
        """No more audio: the server flushes, sends the last finals, then ``end``.

        Raises :class:`~livewhisper.errors.ClosedError` once the session is closed.
        """
        self._check_open()
        if not self._ended:
            self._ended = True
            await self.connection.send(encode(End()))

    async def events(self) -> AsyncIterator[Event]:
        """Partials and finals until the server's ``end``; :class:`ServerError` if the
        session ends any other way, :class:`~livewhisper.errors.ClosedError` if it was
        closed here."""
        self._check_open()
        while True:
            message = await _next_message(self.connection)
            if isinstance(message, PartialMessage | FinalMessage):
                yield message.to_event()
            elif isinstance(message, StatusMessage):
                self.status = message.to_event()
            elif isinstance(message, ErrorMessage):
                if message.fatal:
                    raise ServerError(message.code, message.message)
                self.notices.append(message)
            elif isinstance(message, End):
                return

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    async def close(self) -> None:
        """Close the connection (without waiting for finals: :meth:`end` does that).

        Idempotent.
        """
        self._closed = True
        await self.connection.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"session {self.id} is closed: open another with listen()")


async def _next_message(connection: ClientConnection) -> ServerMessage:
    while True:
        try:
            frame = await connection.recv()
        except ConnectionClosed as exc:
            raise ServerError(
                "closed", f"the server closed the connection ({exc.rcvd or 'no close frame'})"
            ) from None
        if isinstance(frame, bytes):
            continue  # the server sends no binary frames in protocol 1
        try:
            message = parse_server_message(frame)
        except ProtocolError as exc:
            raise ServerError("invalid_message", str(exc)) from None
        if message is not None:
            return message


def _encode_samples(samples: npt.NDArray[Any], encoding: Encoding) -> bytes:
    if samples.ndim != 1:
        raise LiveWhisperError(f"send mono audio of shape (n,), not {samples.shape}")
    if encoding is Encoding.PCM_F32LE:
        return samples.astype("<f4", copy=False).tobytes()
    if samples.dtype == np.int16:
        return samples.astype("<i2", copy=False).tobytes()
    return to_pcm16(samples).tobytes()


@contextlib.asynccontextmanager
async def listen(
    server: str,
    *,
    token: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    encoding: str = "pcm_s16le",
    language: str | None = None,
    partials: bool = True,
    share: bool = False,
    model: str | None = None,
) -> AsyncIterator[ListenSession]:
    """Open an audio session on ``server``; the options are those of the ``config``
    message (see :class:`~livewhisper.protocol.Config`).

    Raises :class:`ServerError` if the server refuses (``busy``, a bad option, a token).

    Example::

        async with client.listen("ws://127.0.0.1:8765", sample_rate=48000) as session:
            print("session", session.id, "on", session.ready.model)
    """
    config = Config(sample_rate, Encoding(encoding), language, partials, share, model)
    connection = await _open(server_url(server, "/v1/listen"), token)
    try:
        # A server that refuses at once ('busy') may have closed before the config went
        # out: its error message, read next, says why.
        with contextlib.suppress(ConnectionClosed):
            await connection.send(encode(config))
        message = await asyncio.wait_for(_next_message(connection), OPEN_TIMEOUT)
        if isinstance(message, ErrorMessage):
            raise ServerError(message.code, message.message)
        if not isinstance(message, Ready):
            raise ServerError("invalid_message", f"expected 'ready', got {message!r}")
        session = ListenSession(connection, message, config)
        try:
            yield session
        finally:
            await session.close()
    finally:
        await connection.close()


async def stream(
    server: str,
    audio: AudioSource | npt.ArrayLike | str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    speed: float | None = 1.0,
    stop: asyncio.Event | None = None,
    token: str | None = None,
    language: str | None = None,
    partials: bool = True,
    share: bool = False,
    model: str | None = None,
) -> AsyncIterator[Event]:
    """Stream ``audio`` to ``server`` and yield its events until the last final.

    ``audio`` is a file path, an array at ``sample_rate``, or an
    :class:`~livewhisper.audio.AudioSource` such as a
    :class:`~livewhisper.audio.Microphone`. Files and arrays are sent at ``speed`` times
    real time (None: as fast as the connection takes them). Setting ``stop`` ends the
    audio early (the events of what was sent still arrive).

    Example::

        async for event in client.stream(url, livewhisper.Microphone(), stop=ctrl_c):
            print(event.text)
    """
    source = _as_source(audio, sample_rate, speed)
    async with listen(
        server,
        token=token,
        language=language,
        partials=partials,
        share=share,
        model=model,
    ) as session:
        sender = asyncio.create_task(send_source(session, source, stop))
        try:
            async for event in session:
                yield event
            await sender
        finally:
            source.close()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender


def _as_source(
    audio: AudioSource | npt.ArrayLike | str | Path, sample_rate: int, speed: float | None
) -> AudioSource:
    if isinstance(audio, AudioSource):
        return audio
    realtime = speed is not None
    pace = speed if speed is not None else 1.0
    if isinstance(audio, (str, Path)):
        return FileSource(audio, realtime=realtime, speed=pace)
    return ArraySource(audio, sample_rate, realtime=realtime, speed=pace)


async def send_source(
    session: ListenSession, source: AudioSource, stop: asyncio.Event | None = None
) -> None:
    """Send everything ``source`` gives (it is opened and closed here), then ``end``.

    The source is read on a thread of its own; ``stop`` ends it early.

    Example::

        async with client.listen(url) as session:
            sender = asyncio.create_task(client.send_source(session, Microphone()))
            async for event in session:
                print(event.text)
    """
    loop = asyncio.get_running_loop()
    blocks: asyncio.Queue[npt.NDArray[np.float32] | BaseException | None] = asyncio.Queue()

    def read() -> None:
        # Sources block (a microphone waits for the device): read them off the event loop.
        try:
            with source:
                while (block := source.read(0.1)) is not None:
                    if block.size:
                        loop.call_soon_threadsafe(blocks.put_nowait, block)
        except BaseException as exc:
            loop.call_soon_threadsafe(blocks.put_nowait, exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                loop.call_soon_threadsafe(blocks.put_nowait, None)

    reader = threading.Thread(target=read, name="livewhisper-client-reader", daemon=True)
    reader.start()
    stopper = asyncio.create_task(stop.wait()) if stop is not None else None
    if stopper is not None:
        stopper.add_done_callback(lambda _: source.close())
    try:
        while (item := await blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            await session.send(item)
    finally:
        if stopper is not None:
            stopper.cancel()
        source.close()
        # Even after a failed read: the server then delivers what it has and ends, and
        # whoever iterates over the session is not left waiting for the idle timeout.
        with contextlib.suppress(ConnectionClosed, ClosedError):
            await session.end()


async def captions(server: str, *, token: str | None = None) -> AsyncIterator[tuple[str, Event]]:
    """Follow ``/v1/captions``: ``(session, event)`` for every shared session's events.

    Runs until the server closes the feed (then raises :class:`ServerError`) or the
    caller stops iterating.

    Example::

        async for session, event in client.captions("ws://127.0.0.1:8765"):
            if isinstance(event, livewhisper.Final):
                print(session, event.text)
    """
    connection = await _open(server_url(server, "/v1/captions"), token)
    try:
        while True:
            message = await _next_message(connection)
            if isinstance(message, PartialMessage | FinalMessage):
                yield message.session or "", message.to_event()
            elif isinstance(message, ErrorMessage) and message.fatal:
                raise ServerError(message.code, message.message)
            elif isinstance(message, Subscribed | ErrorMessage | Ready | End | StatusMessage):
                continue
    finally:
        await connection.close()
