"""``serve --mic``: the server's own microphone (a PulseAudio virtual one here) captioned
for every listener of ``/v1/captions``, as session ``mic``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request

import pytest
from audio_fixtures import PulseServer, fixture_pulse_server  # noqa: F401
from conftest import EN, deadline, reference, wait_until
from server_fixtures import Session, collect, fixture_server_pool, running_server  # noqa: F401
from websockets.asyncio.client import connect

from livewhisper.server import MIC_SESSION, ModelPool
from livewhisper.wer import normalize, word_error_rate


def test_a_silent_microphone_is_up_for_listeners(
    pulse_server: PulseServer, server_pool: ModelPool
) -> None:
    with running_server(server_pool, mic=True, mic_device="pulse", language="en") as server:
        mic = server.server.microphone
        assert mic is not None
        wait_until(lambda: mic.stats.stream_seconds >= 0.5, 10, "half a second of stream")

        async def listen() -> list[dict[str, object]]:
            async with connect(f"{server.ws_url}/v1/captions") as websocket:
                return [json.loads(await websocket.recv())]

        messages = asyncio.run(listen())
        health = json.loads(urllib.request.urlopen(f"{server.url}healthz").read())
    assert health["mic"] is True
    assert [m["type"] for m in messages] == ["subscribed"]
    assert mic.source.overflow_samples == 0


@pytest.mark.slow
def test_microphone_captions_reach_listeners(
    pulse_server: PulseServer, server_pool: ModelPool
) -> None:
    with running_server(server_pool, mic=True, mic_device="pulse", language="en") as server:
        mic = server.server.microphone
        assert mic is not None
        # The stream's first callbacks: only then does playback count.
        wait_until(lambda: mic.stats.stream_seconds >= 0.2, 10, "the microphone stream")

        async def scenario() -> Session:
            listener = Session()
            async with connect(f"{server.ws_url}/v1/captions") as websocket:
                assert json.loads(await websocket.recv())["type"] == "subscribed"
                reader = asyncio.create_task(collect(websocket, listener))
                await asyncio.to_thread(
                    subprocess.run,
                    ["paplay", "-d", pulse_server.sink, str(EN / "jfk.wav")],
                    check=True,
                    timeout=deadline(30),
                    env=dict(os.environ, PULSE_SERVER=pulse_server.address),
                )
                end = time.monotonic() + deadline(20)
                while time.monotonic() < end and not normalize(listener.text).endswith(
                    "do for your country"
                ):
                    await asyncio.sleep(0.1)
                await websocket.close()
                await reader
            return listener

        listener = asyncio.run(scenario())
        health = json.loads(urllib.request.urlopen(f"{server.url}healthz").read())
    assert health["mic"] is True
    finals = listener.of_type("final")
    assert finals and all(m["session"] == MIC_SESSION for m in finals)
    assert word_error_rate(reference("jfk"), listener.text) <= 0.15, listener.text
