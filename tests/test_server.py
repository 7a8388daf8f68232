"""The caption server over real connections on 127.0.0.1: HTTP routes, sessions at real-time
pace against offline decoding, many listeners, every malformed input, limits and safety,
and the ``serve`` and ``listen`` commands."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EN, REPO, deadline, read_wav, reference
from server_fixtures import (  # noqa: F401
    Session,
    collect,
    eventually,
    fixture_server_pool,
    raw_session,
    running_server,
    stream_session,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from livewhisper.cli.main import main
from livewhisper.engine import DecodeOptions
from livewhisper.events import Final
from livewhisper.server import ModelPool, ServerConfig, ServerThread
from livewhisper.wer import normalize, word_error_rate

CLIPS = ["jfk", "ps_0870", "libri_61-70968-0000"]


@pytest.fixture(scope="module", name="server")
def fixture_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    """The main test server: three sessions at most."""
    with running_server(server_pool, max_sessions=3, max_sessions_per_client=3) as server:
        yield server


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=deadline(10)) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _offline(pool: ModelPool, audio: np.ndarray) -> str:
    # The same model on the same single-threaded workers: whisper.cpp's threads spin while
    # they wait for each other, so a two-thread decode crawls on a busy two-core machine.
    return pool.engine().transcribe(audio, DecodeOptions(language="en")).text


def _check_matches_offline(pool: ModelPool, audio: np.ndarray, live: str) -> None:
    """Live text within 10% WER of offline decoding of one clip (a word or two of a
    clip's 20-odd may differ: see the three-session test)."""
    offline = _offline(pool, audio)
    assert word_error_rate(offline, live) <= 0.1, (offline, live)


def _check_session(session: Session, duration: float) -> None:
    """Ready first, finals with words inside the audio, end last, then a normal close."""
    assert session.types[0] == "ready", session.messages[:3]
    assert session.messages[0]["protocol"] == 1 and session.messages[0]["sample_rate"] == 16000
    assert session.types[-1] == "end", session.types
    assert session.close_code == 1000
    assert "error" not in session.types, session.of_type("error")
    finals = session.of_type("final")
    assert finals, session.types
    for final in finals:
        assert 0 <= final["start"] <= final["end"] <= duration + 0.05
        assert final["words"] and final["words"][0]["start"] == final["start"]
        assert {"word", "start", "end", "probability"} <= final["words"][0].keys()


# -- HTTP ----------------------------------------------------------------------------------


def test_page_static_files_health_and_info(server: ServerThread) -> None:
    status, headers, body = _get(server.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/static/app.js"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    files = [("app.js", "javascript"), ("worklet.js", "javascript"), ("style.css", "css")]
    for name, kind in files:
        status, headers, body = _get(f"{server.url}static/{name}")
        assert status == 200 and kind in headers["Content-Type"] and body
    status, _, body = _get(f"{server.url}healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["max_sessions"] == 3
    status, _, body = _get(f"{server.url}v1/info")
    info = json.loads(body)
    assert info["models"] == [{"name": "tiny.en-q8_0", "multilingual": False}]
    assert info["protocol"] == 1 and info["default_model"] == "tiny.en-q8_0"
    assert _get(f"{server.url}nope")[0] == 404
    assert _get(f"{server.url}static/../app.py")[0] == 404
    assert _get(f"{server.url}v1/listen")[0] == 426  # a WebSocket route, not a page
    # DNS rebinding: a foreign name pointed at 127.0.0.1 is turned away.
    assert _get(server.url, {"Host": f"evil.example:{server.server.port}"})[0] == 403


# -- sessions ------------------------------------------------------------------------------


@pytest.mark.slow
def test_session_at_real_time_pace_matches_offline_decoding(
    server: ServerThread, server_pool: ModelPool
) -> None:
    audio = read_wav(EN / "jfk.wav")
    session = asyncio.run(stream_session(server.ws_url, audio, config={"language": "en"}))
    _check_session(session, len(audio) / 16000)
    _check_matches_offline(server_pool, audio, session.text)
    assert session.of_type("partial"), "partial text should arrive while speech goes on"
    # The last final was delivered before end, and nothing after it.
    last_final = max(i for i, t in enumerate(session.types) if t == "final")
    assert session.types[last_final + 1 :] == ["end"]


async def _stalled_listener(url: str) -> socket.socket:
    """A caption listener that completes the handshake and then never reads again."""
    sock = await asyncio.to_thread(_handshake, url, "/v1/captions")
    # A small receive buffer fills at once: from then on, the server's writes pile up.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@pytest.mark.slow
def test_fifty_listeners_and_three_sessions_at_once(
    server: ServerThread, server_pool: ModelPool
) -> None:
    clips = [read_wav(EN / f"{name}.wav") for name in CLIPS]

    async def scenario() -> tuple[list[Session], list[Session], dict[str, Any]]:
        listeners = [Session() for _ in range(49)]
        sockets = [await connect(f"{server.ws_url}/v1/captions") for _ in listeners]
        for websocket in sockets:  # subscribed: events from now on reach it
            assert json.loads(await websocket.recv())["type"] == "subscribed"
        stalled = await _stalled_listener(server.ws_url)
        tasks = [
            asyncio.create_task(collect(w, s)) for w, s in zip(sockets, listeners, strict=True)
        ]
        sessions = await asyncio.gather(
            *(
                stream_session(server.ws_url, clip, config={"share": True, "language": "en"})
                for clip in clips
            )
        )
        _, _, body = _get(f"{server.url}healthz")
        shared = sum(len(session.of_type("final")) for session in sessions)
        await eventually(
            lambda: all(len(listener.of_type("final")) >= shared for listener in listeners),
            30,
            "the last finals to reach the listeners",
        )
        for websocket in sockets:
            await websocket.close()
        await asyncio.gather(*tasks)
        stalled.close()
        return list(sessions), listeners, json.loads(body)

    sessions, listeners, health = asyncio.run(scenario())
    assert health["listeners"] == 50
    for session, clip in zip(sessions, clips, strict=True):
        _check_session(session, len(clip) / 16000)
    # Judged over the three sessions (61 words), not each clip: with flash attention,
    # whisper.cpp reads encoder rows left over from the context's previous decode
    # (whisper.cpp PR #3941), so which session's decode ran before which on a worker
    # can flip a word or two of a 22-word clip ("in his" / "and is").
    offline = " ".join(_offline(server_pool, clip) for clip in clips)
    live = " ".join(session.text for session in sessions)
    assert word_error_rate(offline, live) <= 0.1, (offline, live)
    ids = [session.messages[0]["session"] for session in sessions]
    assert len(set(ids)) == 3
    for listener in listeners:
        for session_id, session in zip(ids, sessions, strict=True):
            finals = [m for m in listener.of_type("final") if m["session"] == session_id]
            assert [m["text"] for m in finals] == [m["text"] for m in session.of_type("final")]
    # Live, not batched: each final reached every listener before its session heard the
    # next one (seconds of speech later).
    for session_id, session in zip(ids, sessions, strict=True):
        for final, next_at in zip(
            session.of_type("final")[:-1], _final_times(session)[1:], strict=True
        ):
            for listener in listeners:
                index = listener.messages.index({**final, "session": session_id})
                assert listener.times[index] < next_at


def _handshake(url: str, path: str) -> socket.socket:
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=deadline(10))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(1024)
    assert reply.startswith(b"HTTP/1.1 101"), reply
    return sock


def _announce_huge_frame(url: str) -> int:
    """Start a 4 MiB binary frame (beyond any sane limit); return the close code received."""
    with _handshake(url, "/v1/listen") as sock:
        # FIN + binary, masked, 64-bit length; the server judges by the header alone.
        sock.sendall(bytes([0x82, 0x80 | 127]) + (4 << 20).to_bytes(8, "big") + b"\0" * 4)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if data[:1] == b"\x88" and len(data) >= 4:
                break
    assert data[:1] == b"\x88", data  # a close frame
    return int.from_bytes(data[2:4], "big")


def _final_times(session: Session) -> list[float]:
    return [t for m, t in zip(session.messages, session.times, strict=True) if m["type"] == "final"]


def test_a_stalled_listener_is_dropped_while_others_get_everything(
    server_pool: ModelPool,
) -> None:
    # Finals big enough to fill the stalled peer's socket buffers, so that its sender really
    # blocks; the hub must then drop it, and the other listener must not notice.
    with running_server(server_pool, max_queued_finals=20) as server:

        async def scenario() -> tuple[Session, int]:
            good = await connect(f"{server.ws_url}/v1/captions", max_size=None)
            assert json.loads(await good.recv())["type"] == "subscribed"
            stalled = await _stalled_listener(server.ws_url)
            received = Session()
            reader = asyncio.create_task(collect(good, received))

            async def flood() -> None:
                hub = server.server.hub
                for i in range(400):
                    hub.publish("flood", Final(f"{i} " + "x" * 16000, float(i), i + 1.0))
                    await asyncio.sleep(0.002)

            await asyncio.to_thread(server.call, flood, deadline(60))
            dropped = server.server.hub.dropped
            await eventually(lambda: len(received.of_type("final")) == 400, 30, "every final")
            await good.close()
            await reader
            stalled.close()
            return received, dropped

        received, dropped = asyncio.run(scenario())
    finals = received.of_type("final")
    assert [int(m["text"].split()[0]) for m in finals] == list(range(400))
    assert dropped == 1


@pytest.mark.slow
def test_malformed_inputs_each_get_their_error_while_a_good_session_runs(
    server: ServerThread, server_pool: ModelPool
) -> None:
    audio = read_wav(EN / "jfk.wav")
    speech = (audio[8000:24000] * 32767).astype("<i2").tobytes()
    config = json.dumps({"type": "config"})
    end = json.dumps({"type": "end"})
    cases: list[tuple[str, list[str | bytes], int]] = [
        ("invalid_json", ["{oops"], 1007),
        ("invalid_json", ["[1, 2]"], 1007),
        ("unsupported_sample_rate", ['{"type":"config","sample_rate":1000}'], 1008),
        ("unsupported_sample_rate", ['{"type":"config","sample_rate":44100.5}'], 1008),
        ("unsupported_encoding", ['{"type":"config","encoding":"mp3"}'], 1008),
        ("invalid_config", ['{"type":"config","partials":"yes"}'], 1008),
        ("unsupported_language", ['{"type":"config","language":"es"}'], 1008),
        ("unsupported_language", ['{"type":"config","language":"xx"}'], 1008),
        ("unknown_model", ['{"type":"config","model":"large-v3"}'], 1008),
        ("invalid_frame_length", [config, b"\x00\x01\x02"], 1007),
        ("invalid_frame_length", ['{"type":"config","encoding":"pcm_f32le"}', b"\0" * 6], 1007),
        ("invalid_audio", ['{"type":"config","encoding":"pcm_f32le"}', b"\0\0\xc0\x7f"], 1007),
        ("frame_too_large", [config, b"\0" * 32002], 1009),
        ("frame_too_large", ["x" * 5000], 1009),
        ("unexpected_config", [config, speech[:640], config], 1008),
    ]

    async def scenario() -> tuple[Session, list[Session], Session, Session, int]:
        good = asyncio.create_task(
            stream_session(server.ws_url, audio, speed=1.5, config={"language": "en"})
        )
        await eventually(lambda: server.server.health()["sessions"] == 1, 30, "the good session")
        bad = [await raw_session(server.ws_url, frames) for _, frames, _ in cases]
        # Harmless mistakes: reported, and the session goes on to a normal end.
        unknown = await raw_session(server.ws_url, ['{"type":"hello"}', end])
        after_end = await raw_session(server.ws_url, [config, speech, end, speech])
        # Bigger than websockets' own limit: refused by the library (1009), no message.
        huge = await asyncio.to_thread(_announce_huge_frame, server.ws_url)
        return await good, bad, unknown, after_end, huge

    good, bad, unknown, after_end, huge = asyncio.run(scenario())
    for (code, _, close_code), session in zip(cases, bad, strict=True):
        errors = session.of_type("error")
        assert [e["code"] for e in errors] == [code], (code, session.messages)
        assert errors[0]["message"]
        assert session.close_code == close_code, (code, session.close_code)
    assert unknown.types == ["error", "ready", "end"] and unknown.close_code == 1000
    assert unknown.messages[0]["code"] == "unknown_type"
    assert "audio_after_end" in [e["code"] for e in after_end.of_type("error")]
    assert after_end.types[-1] == "end" and after_end.close_code == 1000
    assert huge == 1009
    _check_session(good, len(audio) / 16000)
    _check_matches_offline(server_pool, audio, good.text)
    assert json.loads(_get(f"{server.url}healthz")[2])["sessions"] == 0


def test_busy_idle_timeout_token_and_origin(server_pool: ModelPool) -> None:
    with running_server(server_pool, max_sessions=1, idle_timeout=1.0, token="s3cret") as server:
        url = server.ws_url

        async def scenario() -> dict[str, Any]:
            results: dict[str, Any] = {}
            for name, target, headers in [
                ("none", f"{url}/v1/listen", None),
                ("wrong", f"{url}/v1/listen?token=nope", None),
                ("wrong header", f"{url}/v1/captions", {"Authorization": "Bearer nope"}),
            ]:
                with pytest.raises(InvalidStatus) as caught:
                    await connect(target, additional_headers=headers)
                results[name] = caught.value.response.status_code
            with pytest.raises(InvalidStatus) as caught:
                await connect(f"{url}/v1/listen?token=s3cret", origin="http://evil.example")
            results["foreign origin"] = caught.value.response.status_code
            host = url.removeprefix("ws://")
            async with connect(  # the server's own page may connect
                f"{url}/v1/captions?token=s3cret", origin=f"http://{host}"
            ) as websocket:
                results["own origin"] = json.loads(await websocket.recv())["type"]
            headers = {"Authorization": "Bearer s3cret"}
            async with connect(f"{url}/v1/listen", additional_headers=headers) as first:
                # It takes the only place, then stays silent until the idle timeout.
                results["busy"] = await raw_session(url, [], token="s3cret", timeout=10)
                idle = Session()
                await asyncio.wait_for(collect(first, idle), deadline(10))
                results["idle"] = idle
            return results

        results = asyncio.run(scenario())
    assert results["none"] == results["wrong"] == results["wrong header"] == 401
    assert results["foreign origin"] == 403
    assert results["own origin"] == "subscribed"
    busy: Session = results["busy"]
    assert [e["code"] for e in busy.of_type("error")] == ["busy"]
    assert busy.close_code == 1013
    idle: Session = results["idle"]
    assert [e["code"] for e in idle.of_type("error")] == ["idle_timeout"]
    assert idle.close_code == 1001


def test_python_client_streams_and_follows_captions(server: ServerThread) -> None:
    from livewhisper import client

    async def scenario() -> tuple[list[Final], list[tuple[str, Final]]]:
        shared: list[tuple[str, Final]] = []

        async def follow() -> None:
            async for session, event in client.captions(server.ws_url):
                if isinstance(event, Final):
                    shared.append((session, event))

        hub = server.server.hub
        before = len(hub)
        follower = asyncio.create_task(follow())
        await eventually(lambda: len(hub) > before, 30, "the follower to subscribe")
        finals = [
            event
            async for event in client.stream(
                server.ws_url, EN / "ps_0890.wav", speed=None, language="en", share=True
            )
            if isinstance(event, Final)
        ]
        await eventually(lambda: len(shared) == len(finals), 30, "the finals to be shared")
        follower.cancel()
        return finals, shared

    finals, shared = asyncio.run(scenario())
    # At most 5 of the clip's 14 words. Decoded whole, tiny.en reads "ill disposed" as
    # "old-sposed" (2 errors); streamed, the text also depends on the decodes the server's
    # workers ran before (whisper.cpp's flash-attention leftovers, docs/performance.md)
    # and on the load: "old-a-post" (3) and "rather a selfish" (4) were seen under two
    # busy test processes. Half the sentence lost, or a garbled stream, is 7 or more.
    assert word_error_rate(reference("ps_0890"), " ".join(f.text for f in finals)) <= 5 / 14
    assert [f.text for _, f in shared] == [f.text for f in finals]
    assert len({session for session, _ in shared}) == 1
    assert finals[0].words and finals[0].words[0].start == finals[0].start


@pytest.mark.slow
def test_a_session_that_falls_behind_is_told_how_far(server: ServerThread) -> None:
    # 27 s of speech sent as fast as the socket takes it: the text cannot keep up, so
    # status messages say how far behind it is, before the last final; every word still
    # comes, and the client keeps the latest report.
    speech = (read_wav(EN / "mfa_acoustic_corpus.wav") * 32767).astype("<i2").tobytes()

    async def scenario() -> Session:
        session = Session()
        async with connect(f"{server.ws_url}/v1/listen") as talker:
            await talker.send('{"type": "config", "language": "en"}')
            for i in range(0, len(speech), 6400):
                await talker.send(speech[i : i + 6400])
            await talker.send('{"type": "end"}')
            await asyncio.wait_for(collect(talker, session), 120)
        return session

    session = asyncio.run(scenario())
    statuses = session.of_type("status")
    assert statuses and statuses[0]["behind"] and statuses[0]["lag"] >= 3.0, session.types
    assert session.types.index("status") < len(session.types) - 1 - session.types[::-1].index(
        "final"
    )
    assert word_error_rate(reference("mfa_acoustic_corpus"), session.text) <= 0.4


def test_shutdown_says_goodbye_to_every_connection(server_pool: ModelPool) -> None:
    speech = (read_wav(EN / "jfk.wav")[:16000] * 32767).astype("<i2").tobytes()

    async def scenario(server: ServerThread) -> tuple[Session, Session]:
        listener, session = Session(), Session()
        async with (
            connect(f"{server.ws_url}/v1/captions") as follower,
            connect(f"{server.ws_url}/v1/listen") as talker,
        ):
            assert json.loads(await follower.recv())["type"] == "subscribed"
            await talker.send('{"type": "config"}')
            await talker.send(speech)
            assert json.loads(await talker.recv())["type"] == "ready"
            readers = [collect(follower, listener), collect(talker, session)]
            stopping = asyncio.to_thread(server.stop)
            await asyncio.wait_for(asyncio.gather(stopping, *readers), 30)
        return listener, session

    server = ServerThread(ServerConfig(port=0, models=("tiny.en-q8_0",)), pool=server_pool)
    listener, session = asyncio.run(scenario(server.start()))
    for connection in (listener, session):
        assert connection.of_type("error")[-1]["code"] == "shutting_down"
        assert connection.close_code == 1001


# -- the commands --------------------------------------------------------------------------


@pytest.mark.slow
def test_listen_command_streams_a_file(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srt = tmp_path / "jfk.srt"
    argv = ["listen", "--server", server.ws_url, "--input", str(EN / "jfk.wav")]
    assert main([*argv, "--speed", "4", "--language", "en", "--output", str(srt)]) == 0
    out, err = capsys.readouterr()
    # Not "ask not": quick decodes sometimes hear "asked not".
    assert "what your country can do" in normalize(out)
    assert "session" in err
    assert "-->" in srt.read_text() and "country" in srt.read_text()


def test_listen_command_errors(server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["listen", "--server", server.ws_url, "--input", str(EN / "jfk.wav")]
    assert main([*argv, "--language", "es"]) == 1
    assert "English-only" in capsys.readouterr().err
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["listen", "--server", f"ws://127.0.0.1:{port}", "--input", "x.wav"]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_serve_command_starts_and_stops_cleanly_logging_each_client() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = ["serve", "--port", "0", "--workers", "1", "--verbose"]
    process = subprocess.Popen(
        [sys.executable, "-m", "livewhisper.cli.main", *command],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stderr is not None
        give_up = time.monotonic() + deadline(60)
        line = ""
        while "captions at" not in line and time.monotonic() < give_up:
            line = process.stderr.readline()
            assert line or process.poll() is None, "serve exited early"
        url = line.split("captions at ")[1].split()[0]
        assert json.loads(_get(f"{url}healthz")[2])["status"] == "ok"

        async def session() -> None:
            async with connect(url.replace("http", "ws", 1) + "v1/listen"):
                pass

        asyncio.run(session())
        process.send_signal(signal.SIGINT)
        _, log = process.communicate(timeout=deadline(30))
        assert process.returncode == 0, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # --verbose: a timestamped line per request and per session, with the client's address.
    stamp = r"^livewhisper \d\d:\d\d:\d\d: "
    assert re.search(stamp + r'127\.0\.0\.1:\d+ - "GET /healthz HTTP/1\.1" 200$', log, re.M), log
    opened = re.search(stamp + r"listen session (\w+) opened by 127\.0\.0\.1$", log, re.M)
    assert opened, log
    assert re.search(rf"session {opened.group(1)} closed after \d+\.\d s$", log, re.M), log


def test_serve_refuses_an_open_host_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "token" in err
