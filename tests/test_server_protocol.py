"""The caption server's pure parts: protocol messages, the session state machine, outboxes,
the caption hub's fan-out and the server's settings. No sockets, no models."""

from __future__ import annotations

import asyncio
import json
import struct

import numpy as np
import pytest

from livewhisper.client import server_url
from livewhisper.errors import ConfigError
from livewhisper.events import Final, Partial, Status, Word
from livewhisper.protocol import (
    MAX_TEXT_BYTES,
    Audio,
    CloseCode,
    Config,
    Encoding,
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
    decode_frame,
    encode,
    parse_client_message,
    parse_server_message,
)
from livewhisper.server.config import ServerConfig, is_loopback
from livewhisper.server.pool import default_workers
from livewhisper.server.sessions import CaptionHub, Closing, Outbox

# -- messages ------------------------------------------------------------------------------


def test_config_defaults_and_json_round_trip() -> None:
    config = parse_client_message('{"type": "config"}')
    assert config == Config()
    assert config.sample_rate == 16000 and config.encoding is Encoding.PCM_S16LE
    assert config.max_frame_bytes == 32000
    full = Config(48000, Encoding.PCM_F32LE, "es", False, True, "base-q8_0", "Ana Mar\u00eda")
    assert parse_client_message(encode(full)) == full
    assert "name" not in json.loads(encode(Config()))
    assert full.max_frame_bytes == 48000 * 4


def test_config_nulls_mean_defaults_and_unknown_fields_are_ignored() -> None:
    text = '{"type":"config","language":null,"partials":null,"model":null,"future":1}'
    assert parse_client_message(text) == Config()
    assert parse_client_message('{"type":"config","sample_rate":16000.0}').sample_rate == 16000


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"sample_rate": 1000}, ErrorCode.UNSUPPORTED_SAMPLE_RATE),
        ({"sample_rate": 200000}, ErrorCode.UNSUPPORTED_SAMPLE_RATE),
        ({"sample_rate": 44100.5}, ErrorCode.UNSUPPORTED_SAMPLE_RATE),
        ({"sample_rate": "16000"}, ErrorCode.UNSUPPORTED_SAMPLE_RATE),
        ({"sample_rate": True}, ErrorCode.UNSUPPORTED_SAMPLE_RATE),
        ({"encoding": "mp3"}, ErrorCode.UNSUPPORTED_ENCODING),
        ({"encoding": 16}, ErrorCode.UNSUPPORTED_ENCODING),
        ({"language": 7}, ErrorCode.INVALID_CONFIG),
        ({"language": "not a language"}, ErrorCode.INVALID_CONFIG),
        ({"partials": "yes"}, ErrorCode.INVALID_CONFIG),
        ({"share": 1}, ErrorCode.INVALID_CONFIG),
        ({"model": ""}, ErrorCode.INVALID_CONFIG),
        ({"name": ""}, ErrorCode.INVALID_CONFIG),
        ({"name": "x" * 65}, ErrorCode.INVALID_CONFIG),
        ({"name": "two\nlines"}, ErrorCode.INVALID_CONFIG),
        ({"name": 7}, ErrorCode.INVALID_CONFIG),
    ],
)
def test_bad_config_fields(fields: dict[str, object], code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(json.dumps({"type": "config", **fields}))
    assert caught.value.code is code
    assert caught.value.code.close_code is CloseCode.POLICY_VIOLATION


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{oops", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_JSON),
        ('"config"', ErrorCode.INVALID_JSON),
        ("[" * 100_000, ErrorCode.INVALID_JSON),
        ('{"type": "hello"}', ErrorCode.UNKNOWN_TYPE),
        ('{"kind": "config"}', ErrorCode.UNKNOWN_TYPE),
    ],
)
def test_bad_client_messages(text: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(text)
    assert caught.value.code is code


def test_error_codes_say_how_the_session_ends() -> None:
    assert ErrorCode.BUSY.close_code == 1013
    assert ErrorCode.INVALID_JSON.close_code == 1007
    assert ErrorCode.INVALID_FRAME_LENGTH.close_code == 1007
    assert ErrorCode.FRAME_TOO_LARGE.close_code == 1009
    assert ErrorCode.IDLE_TIMEOUT.close_code == 1001
    for harmless in (ErrorCode.UNKNOWN_TYPE, ErrorCode.AUDIO_AFTER_END, ErrorCode.OVERFLOW):
        assert not harmless.fatal
    assert ErrorMessage("busy", "").fatal and not ErrorMessage("unknown_type", "").fatal
    assert ErrorMessage("from_the_future", "").fatal  # unknown codes: assume the worst


def test_server_messages_round_trip() -> None:
    word = Word(" Ask", 1.0, 1.25, 0.9123)
    final = Final(" Ask not.", 1.0, 2.0, (word,), "en", 5.0, 6.0)
    partial = Partial("Ask no", 1.0, 1.8, "Ask", "en")
    messages = [
        Ready("3f9a0c1e", "tiny.en-q8_0", 48000),
        Subscribed(),
        PartialMessage.from_event(partial, "mic"),
        PartialMessage.from_event(partial, "s2", "Ana"),
        FinalMessage.from_event(final),
        FinalMessage.from_event(final, "s2", "Ana"),
        StatusMessage.from_event(Status(4.2, True, 63.0)),
        StatusMessage(0.5, False, 70.25, "s2", "Ana"),
        ErrorMessage("busy", "try later"),
        End(),
    ]
    for message in messages:
        assert parse_server_message(encode(message)) == message
    doc = json.loads(encode(FinalMessage.from_event(final, "s1")))
    assert doc == {
        "type": "final",
        "text": " Ask not.",
        "start": 1.0,
        "end": 2.0,
        "words": [{"word": " Ask", "start": 1.0, "end": 1.25, "probability": 0.9123}],
        "language": "en",
        "session": "s1",
    }
    assert "session" not in json.loads(encode(PartialMessage.from_event(partial)))
    assert json.loads(encode(FinalMessage.from_event(final, "s1", "Ana")))["name"] == "Ana"
    back = FinalMessage.from_event(final).to_event()
    assert back.text == final.text and back.words[0].word == " Ask"
    assert parse_server_message('{"type": "news", "text": "hi"}') is None
    with pytest.raises(ProtocolError):
        parse_server_message('{"type": "final", "start": 0}')


# -- frames --------------------------------------------------------------------------------


def test_decode_frame() -> None:
    pcm = np.array([0, 1000, -32768, 32767], dtype="<i2")
    assert np.array_equal(decode_frame(pcm.tobytes(), Config()), pcm)
    floats = np.array([0.5, -0.25], dtype="<f4")
    f32 = Config(encoding=Encoding.PCM_F32LE)
    assert np.array_equal(decode_frame(floats.tobytes(), f32), floats)
    assert decode_frame(b"", Config()).size == 0
    with pytest.raises(ProtocolError, match="whole") as caught:
        decode_frame(b"\x00\x01\x02", Config())
    assert caught.value.code is ErrorCode.INVALID_FRAME_LENGTH
    with pytest.raises(ProtocolError) as caught:
        decode_frame(b"\x00" * 6, f32)
    assert caught.value.code is ErrorCode.INVALID_FRAME_LENGTH
    with pytest.raises(ProtocolError) as caught:
        decode_frame(struct.pack("<2f", 0.0, float("nan")), f32)
    assert caught.value.code is ErrorCode.INVALID_AUDIO
    decode_frame(b"\x00" * 32000, Config())  # exactly 1 s is allowed
    with pytest.raises(ProtocolError) as caught:
        decode_frame(b"\x00" * 32002, Config())
    assert caught.value.code is ErrorCode.FRAME_TOO_LARGE


def test_listen_protocol_normal_session() -> None:
    protocol = ListenProtocol()
    [start] = protocol.receive('{"type": "config", "sample_rate": 48000}')
    assert isinstance(start, Start) and start.config.sample_rate == 48000
    [audio] = protocol.receive(np.zeros(960, "<i2").tobytes())
    assert isinstance(audio, Audio) and audio.samples.size == 960
    assert protocol.receive(b"") == []
    assert protocol.receive('{"type": "end"}') == [Finish()]
    assert protocol.receive('{"type": "end"}') == []  # a second end changes nothing
    [notice] = protocol.receive(b"\x00\x00")
    assert isinstance(notice, Notice) and notice.error.code == "audio_after_end"


def test_listen_protocol_without_config_uses_the_defaults() -> None:
    protocol = ListenProtocol(Config(language="en"))
    actions = protocol.receive(b"\x00\x00" * 10)
    assert isinstance(actions[0], Start) and actions[0].config.language == "en"
    assert isinstance(actions[1], Audio)
    protocol = ListenProtocol()
    assert [type(a) for a in protocol.receive('{"type": "end"}')] == [Start, Finish]


def test_listen_protocol_errors() -> None:
    protocol = ListenProtocol()
    [notice] = protocol.receive('{"type": "ping"}')
    assert isinstance(notice, Notice) and notice.error.code == "unknown_type"
    assert not protocol.started  # still waiting for a config or audio
    protocol.receive('{"type": "config"}')
    with pytest.raises(ProtocolError) as caught:
        protocol.receive('{"type": "config"}')
    assert caught.value.code is ErrorCode.UNEXPECTED_CONFIG
    with pytest.raises(ProtocolError) as caught:
        ListenProtocol().receive("x" * (MAX_TEXT_BYTES + 1))
    assert caught.value.code is ErrorCode.FRAME_TOO_LARGE
    with pytest.raises(ProtocolError) as caught:
        ListenProtocol().receive("{not json")
    assert caught.value.code is ErrorCode.INVALID_JSON


# -- outboxes and the hub ------------------------------------------------------------------


def test_outbox_coalesces_partials_and_keeps_finals() -> None:
    async def scenario() -> list[str | Closing]:
        outbox = Outbox(max_queued=3)
        outbox.put_partial("p1", "a")
        outbox.put_partial("q1", "b")
        outbox.put_partial("p2", "a")  # replaces p1, goes after q1
        assert outbox.put("f1", key="b")  # settles q1
        outbox.put_partial("p3", "a")
        assert outbox.put("x")
        assert outbox.put("y")
        assert not outbox.put("z")  # three finals waiting: too far behind
        outbox.put_partial("p4", "a")  # partials are still taken (they replace)
        outbox.close(1000)
        outbox.put("after close")  # ignored
        return [await outbox.get() for _ in range(5)]

    items = asyncio.run(scenario())
    # p1 and p2 were replaced by newer partials of "a", q1 settled by f1.
    assert items == ["f1", "x", "y", "p4", Closing(1000, "")]


class _FakeConnection:
    """A caption listener: records what it gets; a stalled one never finishes a send."""

    def __init__(self, stalled: bool = False) -> None:
        self.stalled = stalled
        self.received: list[str] = []
        self.closed: int | None = None
        self._never = asyncio.Event()

    async def send(self, message: str | bytes) -> None:
        if self.stalled:
            await self._never.wait()
        assert isinstance(message, str)
        self.received.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code


def test_hub_fans_out_and_a_stalled_listener_blocks_nobody() -> None:
    from livewhisper.server.sessions import deliver

    async def scenario() -> tuple[CaptionHub, list[_FakeConnection], _FakeConnection]:
        hub = CaptionHub(max_listeners=10, max_queued=5)
        good = [_FakeConnection() for _ in range(3)]
        stalled = _FakeConnection(stalled=True)
        tasks = []
        for connection in [*good, stalled]:
            outbox = hub.subscribe(connection)
            assert outbox is not None
            tasks.append(asyncio.create_task(deliver(connection, outbox)))
        for i in range(20):
            hub.publish("s", Partial(f"partial {i}", 0.0, 1.0))
            hub.publish("s", Final(f"final {i}", 0.0, 1.0))
            await asyncio.sleep(0)  # the good listeners keep up
        await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        return hub, good, stalled

    hub, good, stalled = asyncio.run(scenario())
    for connection in good:
        finals = [m for m in connection.received if '"final"' in m]
        assert len(finals) == 20
        assert json.loads(connection.received[0]) == {"type": "subscribed", "protocol": 1}
        assert json.loads(finals[-1])["session"] == "s"
    assert stalled.closed == CloseCode.POLICY_VIOLATION  # dropped once 5 finals behind
    assert hub.dropped == 1 and len(hub) == 3


def test_hub_limit() -> None:
    async def scenario() -> None:
        hub = CaptionHub(max_listeners=1)
        first = hub.subscribe(_FakeConnection())
        assert first is not None
        assert hub.subscribe(_FakeConnection()) is None
        hub.unsubscribe(first)
        assert hub.subscribe(_FakeConnection()) is not None

    asyncio.run(scenario())


# -- settings ------------------------------------------------------------------------------


def test_loopback_and_tokens() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.8.0.1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")
    with pytest.raises(ConfigError, match="token"):
        ServerConfig(host="0.0.0.0")
    ServerConfig(host="0.0.0.0", token="s3cret")
    with pytest.raises(ConfigError):
        ServerConfig(token="  ")
    with pytest.raises(ConfigError):
        ServerConfig(max_sessions=0)
    with pytest.raises(ConfigError):
        ServerConfig(idle_timeout=float("nan"))
    with pytest.raises(ConfigError):
        ServerConfig(models=())


def test_default_workers() -> None:
    assert default_workers(4, cpus=2) == (2, 1)
    assert default_workers(4, cpus=8) == (4, 2)
    assert default_workers(1, cpus=8) == (1, 8)
    assert default_workers(2, cpus=64) == (2, 8)


def test_server_url() -> None:
    assert server_url("ws://127.0.0.1:8765", "/v1/listen") == "ws://127.0.0.1:8765/v1/listen"
    assert server_url("127.0.0.1:9", "/v1/listen") == "ws://127.0.0.1:9/v1/listen"
    assert server_url("https://h:1/?token=a", "/v1/captions") == "wss://h:1/v1/captions?token=a"
    assert server_url("ws://h:1/v1/listen", "/v1/captions") == "ws://h:1/v1/listen"


@pytest.mark.parametrize(
    "module",
    [
        "livewhisper.protocol",
        "livewhisper.server.config",
        "livewhisper.server.pool",
        "livewhisper.client",
    ],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
