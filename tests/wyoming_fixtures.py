"""A Wyoming server on a free loopback port, and a client that streams a clip to it with
the ``wyoming`` package's own async TCP client, recording every event and its arrival.

Fixtures follow audio_fixtures.py's convention: ``fixture_x`` defines fixture ``x``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr
from conftest import deadline
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from livewhisper.audio import to_pcm16
from livewhisper.server import ModelPool
from livewhisper.server.wyoming_server import WyomingConfig, WyomingServer


@asynccontextmanager
async def wyoming_server(pool: ModelPool, **options: Any) -> AsyncIterator[WyomingServer]:
    """A Wyoming server on a free loopback port sharing ``pool``."""
    config = WyomingConfig(uri="tcp://127.0.0.1:0", models=pool.models, **options)
    async with WyomingServer(config, pool=pool) as server:
        yield server


def port_of(server: WyomingServer) -> int:
    return int(server.uri.rsplit(":", 1)[1])


def as_pcm(audio: np.ndarray, rate: int, channels: int) -> bytes:
    """16 kHz mono float ``audio`` as 16-bit PCM at ``rate`` Hz with ``channels`` equal
    channels (resampled with soxr here, not with the code under test)."""
    if rate != 16000:
        audio = soxr.resample(audio, 16000, rate)
    pcm = to_pcm16(audio)
    return np.repeat(pcm[:, None], channels, axis=1).tobytes()


@dataclass
class Exchange:
    """What one transcription received: events with monotonic arrival times, and when
    the client sent ``audio-stop``."""

    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    stop_sent: float = float("inf")

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def before_stop(self, kind: str) -> list[Event]:
        """The ``kind`` events that arrived before the client sent ``audio-stop``."""
        return [
            e
            for e, t in zip(self.events, self.times, strict=True)
            if e.type == kind and t < self.stop_sent
        ]

    @property
    def transcript(self) -> str:
        return str(self.of_type("transcript")[0].data["text"])

    @property
    def chunk_text(self) -> str:
        return "".join(e.data["text"] for e in self.of_type("transcript-chunk"))


async def transcribe(
    port: int,
    audio: np.ndarray,
    *,
    rate: int = 16000,
    channels: int = 1,
    samples_per_chunk: int = 1024,
    speed: float | None = None,
    language: str | None = "en",
    model: str | None = None,
) -> Exchange:
    """Send ``audio`` (16 kHz mono float) as ``rate``/``channels`` 16-bit chunks of
    ``samples_per_chunk`` frames, ``speed`` x real time (None: at once), and read events
    until ``transcript-stop`` (or an ``error``)."""
    pcm = as_pcm(audio, rate, channels)
    step = samples_per_chunk * 2 * channels
    exchange = Exchange()

    async with AsyncTcpClient("127.0.0.1", port) as client:

        async def read() -> None:
            while True:
                event = await client.read_event()
                if event is None:
                    return
                exchange.events.append(event)
                exchange.times.append(time.monotonic())
                if event.type in ("transcript-stop", "error"):
                    return

        reader = asyncio.create_task(read())
        await client.write_event(Transcribe(name=model, language=language).event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        t0 = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            if speed is not None:
                due = t0 + index * samples_per_chunk / rate / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await client.write_event(
                AudioChunk(rate, 2, channels, pcm[offset : offset + step]).event()
            )
        await client.write_event(AudioStop().event())
        exchange.stop_sent = time.monotonic()
        await asyncio.wait_for(reader, deadline(120))
    return exchange
