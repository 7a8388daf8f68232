"""The access rules and the HTTP edges of the one port, route by route: Host and Origin
checks, the token, refused bodies (too large before they are read, malformed, too slow),
and ``--http-port`` gone. Real connections on 127.0.0.1, no decoding."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import deadline
from server_fixtures import fixture_server_pool, http_request, running_server  # noqa: F401
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from livewhisper.cli.main import main
from livewhisper.server import ModelPool, ServerThread

# Every route with the method that uses it; the WebSocket ones are opened as WebSockets.
HTTP_ROUTES = [
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/favicon.ico"),
    ("GET", "/healthz"),
    ("GET", "/v1/info"),
    ("GET", "/v1/models"),
    ("POST", "/v1/audio/transcriptions"),
    ("POST", "/v1/audio/translations"),
]
WS_ROUTES = ["/v1/listen", "/v1/captions"]
PUBLIC = {"/", "/static/app.js", "/favicon.ico", "/healthz"}
ERROR_KEYS = {"message", "type", "param", "code"}


def _ws_status(server: ServerThread, path: str, **options: Any) -> int:
    """101 if the WebSocket opens, else the HTTP status it was refused with."""

    async def attempt() -> int:
        try:
            async with connect(f"{server.ws_url}{path}", **options):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(attempt())


@pytest.fixture(scope="module", name="open_server")
def fixture_open_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    with running_server(server_pool, max_upload_bytes=1_000_000, body_timeout=1.0) as server:
        yield server


@pytest.fixture(scope="module", name="token_server")
def fixture_token_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    with running_server(server_pool, token="s3cret") as server:
        yield server


def _error(body: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(body)
    assert set(doc) == {"error"} and set(doc["error"]) == ERROR_KEYS, doc
    return doc["error"]


def test_host_and_origin_checks_on_every_route(open_server: ServerThread) -> None:
    for method, path in HTTP_ROUTES:
        # DNS rebinding: a foreign name pointed at 127.0.0.1 is turned away everywhere.
        status, headers, body = http_request(
            open_server, method, path, headers={"Host": "evil.example"}
        )
        assert status == 403 and _error(body)["code"] == "forbidden_host", path
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, _, body = http_request(
            open_server, method, path, headers={"Origin": "https://evil.example"}
        )
        if path in PUBLIC:
            assert status == 200, path  # the page and its files are for anyone who may reach it
        else:
            assert status == 403 and _error(body)["code"] == "forbidden_origin", path
    own = open_server.url.rstrip("/")
    for path in WS_ROUTES:
        handshake = (
            f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert _raw(open_server, handshake).startswith(b"HTTP/1.1 403"), path
        assert _ws_status(open_server, path, origin="https://evil.example") == 403
        assert _ws_status(open_server, path, origin=own) == 101


def test_token_on_every_route_but_the_page(token_server: ServerThread) -> None:
    for method, path in HTTP_ROUTES:
        status, headers, body = http_request(token_server, method, path)
        if path in PUBLIC:
            assert status == 200, path
            continue
        assert status == 401 and _error(body)["code"] == "invalid_api_key", path
        assert headers["WWW-Authenticate"].startswith("Bearer")
        wrong = http_request(token_server, method, path, headers={"Authorization": "Bearer nope"})
        assert wrong[0] == 401
        # With the token (either way), the request reaches its route: GETs answer, the
        # POSTs without a form are refused by the route, not by the access rules.
        for query, headers in [("?token=s3cret", {}), ("", {"Authorization": "Bearer s3cret"})]:
            status, _, body = http_request(token_server, method, path + query, headers=headers)
            assert status == (200 if method == "GET" else 415), (path, body)
    for path in WS_ROUTES:
        assert _ws_status(token_server, path) == 401
        assert _ws_status(token_server, f"{path}?token=nope") == 401
        assert _ws_status(token_server, f"{path}?token=s3cret") == 101
        bearer = {"Authorization": "Bearer s3cret"}
        assert _ws_status(token_server, path, additional_headers=bearer) == 101
    # With a token, any Host may be used (the token is the protection).
    assert (
        http_request(token_server, "GET", "/v1/info?token=s3cret", headers={"Host": "h.lan"})[0]
        == 200
    )


def _form(parts: list[tuple[str, str | None, bytes]], boundary: str = "lw-b0und") -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _raw(server: ServerThread, head: str, body: bytes = b"") -> bytes:
    """Send a request as bytes; return the server's first answer, head and body."""
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=deadline(60)) as sock:
        sock.sendall(head.encode() + body)
        return _answer(sock)


def _answer(sock: socket.socket, answer: bytes = b"") -> bytes:
    while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
        answer += data
    head = answer.split(b"\r\n\r\n")[0].lower()
    length = (
        int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        if b"content-length:" in head
        else 0
    )
    while len(answer) < len(head) + 4 + length and (data := sock.recv(65536)):
        answer += data
    return answer


def test_malformed_bodies_get_400(open_server: ServerThread) -> None:
    kind = {"Content-Type": "multipart/form-data; boundary=lw-b0und"}
    wav = b"RIFF" + b"\0" * 100
    cases = {
        "cut short": _form([("file", "a.wav", wav)])[:-20],
        "garbage": b"this is not multipart at all",
        "no boundary": b"--other\r\n\r\n",
        "two files": _form([("file", "a.wav", wav), ("file", "b.wav", wav)]),
        "huge field": _form([("prompt", None, b"p" * 70_000), ("file", "a.wav", wav)]),
    }
    for name, body in cases.items():
        status, _, answer = http_request(
            open_server, "POST", "/v1/audio/transcriptions", body, kind
        )
        assert status == 400, (name, answer)
        assert _error(answer)["code"] in ("invalid_multipart", "missing_file"), (name, answer)
    status, _, answer = http_request(
        open_server,
        "POST",
        "/v1/audio/transcriptions",
        _form([("file", "a.wav", wav)]),
        {"Content-Type": "multipart/form-data"},  # the boundary is missing
    )
    assert status == 400 and _error(answer)["code"] == "invalid_multipart"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(open_server: ServerThread) -> None:
    # 50 GB announced: refused on the headers alone, none of the body read.
    head = (
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=lw-b0und\r\n"
        "Content-Length: 50000000000\r\n\r\n"
    )
    answer = _raw(open_server, head, b"--lw-b0und\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert _error(answer.split(b"\r\n\r\n", 1)[1])["code"] == "file_too_large"

    # No length announced (chunked): refused while it streams in, long before its end.
    chunked = (
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=lw-b0und\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    start = b'--lw-b0und\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    piece = b"\0" * 65536
    sent, answer = 0, b""
    with socket.create_connection(
        ("127.0.0.1", open_server.server.port), timeout=deadline(60)
    ) as sock:
        sock.sendall(chunked.encode() + b"%x\r\n%s\r\n" % (len(start), start))
        while sent < 200 * len(piece):  # 13 MB offered, 1 MB allowed
            if select.select([sock], [], [], 0)[0]:
                break  # the answer came
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            time.sleep(0.002)
        answer = _answer(sock, answer)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert _error(answer.split(b"\r\n\r\n", 1)[1])["code"] == "file_too_large"
    assert sent < 200 * len(piece), "the answer came before the body ended"
    health = json.loads(http_request(open_server, "GET", "/healthz")[2])
    assert health["jobs"] == 0


def test_a_slow_body_times_out(open_server: ServerThread) -> None:
    head = (
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=lw-b0und\r\n"
        "Content-Length: 5000\r\n\r\n"
    )
    answer = _raw(open_server, head, b"--lw-b0und\r\n")  # then nothing: body_timeout is 1 s
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert _error(answer.split(b"\r\n\r\n", 1)[1])["code"] == "timeout"


def test_http_port_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--http-port", "8766"])
    assert caught.value.code == 2
    assert "--http-port is gone" in capsys.readouterr().err
