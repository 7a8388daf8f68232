"""Several ``livewhisper serve`` processes behind nginx: the recipe of docs/serving.md, run.

The nginx configuration is read from docs/serving.md (the block a reader copies), its
ports replaced by free ones, and nginx started as a plain process with a temporary prefix.
Through it: two live sessions with the real client (one on each backend), an upload with
the ``openai`` client, and the real client's address seen behind the proxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EN, REPO, deadline, reference

from livewhisper import client
from livewhisper.audio.sources import FileSource
from livewhisper.events import Final
from livewhisper.wer import word_error_rate

openai = pytest.importorskip("openai", reason="pip install openai (the test extra has it)")
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)
MODEL = "tiny.en-q8_0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=deadline(30)) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def documented_config() -> str:
    """The nginx block of docs/serving.md, as a reader would copy it."""
    text = (REPO / "docs" / "serving.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/serving.md should hold one nginx block"
    return blocks[0]


@pytest.fixture(scope="module", name="backends")
def fixture_backends(model_cache: Path) -> Iterator[list[int]]:
    """Two ``livewhisper serve`` processes, one worker each; their ports."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    processes, ports = [], []
    try:
        for _ in range(2):
            command = [sys.executable, "-m", "livewhisper.cli.main", "serve", "--port", "0"]
            command += ["--model", MODEL, "--workers", "1", "--threads", "1"]
            process = subprocess.Popen(
                command, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
            )
            processes.append(process)
            assert process.stderr is not None
            give_up, line = time.monotonic() + deadline(120), ""
            while "captions at" not in line and time.monotonic() < give_up:
                line = process.stderr.readline()
                assert line or process.poll() is None, "serve exited early"
            ports.append(int(line.split("captions at ")[1].split()[0].rstrip("/").split(":")[-1]))
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(deadline(30))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _nginx(prefix: Path, port: int, backends: list[int]) -> list[str]:
    """The command that runs nginx with the documented site in ``prefix``, listening on
    ``port`` in front of ``backends``."""
    site = documented_config()
    site = site.replace("listen 8765;", f"listen 127.0.0.1:{port};")
    site = site.replace("127.0.0.1:8766", f"127.0.0.1:{backends[0]}")
    site = site.replace("127.0.0.1:8767", f"127.0.0.1:{backends[1]}")
    # What the Debian package's nginx.conf provides around the site: here, all in the prefix.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temps = "".join(
        f"{kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\naccess_log {prefix / 'access.log'};\n{temps}{site}\n}}\n",
        encoding="utf-8",
    )
    assert NGINX is not None
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    return [*command, "-e", str(prefix / "error.log")]


def test_the_documented_config_is_one_nginx_accepts(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_nginx(tmp_path, _free_port(), [_free_port(), _free_port()]), "-t"],
        capture_output=True,
        text=True,
        timeout=deadline(60),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


@pytest.fixture(scope="module", name="proxy")
def fixture_proxy(backends: list[int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """nginx with the documented configuration in front of ``backends``; its port."""
    prefix = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    command = _nginx(prefix, port, backends)
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        give_up = time.monotonic() + deadline(30)
        while _healthz(port) is None:
            assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
            assert time.monotonic() < give_up, "nginx did not answer"
            time.sleep(0.1)
        yield port
    finally:
        nginx.terminate()
        try:
            nginx.wait(deadline(30))
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()


def _healthz(port: int) -> dict[str, object] | None:
    try:
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
    except OSError:
        return None
    document: dict[str, object] = json.loads(body) if status == 200 else {}
    return document or None


@pytest.mark.slow
def test_live_sessions_through_nginx_spread_over_the_backends(
    proxy: int, backends: list[int]
) -> None:
    url = f"ws://127.0.0.1:{proxy}"

    async def scenario() -> tuple[list[object], tuple[str, str]]:
        async with (
            client.listen(url, language="en") as first,
            client.listen(url, language="en") as second,
        ):
            # Both sessions are open (each got 'ready'): each backend holds one of them.
            held = [_healthz(port) for port in backends]

            async def transcribe(session: client.ListenSession) -> str:
                source = FileSource(EN / "jfk.wav", realtime=False)
                sender = asyncio.create_task(client.send_source(session, source))
                finals = [e async for e in session if isinstance(e, Final)]
                await sender
                return " ".join(f.text for f in finals)

            texts = await asyncio.gather(transcribe(first), transcribe(second))
            return [h["sessions"] if h else None for h in held], texts

    sessions, texts = asyncio.run(asyncio.wait_for(scenario(), deadline(300)))
    assert sessions == [1, 1]
    for text in texts:
        assert word_error_rate(reference("jfk"), text) < 0.2, text


@pytest.mark.slow
def test_an_upload_through_nginx_with_the_openai_client(proxy: int) -> None:
    api = openai.OpenAI(
        base_url=f"http://127.0.0.1:{proxy}/v1", api_key="unused", max_retries=0,
        timeout=deadline(120),
    )  # fmt: skip
    with open(EN / "jfk.wav", "rb") as file:
        result = api.audio.transcriptions.create(
            model="whisper-1", file=file, response_format="verbose_json"
        )
    assert word_error_rate(reference("jfk"), result.text) < 0.2, result.text
    assert result.segments and result.duration == pytest.approx(11.0, abs=0.1)


@pytest.mark.slow
def test_the_backends_see_the_client_behind_nginx(proxy: int) -> None:
    # uvicorn takes the client's address from X-Forwarded-For when the peer is this
    # machine, so a client from elsewhere is held to the token even through the proxy.
    status, body = _get(
        f"http://127.0.0.1:{proxy}/v1/info", headers={"X-Forwarded-For": "203.0.113.5"}
    )
    assert status == 403 and json.loads(body)["error"]["code"] == "forbidden_client"
    assert _get(f"http://127.0.0.1:{proxy}/v1/info")[0] == 200
