"""A server that holds under abuse (issue 23): the pace of live audio, per-client caps,
squatting sessions, and (slow) clients that flood pings or send audio far faster than
real time while an honest session still gets its captions in time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import threading
import time
from typing import Any, cast

import numpy as np
import pytest
from conftest import EN, deadline, read_wav
from server_fixtures import (  # noqa: F401
    MODEL,
    Session,
    collect,
    fixture_server_pool,
    running_server,
    stream_session,
)
from starlette.datastructures import UploadFile
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError
from livewhisper.protocol import ErrorCode
from livewhisper.server import ModelPool, ServerConfig
from livewhisper.server.errors import Busy
from livewhisper.server.jobs import Job, JobRegistry, JobState
from livewhisper.server.pacing import AudioPace, PaceLimits
from livewhisper.server.uploads import TranscriptionRequest

# -- the pace of live audio, without a server -------------------------------------------------


def test_audio_ahead_of_real_time_is_throttled_not_lost() -> None:
    pace = AudioPace(PaceLimits(max_ahead=2.0), now=100.0)
    assert pace.wait(100.0) == 0.0
    for _ in range(100):  # 2 s of 20 ms frames, all at once: within the head start
        pace.add(0.02, now=100.0)
    assert pace.wait(100.0) == pytest.approx(0.0)
    pace.add(1.0, now=100.0)  # one more second: read on only once it is due
    assert pace.wait(100.0) == pytest.approx(1.0)
    assert pace.wait(100.5) == pytest.approx(0.5) and pace.wait(101.0) == 0.0
    assert pace.received == pytest.approx(3.0)


def test_a_session_must_send_enough_audio() -> None:
    limits = PaceLimits(min_rate=0.5, window=10.0, first_audio=30.0)
    silent = AudioPace(limits, now=0.0)
    assert silent.check(29.9) is None and silent.next_check(0.0) == pytest.approx(10.0)
    error = silent.check(30.0)
    assert error is not None and error.code == ErrorCode.TOO_LITTLE_AUDIO

    # A squatter: a sample now and then keeps a connection open, not a session.
    squatter = AudioPace(limits, now=0.0)
    squatter.add(1 / 16000, now=1.0)
    assert squatter.check(10.9) is None
    error = squatter.check(11.0)
    assert error is not None and error.code.close_code == 1008

    # Real time passes every window; audio sent ahead counts for the next one.
    honest = AudioPace(limits, now=0.0)
    honest.add(8.0, now=1.0)
    for second in range(2, 60):
        assert honest.check(float(second)) is None
        if second > 14:
            honest.add(1.0, now=float(second))
    honest.finish()  # after end, nothing more is asked
    assert honest.check(1000.0) is None and honest.next_check(1000.0) == float("inf")


def test_a_session_may_be_limited_in_length() -> None:
    pace = AudioPace(PaceLimits(min_rate=0.0, max_length=60.0), now=0.0)
    assert pace.check(59.0) is None and pace.next_check(0.0) == pytest.approx(60.0)
    error = pace.check(60.0)
    assert error is not None and error.code == ErrorCode.SESSION_TOO_LONG


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_ahead": 0}, "max_ahead"),
        ({"min_audio_rate": 1.5}, "min_audio_rate"),
        ({"max_session_seconds": -1.0}, "max_session_seconds"),
        ({"max_sessions_per_client": 0}, "max_sessions_per_client"),
        ({"max_uploads_per_client": 0}, "max_uploads_per_client"),
        ({"max_output_bytes": 0}, "max_output_bytes"),
        ({"max_pings_per_second": float("nan")}, "max_pings_per_second"),
        ({"request_timeout": 0}, "request_timeout"),
    ],
)
def test_abuse_limits_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**options)


def test_one_address_never_holds_every_slot_by_default() -> None:
    assert ServerConfig(max_sessions=4).sessions_per_client == 3
    assert ServerConfig(max_sessions=1).sessions_per_client == 1
    assert ServerConfig(max_sessions=4, max_sessions_per_client=4).sessions_per_client == 4
    pace = ServerConfig(max_ahead=3, min_audio_rate=0.25, max_session_seconds=600).pace
    assert (pace.max_ahead, pace.min_rate, pace.max_length) == (3.0, 0.25, 600.0)


# -- squatters, on a server --------------------------------------------------------------------


async def _squat(url: str, source: str, frames: list[str | bytes]) -> tuple[Any, Session]:
    """A /v1/listen connection from ``source`` that sent ``frames``; its messages recorded."""
    websocket = await connect(f"{url}/v1/listen", compression=None, local_addr=(source, 0))
    with contextlib.suppress(ConnectionClosed):  # a refused one is closed at once
        for frame in frames:
            await websocket.send(frame)
    session = Session()
    return websocket, session


@pytest.mark.slow
def test_squatters_from_one_address_leave_room_for_another(server_pool: ModelPool) -> None:
    with running_server(
        server_pool, max_sessions=4, idle_timeout=30.0, min_audio_rate=0.5
    ) as server:
        url = server.ws_url
        config = '{"type": "config", "language": "en"}'

        async def scenario() -> dict[str, Any]:
            squatters = []
            for _ in range(4):
                websocket, session = await _squat(url, "127.0.0.1", [config, b"\0\0"])
                squatters.append(
                    (websocket, session, asyncio.create_task(collect(websocket, session)))
                )
            await asyncio.sleep(0.5)
            # The fourth from the same address was refused: three is its share of four.
            refused = squatters[3][1]
            await asyncio.wait_for(squatters[3][2], deadline(10))
            # Another address still gets a session, at once.
            other = await connect(f"{url}/v1/listen", compression=None, local_addr=("127.0.0.2", 0))
            await other.send(config)
            ready = json.loads(await asyncio.wait_for(other.recv(), deadline(10)))
            await other.close()
            # The squatters send two bytes now and then: they are dropped within a window.
            for websocket, _, _ in squatters[:3]:
                await websocket.send(b"\0\0")
            await asyncio.wait_for(asyncio.gather(*(t for _, _, t in squatters[:3])), deadline(30))
            health = json.loads(await asyncio.to_thread(_health, server.url))
            info = json.loads(await asyncio.to_thread(_health, server.url, "v1/info"))
            return {
                "refused": refused,
                "ready": ready,
                "squatters": squatters,
                "health": health,
                "limits": info["limits"],
            }

        results = asyncio.run(scenario())
    refused: Session = results["refused"]
    assert [e["code"] for e in refused.of_type("error")] == ["busy"]
    assert "this address" in refused.of_type("error")[0]["message"]
    assert refused.close_code == 1013
    assert results["ready"]["type"] == "ready"
    assert results["limits"]["max_sessions_per_client"] == 3
    for _, session, _ in results["squatters"][:3]:
        assert [e["code"] for e in session.of_type("error")] == ["too_little_audio"]
        assert session.close_code == 1008
    assert results["health"]["sessions"] == 0  # every slot free the moment they ended


def _health(url: str, path: str = "healthz") -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}{path}", timeout=deadline(10)) as response:
        body: str = response.read().decode()
    return body


# -- clients that flood pings and never read ---------------------------------------------------


def _flood_pings(
    port: int, path: str, seconds: float, *, until_dropped: bool = False
) -> list[float]:
    """For ``seconds``, open ``path`` with a raw socket and send masked pings as fast as
    the socket takes them, never reading the pongs; once dropped, connect again (or stop,
    ``until_dropped``). The seconds each connection lasted (until the server dropped it,
    or the end)."""
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"p" * 125))
    burst = (bytes([0x89, 0x80 | 125]) + mask + payload) * 64
    lasted = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # pongs stay on the server
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(1)  # the handshake only, byte by byte: nothing after it
            assert answer.startswith(b"HTTP/1.1 101"), answer
            start = time.monotonic()
            try:
                while time.monotonic() < end:
                    sock.sendall(burst)
            except OSError:  # reset, or no room for 5 s: the server dropped it
                lasted.append(time.monotonic() - start)
            else:
                lasted.append(time.monotonic() - start)  # not dropped before the end
        finally:
            sock.close()
        if until_dropped:
            break
    return lasted


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param({}, id="ping rate"),
        # About 5 s: the loopback socket buffers fill before the server's own 200 kB do.
        pytest.param(
            {"max_pings_per_second": 1e6, "max_output_bytes": 200_000},
            id="unread output",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_client_that_never_reads_is_dropped(
    server_pool: ModelPool, limits: dict[str, Any]
) -> None:
    with running_server(server_pool, **limits) as server:
        # Flooded for twice as long as it may take: a connection not dropped fails.
        lasted = _flood_pings(
            server.server.port, "/v1/captions", deadline(20.0), until_dropped=True
        )
        health = json.loads(_health(server.url))
    assert lasted and lasted[0] < deadline(10.0), lasted
    assert health["listeners"] <= 1


@pytest.mark.slow
def test_ping_flooders_are_dropped_while_an_honest_session_goes_on(
    server_pool: ModelPool, jfk: np.ndarray
) -> None:
    speech = np.concatenate([jfk, jfk])  # 22 s: the flood's length, nearly
    with running_server(server_pool, max_sessions=4) as server:
        # A first session warms the workers (their decode buffers) and the server up.
        warm = asyncio.run(stream_session(server.ws_url, speech, speed=4.0))
        assert warm.of_type("final")
        before = _rss()

        async def scenario() -> tuple[list[list[float]], Session]:
            floods = [
                asyncio.to_thread(_flood_pings, server.server.port, path, 25.0)
                for path in ("/v1/captions", "/v1/listen", "/v1/captions")
            ]
            honest = stream_session(server.ws_url, speech, config={"language": "en"})
            *lasted, session = await asyncio.gather(*floods, honest)
            return lasted, session

        lasted, session = asyncio.run(scenario())
        grown = _rss() - before
    longest = max(max(each) for each in lasted)
    print(
        f"{sum(map(len, lasted))} flooding connections, each dropped within {longest:.2f} s; "
        f"RSS grew {grown / 1e6:.1f} MB"
    )
    assert all(lasted) and longest < deadline(10.0), lasted
    assert grown < 50_000_000
    assert len(session.of_type("final")) >= 2 and session.types[-1] == "end", session.types
    assert "error" not in session.types


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- clients that send audio far faster than real time ------------------------------------------


async def _timed_session(url: str, pcm: bytes) -> tuple[Session, float]:
    """Send int16 ``pcm`` at real time in 20 ms frames, then ``end``; the session and the
    monotonic time of its first frame."""
    session = Session()
    async with connect(f"{url}/v1/listen", compression=None) as websocket:
        receiver = asyncio.create_task(collect(websocket, session))
        await websocket.send(json.dumps({"type": "config", "language": "en", "partials": False}))
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), 640)):
            delay = start + index * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await websocket.send(pcm[offset : offset + 640])
        await websocket.send('{"type": "end"}')
        await asyncio.wait_for(receiver, deadline(120))
    return session, start


def _final_lags(session: Session, start: float) -> list[float]:
    """Seconds from the end of each final's audio (as spoken) to its arrival."""
    pairs = zip(session.messages, session.times, strict=True)
    return [at - (start + m["end"]) for m, at in pairs if m["type"] == "final"]


async def _burst(url: str, pcm: bytes, seconds: float) -> float:
    """Send ``pcm`` (looped) at 100 x real time for ``seconds``, then hang up; the seconds
    of audio the server took."""
    frames = [pcm[i : i + 6400] for i in range(0, len(pcm), 6400)]  # 200 ms each
    sent = 0.0
    end = time.monotonic() + seconds
    with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
        async with connect(f"{url}/v1/listen", compression=None) as websocket:
            reader = asyncio.create_task(collect(websocket, Session()))  # reads what it is told
            await websocket.send(json.dumps({"type": "config", "language": "en"}))
            start = time.monotonic()
            index = 0
            while time.monotonic() < end:
                delay = start + sent / 100 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                # Throttled, a send waits on TCP: stop at the end all the same.
                left = max(0.05, end - time.monotonic())
                await asyncio.wait_for(websocket.send(frames[index % len(frames)]), left)
                sent += 0.2
                index += 1
            reader.cancel()
    return sent


@pytest.mark.slow
def test_bursts_far_faster_than_real_time_do_not_delay_an_honest_session(
    server_pool: ModelPool,
) -> None:
    gap = np.zeros(24000, np.float32)  # 1.5 s pauses: a final after each clip
    clips = ["jfk", "libri_61-70968-0000", "ps_0870"]
    speech = np.concatenate(
        [part for name in clips for part in (read_wav(EN / f"{name}.wav"), gap)]
    )
    noise = np.concatenate([read_wav(EN / "mfa_acoustic_corpus.wav")] * 4)
    pcm, burst = (
        (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes() for audio in (speech, noise)
    )
    with running_server(server_pool, max_sessions=4, max_sessions_per_client=4) as server:
        url = server.ws_url

        async def scenario() -> tuple[list[float], list[float], list[float], float]:
            alone = _final_lags(*await _timed_session(url, pcm))
            bursts = [asyncio.create_task(_burst(url, burst, 25.0)) for _ in range(3)]
            attacked = _final_lags(*await _timed_session(url, pcm))
            taken = await asyncio.gather(*bursts)
            ended = time.monotonic()
            limit = ended + deadline(10.0)
            while time.monotonic() < limit:
                health = json.loads(await asyncio.to_thread(_health, server.url))
                if health["busy_workers"] == health["waiting_decodes"] == health["sessions"] == 0:
                    break
                await asyncio.sleep(0.1)
            return alone, attacked, taken, time.monotonic() - ended

        alone, attacked, taken, idle_after = asyncio.run(scenario())
    print(
        f"final lags alone {[round(x, 2) for x in alone]} s, beside three 100x bursts "
        f"{[round(x, 2) for x in attacked]} s; the bursts sent {[round(t) for t in taken]} s "
        f"of audio each; workers idle {idle_after:.2f} s after they ended"
    )
    assert len(attacked) == len(alone) >= 3
    # The target is itself a ratio of times: medians, with half a second (scaled) of slack.
    assert np.median(attacked) <= 2 * np.median(alone) + deadline(0.5), (alone, attacked)
    assert idle_after < deadline(10.0)


# -- uploads: per-client caps, fairness, deadlines --------------------------------------------


def test_file_jobs_are_capped_per_client_and_taken_round_robin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    release = threading.Event()

    def run(job: Job) -> None:
        order.append(job.request.file.filename)
        release.wait(deadline(10))
        job._post(state=JobState.CANCELLED)

    monkeypatch.setattr(Job, "_run", run)

    async def scenario() -> None:
        config = ServerConfig(max_jobs=1, max_waiting_jobs=8, max_uploads_per_client=3)
        registry = JobRegistry(cast(ModelPool, object()), config)

        def submit(name: str, client: str) -> Job:
            upload = UploadFile(io.BytesIO(b"x"), size=1, filename=name)
            return registry.submit(
                TranscriptionRequest(upload, MODEL, DecodeOptions()), 1.0, client
            )

        jobs = [submit(f"a{i}", "10.0.0.1") for i in range(3)]
        with pytest.raises(Busy, match="this address"):
            submit("a3", "10.0.0.1")
        registry.check_room("10.0.0.2")  # another address still has room
        jobs += [submit("b0", "10.0.0.2"), submit("b1", "10.0.0.2")]
        await asyncio.sleep(0.1)
        # What each queued job's stream says: how many start before it.
        assert [registry.ahead(job) for job in jobs] == [0, 1, 3, 0, 2]
        release.set()
        await asyncio.wait_for(
            asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True), deadline(10)
        )
        await registry.close()

    asyncio.run(scenario())
    # a0 was running when the others came; then the client served least recently, in turn.
    assert order == ["a0", "b0", "a1", "b1", "a2"]


def test_an_upload_must_arrive_whole_within_the_request_timeout(server_pool: ModelPool) -> None:
    with running_server(server_pool, request_timeout=1.0, body_timeout=60.0) as server:
        sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=deadline(10))
        boundary = "lw"
        sock.sendall(
            (
                f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Content-Length: 100000\r\n\r\n"
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                'filename="a.wav"\r\n\r\n'
            ).encode()
        )
        answer = b""
        start = time.monotonic()
        sock.settimeout(0.2)
        # Until the whole answer is in: its JSON body may come in a packet of its own.
        while not answer.endswith(b"}") and time.monotonic() - start < deadline(10):
            with contextlib.suppress(TimeoutError):
                sock.sendall(b"x")  # a byte now and then: never silent for long
                answer += sock.recv(4096)
        sock.close()
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"timeout"' in answer or b"timeout" in answer
