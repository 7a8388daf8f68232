"""Shared helpers for the caption server tests: a model pool, servers on free ports, and a
raw protocol-1 client that records every message with its arrival time.

Fixtures follow audio_fixtures.py's convention: ``fixture_x`` defines fixture ``x``; import
it with ``# noqa: F401`` and take ``x`` in the tests.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import deadline
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livewhisper.server import ModelPool, ServerConfig, ServerThread

MODEL = "tiny.en-q8_0"


@pytest.fixture(scope="module", name="server_pool")
def fixture_server_pool(model_cache: Path) -> Iterator[ModelPool]:
    """Two single-threaded model workers (the machine has two cores), shared by servers."""
    pool = ModelPool([MODEL], workers=2, threads=1).start()
    yield pool
    pool.close()


@contextmanager
def running_server(pool: ModelPool, **options: Any) -> Iterator[ServerThread]:
    """A caption server on a free loopback port, on its own thread, with ``options``."""
    config = ServerConfig(port=0, models=(MODEL,), **options)
    with ServerThread(config, pool=pool) as server:
        yield server


def http_request(
    server: ServerThread,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    """One HTTP request to ``server`` on a fresh connection: the status, headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server.port, timeout=deadline(60))
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@dataclass
class Session:
    """What one raw session received: messages (with monotonic arrival times), close code."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    close_code: int | None = None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.messages]

    @property
    def text(self) -> str:
        return " ".join(m["text"] for m in self.of_type("final"))


async def collect(websocket: Any, into: Session) -> None:
    """Record messages until the connection closes."""
    try:
        async for frame in websocket:
            into.messages.append(json.loads(frame))
            into.times.append(time.monotonic())
    except ConnectionClosed:
        pass
    into.close_code = websocket.close_code


async def stream_session(
    url: str,
    audio: np.ndarray,
    *,
    speed: float = 1.0,
    frame_seconds: float = 0.02,
    config: dict[str, Any] | None = None,
) -> Session:
    """Send ``audio`` (16 kHz float) as int16 frames paced at ``speed`` x real time, then
    ``end``; return everything the server said."""
    session = Session()
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    step = int(16000 * frame_seconds)
    async with connect(f"{url}/v1/listen", compression=None) as websocket:
        receiver = asyncio.create_task(collect(websocket, session))
        await websocket.send(json.dumps({"type": "config", **(config or {})}))
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            delay = start + index * frame_seconds / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await websocket.send(pcm[offset : offset + step].tobytes())
        await websocket.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(receiver, deadline(120))
    return session


async def eventually(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` every 10 ms without blocking the event loop; fail after
    ``deadline(seconds)``."""
    give_up = time.monotonic() + deadline(seconds)
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"timed out after {deadline(seconds):g} s waiting for {what}")
        await asyncio.sleep(0.01)


async def raw_session(
    url: str, frames: list[str | bytes], *, timeout: float = 30, token: str | None = None
) -> Session:
    """Send ``frames`` on a new ``/v1/listen`` connection, then record until it closes."""
    session = Session()
    query = f"?token={token}" if token else ""
    async with connect(f"{url}/v1/listen{query}", compression=None) as websocket:
        receiver = asyncio.create_task(collect(websocket, session))
        for frame in frames:
            try:
                await websocket.send(frame)
            except ConnectionClosed:
                break
        await asyncio.wait_for(receiver, deadline(timeout))
    return session
