"""The file transcription API: the form checks on their own, then real requests on
127.0.0.1, on the port of the page and the live protocol: the ``openai`` package for every
response format and every refusal (OpenAI's error shape), raw HTTP for the edges (CORS,
chunked and malformed bodies, size limits and slow bodies, Host, Origin and token checks
on every route, a full queue, a client that leaves), the pool putting live decodes first,
and a long file transcribed while a live session still gets its finals."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from conftest import EN, deadline, read_wav, reference
from server_fixtures import (  # noqa: F401
    MODEL,
    fixture_server_pool,
    http_request,
    running_server,
    stream_session,
)
from starlette.datastructures import FormData, UploadFile

from livewhisper.engine import DecodeOptions
from livewhisper.server import ModelPool, ServerThread
from livewhisper.server.errors import InvalidRequest
from livewhisper.server.uploads import (
    probe_audio,
    transcription_request,
)
from livewhisper.wer import word_error_rate

openai = pytest.importorskip("openai", reason="pip install openai (the test extra has it)")

MAX_UPLOAD = 2_000_000
ERROR_KEYS = {"message", "type", "param", "code"}


# -- multipart, without a server -------------------------------------------------------------


def _multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes]], boundary: str = "lw-b0und"
) -> tuple[bytes, str]:
    """A multipart/form-data body as browsers write it, and its Content-Type."""
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, (filename, data) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_form_fields_are_checked_one_by_one(tmp_path: Path) -> None:
    upload = UploadFile(io.BytesIO(b"0123456789"), size=10, filename="a.wav")

    def check(fields: dict[str, list[str]], multilingual: bool = True, **kw: Any) -> Any:
        form = FormData([*((name, v) for name, vs in fields.items() for v in vs), ("file", upload)])
        return transcription_request(form, model="m", multilingual=multilingual, **kw)

    request = check(
        {
            "language": ["ES"],
            "prompt": ["Hola."],
            "temperature": ["0.2"],
            "timestamp_granularities[]": ["word", "segment"],
            "stream": ["true"],
        }
    )
    assert request.options == DecodeOptions(language="es", initial_prompt="Hola.", temperature=0.2)
    assert request.words and request.stream and request.response_format == "json"
    assert check({}, default_language="de").options.language == "de"
    assert check({"language": ["auto"]}, default_language="de").options.language is None
    assert check({}, multilingual=False).options.language == "en"
    assert check({}, translate=True).task == "translate"
    refusals = [
        ({"response_format": ["xml"]}, True, {}, "response_format", "invalid_value"),
        ({"temperature": ["hot"]}, True, {}, "temperature", "invalid_value"),
        ({"temperature": ["1.5"]}, True, {}, "temperature", "invalid_value"),
        ({"language": ["xx"]}, True, {}, "language", "unsupported_language"),
        ({"language": ["es"]}, False, {}, "language", "unsupported_language"),
        ({}, False, {"translate": True}, "model", "unsupported_task"),
        (
            {"timestamp_granularities": ["char"]},
            True,
            {},
            "timestamp_granularities",
            "invalid_value",
        ),
        ({"stream": ["maybe"]}, True, {}, "stream", "invalid_value"),
    ]
    for fields, multilingual, kw, param, code in refusals:
        with pytest.raises(InvalidRequest) as caught:
            check(fields, multilingual, **kw)
        assert (caught.value.field, caught.value.reason) == (param, code)
    with pytest.raises(InvalidRequest, match="empty"):
        transcription_request(
            FormData({"file": UploadFile(upload.file, size=0, filename="a.wav")}),
            model="m",
            multilingual=True,
        )
    with pytest.raises(InvalidRequest, match="no file"):
        transcription_request(FormData(), model="m", multilingual=True)


# -- the pool: live decodes first --------------------------------------------------------------


@pytest.mark.slow
def test_live_decodes_go_before_waiting_background_ones(model_cache: Path) -> None:
    jfk = read_wav(EN / "jfk.wav")
    long = np.concatenate([jfk, jfk, jfk[: 6 * 16000]])  # 28 s: a decode of seconds
    finished: list[str] = []
    with ModelPool([MODEL], workers=1, threads=1) as pool:
        live, background = pool.engine(), pool.engine(background=True)

        def decode(engine: Any, audio: np.ndarray, name: str) -> None:
            engine.transcribe(audio, DecodeOptions(language="en"))
            finished.append(name)

        def wait(condition: Any) -> None:
            give_up = time.monotonic() + deadline(30)
            while not condition():
                assert time.monotonic() < give_up, pool.stats
                time.sleep(0.005)

        threads = [threading.Thread(target=decode, args=(live, long, "first"))]
        threads[0].start()
        wait(lambda: pool.stats.busy == 1)  # the one worker is taken for a while
        for queued, (engine, name) in enumerate(((background, "background"), (live, "live"))):
            threads.append(threading.Thread(target=decode, args=(engine, jfk, name)))
            threads[-1].start()
            wait(lambda n=queued + 1: pool.stats.waiting == n)
        assert not finished, "the first decode must still be running here"
        for thread in threads:
            thread.join(deadline(60))
    # The background decode was queued before the live one, and still went after it.
    assert finished == ["first", "live", "background"]


# -- the API over HTTP ------------------------------------------------------------------------


@pytest.fixture(scope="module", name="server")
def fixture_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    with running_server(server_pool, max_upload_bytes=MAX_UPLOAD, max_sessions=2) as server:
        yield server


def _client(server: ServerThread, api_key: str = "unused") -> Any:
    return openai.OpenAI(
        base_url=server.api_url, api_key=api_key, max_retries=0, timeout=deadline(60)
    )


def _port(server: ServerThread) -> int:
    return server.server.port


def _srt_text(srt: str) -> str:
    lines = srt.splitlines()
    return " ".join(x for x in lines if x and not x.isdigit() and "-->" not in x)


@pytest.mark.slow
def test_openai_client_gets_every_response_format(server: ServerThread) -> None:
    client = _client(server)
    truth = reference("jfk")

    def create(fmt: str, **options: Any) -> Any:
        with open(EN / "jfk.wav", "rb") as file:
            return client.audio.transcriptions.create(
                model="whisper-1", file=file, response_format=fmt, **options
            )

    result = create("json", language="en")
    assert word_error_rate(truth, result.text) <= 0.1, result.text
    assert result.usage.seconds == 11
    text = create("text", language="en")
    assert isinstance(text, str) and word_error_rate(truth, text) <= 0.1
    srt = create("srt")
    assert re.match(r"1\n00:00:00,\d{3} --> 00:00:\d\d,\d{3}\n\w", srt), srt
    assert word_error_rate(truth, _srt_text(srt)) <= 0.1
    vtt = create("vtt", language="en", prompt="Inaugural address.")
    assert vtt.startswith("WEBVTT\n\n00:00:00.") and word_error_rate(truth, _srt_text(vtt)) <= 0.1
    verbose = create(
        "verbose_json", language="en", temperature=0.0, timestamp_granularities=["word", "segment"]
    )
    assert verbose.language == "english" and abs(verbose.duration - 11.0) < 0.01
    assert word_error_rate(truth, verbose.text) <= 0.1
    segments = verbose.segments
    assert segments and segments[0].id == 0 and segments[0].text.startswith(" ")
    assert all(0 <= s.start <= s.end <= 11.0 for s in segments)
    assert verbose.words and verbose.words[0].word == "And"

    # The model list, OpenAI's shape with what the page shows beside each name.
    status, _, body = http_request(server, "GET", "/v1/models")
    models = json.loads(body)["data"]
    assert status == 200 and models[0]["id"] == MODEL and models[0]["status"] == "loaded"
    assert models[0]["size_bytes"] > 10_000_000


def _refusal(server: ServerThread, file: tuple[str, bytes], **options: Any) -> dict[str, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        _client(server).audio.transcriptions.create(file=file, **options)
    doc: dict[str, Any] = caught.value.response.json()
    assert set(doc) == {"error"} and set(doc["error"]) == ERROR_KEYS, doc
    assert 400 <= caught.value.status_code < 500
    doc["error"]["status"] = caught.value.status_code
    return doc["error"]


def test_bad_uploads_get_4xx_json_errors(server: ServerThread, tmp_path: Path) -> None:
    jfk = ("jfk.wav", (EN / "jfk.wav").read_bytes())
    empty = _refusal(server, ("empty.wav", b""), model="whisper-1")
    assert (empty["status"], empty["code"], empty["param"]) == (400, "empty_file", "file")
    text = _refusal(server, ("notes.txt", b"just some notes\n"), model="whisper-1")
    assert (text["status"], text["code"]) == (400, "invalid_file")
    assert "'notes.txt' is not audio" in text["message"] and "mp3" in text["message"]
    silent_header = io.BytesIO()
    soundfile.write(silent_header, np.zeros(0, dtype=np.float32), 16000, format="WAV")
    no_samples = _refusal(server, ("void.wav", silent_header.getvalue()), model="whisper-1")
    assert no_samples["code"] == "empty_file"
    unknown = _refusal(server, jfk, model="gpt-7")
    assert (unknown["status"], unknown["code"], unknown["param"]) == (
        400,
        "model_not_found",
        "model",
    )
    assert "'gpt-7' is not served here" in unknown["message"] and MODEL in unknown["message"]
    assert f"gpt-4o-mini-transcribe mean {MODEL})" in unknown["message"]
    assert "-m gpt-7" not in unknown["message"]  # not a model livewhisper could load
    absent = _refusal(server, jfk, model="large-v3")
    assert (absent["code"], absent["param"]) == ("model_not_found", "model")
    language = _refusal(server, jfk, model=MODEL, language="xx")
    assert (language["code"], language["param"]) == ("unsupported_language", "language")
    english_only = _refusal(server, jfk, model=MODEL, language="es")
    assert "English-only" in english_only["message"]
    assert "serves no multilingual model" in english_only["message"]  # not one it lacks
    fmt = _refusal(server, jfk, model=MODEL, response_format="docx")
    assert fmt["param"] == "response_format"

    big = tmp_path / "long.wav"  # 2.9 MB, over the 2 MB this server takes
    soundfile.write(big, np.zeros(90 * 16000, dtype=np.int16), 16000, subtype="PCM_16")
    too_large = _refusal(server, ("long.wav", big.read_bytes()), model=MODEL)
    assert (too_large["status"], too_large["code"]) == (413, "file_too_large")
    assert "2 MB" in too_large["message"]

    body, kind = _multipart({"model": MODEL}, {"file": jfk})
    status, _, answer = http_request(
        server, "POST", "/v1/audio/translations", body, {"Content-Type": kind}
    )
    assert (status, json.loads(answer)["error"]["code"]) == (400, "unsupported_task")

    # No uploads were kept: every refused file was deleted.
    assert json.loads(urllib.request.urlopen(f"{server.url}healthz").read())["jobs"] == 0


def _wav(rate: int, channels: int, body: bytes) -> bytes:
    """A 16-bit PCM WAV whose header says ``rate`` and ``channels``, written by hand (so
    any value goes, as a forger would write it)."""
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + len(body)) + b"WAVE" + chunks + body


def _flac_claiming(seconds: int) -> bytes:
    """One second of 16 kHz FLAC whose STREAMINFO claims ``seconds`` of audio."""
    out = io.BytesIO()
    soundfile.write(out, np.zeros(16000, np.float32), 16000, format="FLAC")
    data = bytearray(out.getvalue())
    # fLaC, a 4-byte block header, then STREAMINFO: the total sample count is the low
    # 36 bits of the 8 bytes at offset 10 (after rate, channels and bits per sample).
    start = 8 + 10
    packed = int.from_bytes(data[start : start + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | (seconds * 16000)
    data[start : start + 8] = packed.to_bytes(8, "big")
    return bytes(data)


IMPLAUSIBLE = {
    "4hz.wav": (_wav(4, 1, bytes(29_000)), "unsupported_sample_rate"),
    "1024ch.wav": (_wav(16000, 1024, bytes(2048 * 14)), "unsupported_channels"),
    "9ch.wav": (_wav(16000, 9, bytes(18 * 16000)), "unsupported_channels"),
    "hour.flac": (_flac_claiming(3600), "inconsistent_file"),
}


@pytest.mark.parametrize("name", sorted(IMPLAUSIBLE))
def test_implausible_audio_is_refused_from_its_header(name: str) -> None:
    data, reason = IMPLAUSIBLE[name]
    with pytest.raises(InvalidRequest) as caught:
        probe_audio(UploadFile(io.BytesIO(data), size=len(data), filename=name), max_seconds=7200)
    assert (caught.value.reason, caught.value.field) == (reason, "file"), caught.value


def test_plausible_audio_passes_and_the_limit_holds() -> None:
    data = _wav(8000, 2, bytes(4 * 8000 * 3))
    assert probe_audio(UploadFile(io.BytesIO(data), size=len(data), filename="a.wav"), 10) == 3.0
    with pytest.raises(InvalidRequest, match="at most") as caught:
        probe_audio(UploadFile(io.BytesIO(data), size=len(data), filename="a.wav"), max_seconds=2)
    assert caught.value.reason == "audio_too_long"


def test_implausible_uploads_get_400_and_cost_no_memory(server: ServerThread) -> None:
    before = _rss()
    for name, (data, reason) in IMPLAUSIBLE.items():
        for _ in range(3):
            refusal = _refusal(server, (name, data), model=MODEL)
            assert (refusal["status"], refusal["code"]) == (400, reason), refusal
    # Nothing was decoded: a 4 Hz header used to cost minutes and 464 MB.
    assert _rss() - before < 50_000_000
    assert json.loads(urllib.request.urlopen(f"{server.url}healthz").read())["jobs"] == 0


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_only_the_served_models_are_offered_or_used(server: ServerThread) -> None:
    # tiny.en-q4_0 is bundled on this machine but not served: refused, never prepared.
    jfk = ("jfk.wav", (EN / "jfk.wav").read_bytes())
    installed = _refusal(server, jfk, model="tiny.en-q4_0")
    assert (installed["status"], installed["code"], installed["param"]) == (
        400,
        "model_not_found",
        "model",
    )
    assert "not served here" in installed["message"] and MODEL in installed["message"]
    pool = server.server.pool
    assert "tiny.en-q4_0" not in pool.models
    _, _, body = http_request(server, "GET", "/v1/models")
    models = json.loads(body)["data"]  # beside OpenAI's names, each an alias of MODEL
    assert [model["id"] for model in models if "alias_of" not in model] == [MODEL]
    assert {model.get("alias_of", MODEL) for model in models} == {MODEL}


@pytest.mark.slow
def test_http_edges_cors_chunked_and_checks(server: ServerThread) -> None:
    page = server.url.rstrip("/")
    status, headers, _ = http_request(
        server,
        "OPTIONS",
        "/v1/audio/transcriptions",
        headers={
            "Origin": page,
            "Access-Control-Request-Method": "POST",
        },
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == page
    assert "POST" in headers["Access-Control-Allow-Methods"]
    # The page's Content-Security-Policy lets it reach its own server, and only that.
    csp = urllib.request.urlopen(server.url).headers["Content-Security-Policy"]
    assert "connect-src 'self' ws: wss:;" in csp

    body, kind = _multipart(
        {"language": "en", "response_format": "text"},
        {"file": ("jfk.wav", (EN / "jfk.wav").read_bytes())},
    )
    status, headers, text = http_request(
        server,
        "POST",
        "/v1/audio/transcriptions",
        body,
        {
            "Content-Type": kind,
            "Origin": page,
        },
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == page
    assert "country" in text.decode()

    # A chunked upload, as clients that do not know the size send it.
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=deadline(60)) as sock:
        head = (
            f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {kind}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 50_000]), body[i : i + 50_000])
            for i in range(0, len(body), 50_000)
        )
        sock.sendall(head.encode() + chunks + b"0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"country" in answer

    errors = {
        "evil host": http_request(server, "GET", "/v1/models", headers={"Host": "evil.example"}),
        "foreign origin": http_request(
            server, "GET", "/v1/models", headers={"Origin": "https://evil.example"}
        ),
        "no route": http_request(server, "GET", "/v2/nothing"),
        "wrong method": http_request(server, "GET", "/v1/audio/transcriptions"),
        "not a form": http_request(
            server, "POST", "/v1/audio/transcriptions", b"{}", {"Content-Type": "application/json"}
        ),
        "no file": http_request(
            server,
            "POST",
            "/v1/audio/transcriptions",
            *(lambda b, k: (b, {"Content-Type": k}))(*_multipart({}, {})),
        ),
    }
    statuses = {name: status for name, (status, _, _) in errors.items()}
    assert statuses == {
        "evil host": 403,
        "foreign origin": 403,
        "no route": 404,
        "wrong method": 405,
        "not a form": 415,
        "no file": 400,
    }
    for _, _, body in errors.values():
        assert set(json.loads(body)["error"]) == ERROR_KEYS


def test_token_is_required_when_set(server_pool: ModelPool) -> None:
    with running_server(server_pool, token="s3cret") as server:
        with pytest.raises(openai.AuthenticationError):
            _client(server).models.list()
        assert _client(server, api_key="s3cret").models.list().data[0].id == MODEL


def _long_recording(path: Path, repeat: int) -> float:
    """Every English clip, ``repeat`` times over, a pause between each: one long file."""
    pause = np.zeros(8000, dtype=np.float32)
    clips = [read_wav(wav) for wav in sorted(EN.glob("*.wav"))]
    audio = np.concatenate([part for clip in clips * repeat for part in (clip, pause)])
    soundfile.write(path, audio, 16000, subtype="PCM_16")
    return len(audio) / 16000


class _EventStream:
    """A streaming upload (``stream=true``) read on a thread: events with arrival times."""

    def __init__(self, server: ServerThread, path: Path) -> None:
        body, kind = _multipart(
            {"language": "en", "stream": "true"}, {"file": (path.name, path.read_bytes())}
        )
        self.sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=deadline(120))
        head = (
            f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError), self.sock.makefile("rb") as stream:
            while line := stream.readline():
                if line.startswith(b"data: "):
                    self.events.append((time.monotonic(), json.loads(line[6:])))

    def wait_for(self, test: Any, timeout: float = 60) -> float:
        give_up = time.monotonic() + deadline(timeout)
        while time.monotonic() < give_up:
            for at, event in list(self.events):
                if test(event):
                    return at
            time.sleep(0.02)
        raise AssertionError(f"no such event within {deadline(timeout):g} s: {self.events[-3:]}")

    def close(self) -> None:
        """The client leaves: the server should cancel its job."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(deadline(10))


def _health(server: ServerThread) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(urllib.request.urlopen(f"{server.url}healthz").read())
    return doc


def _wait_idle(server: ServerThread, timeout: float = 15) -> None:
    give_up = time.monotonic() + deadline(timeout)
    while _health(server)["jobs"] or _health(server)["waiting_jobs"]:
        assert time.monotonic() < give_up, _health(server)
        time.sleep(0.05)


@pytest.mark.slow
def test_a_long_job_shares_the_workers_with_a_live_session(
    model_cache: Path, tmp_path: Path
) -> None:
    # One worker for both, so the job's decodes and the session's must interleave.
    recording = tmp_path / "meeting.wav"
    duration = _long_recording(recording, repeat=2)
    with (
        ModelPool([MODEL], workers=1, threads=1) as pool,
        running_server(pool, max_jobs=1, max_waiting_jobs=0) as server,
    ):
        job = _EventStream(server, recording)
        try:
            job.wait_for(lambda e: e.get("state") == "transcribing")
            # The queue is full (one running, none may wait): the next upload is told so.
            with pytest.raises(openai.RateLimitError) as caught:
                _client(server).audio.transcriptions.create(
                    model=MODEL, file=("jfk.wav", (EN / "jfk.wav").read_bytes())
                )
            assert caught.value.response.json()["error"]["code"] == "busy"

            audio = np.concatenate([read_wav(EN / "jfk.wav"), np.zeros(24000, np.float32)])
            session = asyncio.run(stream_session(server.ws_url, audio, config={"language": "en"}))
            session_over = time.monotonic()
            assert session.types[0] == "ready" and session.types[-1] == "end", session.types
            assert "error" not in session.types, session.of_type("error")
            assert word_error_rate(reference("jfk"), session.text) <= 0.15, session.text
            # The job went on meanwhile, and was still going when the session ended.
            progress = [
                e["processed"]
                for at, e in job.events
                if e["type"] == "transcript.progress" and at <= session_over
            ]
            assert progress[-1] > progress[0], progress
            assert not any(e["type"] == "transcript.text.done" for _, e in job.events)
            assert progress[-1] < duration
            segments = [e for _, e in job.events if e["type"] == "transcript.text.segment"]
            # In file time: the recording's first word ("No.") is said 1.2 s into it.
            assert segments and 0.5 < segments[0]["start"] < 2.0, segments[0]
        finally:
            job.close()
        _wait_idle(server)  # the client left, so its job was cancelled and cleared away
        assert _health(server)["busy_workers"] == 0
