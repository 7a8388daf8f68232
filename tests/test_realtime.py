"""OpenAI Realtime transcription sessions on the caption server, with the official
``openai`` client on 127.0.0.1: real speech at real-time pace (deltas while it plays, a
completed item per utterance, WER against protocol 1 on the same audio), commits by the
client, errors, the model aliases on REST and ``/v1/models``; Wyoming and Realtime
clients at once on one model pool; and the wire rules (sans-I/O) without a model."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import soxr
from conftest import DATA, deadline, read_wav, reference
from openai import AsyncOpenAI, OpenAI
from server_fixtures import fixture_server_pool, running_server, stream_session  # noqa: F401
from wyoming_fixtures import port_of, transcribe, wyoming_server

from livewhisper.engine import DecodeOptions
from livewhisper.events import Final, Partial
from livewhisper.server import ModelPool, ServerThread
from livewhisper.server.realtime import (
    Append,
    Configure,
    RealtimeProtocol,
    TranscriptionSettings,
    parse_session,
)
from livewhisper.wer import word_error_rate

# -- the wire rules, no model -----------------------------------------------------------------


def test_both_session_shapes_are_understood() -> None:
    current = parse_session(
        {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 16000},
                    "transcription": {
                        "model": "gpt-4o-transcribe",
                        "language": "en",
                        "prompt": "JFK",
                    },
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                }
            },
        },
        TranscriptionSettings(),
    )
    assert (current.rate, current.model, current.language, current.prompt) == (
        16000, "gpt-4o-transcribe", "en", "JFK",
    )  # fmt: skip
    assert current.turn_detection and current.silence == 0.6
    beta = parse_session(
        {"input_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"},
         "turn_detection": None},
        current,
    )  # fmt: skip
    assert (beta.rate, beta.model, beta.turn_detection, beta.language) == (
        24000,
        "whisper-1",
        False,
        "en",
    )


def test_client_events_and_errors() -> None:
    protocol = RealtimeProtocol("s1", model="tiny.en-q8_0", beta=True)
    assert protocol.opening()[0]["type"] == "transcription_session.created"
    pcm = np.arange(6, dtype="<i2").tobytes()
    frame = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )
    (append,) = protocol.receive(frame)
    assert (
        isinstance(append, Append)
        and append.rate == 24000
        and append.samples.tolist() == [0, 1, 2, 3, 4, 5]
    )
    update = json.dumps(
        {"type": "transcription_session.update", "session": {"turn_detection": None}}
    )
    (configure,) = protocol.receive(update)
    assert isinstance(configure, Configure) and not configure.settings.turn_detection
    assert protocol.settings.turn_detection  # until the server takes them
    assert protocol.updated(configure)["type"] == "transcription_session.updated"
    assert not protocol.settings.turn_detection
    for frame, code in (
        ("{oops", "invalid_json"),
        (b"\x00\x01", "invalid_json"),
        ('{"type": "response.create"}', "invalid_value"),
        ('{"type": "input_audio_buffer.append", "audio": "@@@"}', "invalid_value"),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter"),
        ('{"type": "session.update", "session": {"input_audio_format": "opus"}}', "invalid_value"),
        (_update({"input_audio_format": ["pcm16"]}), "invalid_type"),
        (_update({"audio": {"input": {"format": {"type": {}}}}}), "invalid_type"),
        (
            json.dumps({"type": "session.update", "event_id": "e7", "session": _rate(3)}),
            "invalid_value",
        ),
    ):
        (reply,) = protocol.receive(frame)
        error = reply.event  # type: ignore[union-attr]
        assert error["type"] == "error" and error["error"]["code"] == code, (frame, error)
        assert error["error"]["message"]
    assert error["error"]["event_id"] == "e7"


def test_g711_audio_is_taken_at_8_khz_in_either_shape() -> None:
    protocol = RealtimeProtocol("s1", model="m")
    for fmt, law, name in (
        ({"input_audio_format": "g711_ulaw"}, "mulaw", "audio/pcmu"),
        ({"audio": {"input": {"format": {"type": "audio/pcma"}}}}, "alaw", "audio/pcma"),
    ):
        (configure,) = protocol.receive(json.dumps({"type": "session.update", "session": fmt}))
        assert isinstance(configure, Configure)
        assert (configure.settings.g711, configure.settings.rate) == (law, 8000)
        shown = protocol.updated(configure)["session"]["audio"]["input"]["format"]
        assert shown == {"type": name}
    # ITU-T G.711's codes for silence and the largest positive and negative values.
    frame = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\xd5\xaa\x2a").decode()}
    )
    (append,) = protocol.receive(frame)
    assert isinstance(append, Append) and append.rate == 8000
    assert append.samples.dtype == np.int16 and append.samples.tolist() == [8, 32256, -32256]
    # Back to PCM16: a rate of its own again, and whole 2-byte samples wanted.
    (configure,) = protocol.receive(json.dumps({"type": "session.update", "session": _rate(16000)}))
    assert isinstance(configure, Configure)
    protocol.updated(configure)
    assert (protocol.settings.g711, protocol.settings.rate) == (None, 16000)


def _update(session: dict[str, Any]) -> str:
    return json.dumps({"type": "session.update", "session": session})


def _rate(rate: int) -> dict[str, Any]:
    return {"audio": {"input": {"format": {"type": "audio/pcm", "rate": rate}}}}


def test_partials_and_finals_become_items() -> None:
    protocol = RealtimeProtocol("s1", model="m")
    events = []
    for event in (
        Partial("And so", 0.3, 1.0, stable=""),
        Partial("And so my fellow", 0.3, 1.6, stable="And so my"),
        Final("And so my fellow Americans.", 0.3, 2.2),
        Partial("Ask not", 2.9, 3.5, stable="Ask"),
        Final("Ask not.", 2.9, 3.8),
    ):
        events += protocol.on_event(event, offset=10.0)
    kinds = [e["type"].rsplit(".", 1)[-1] for e in events]
    assert kinds == [
        "speech_started", "delta", "speech_stopped", "committed", "delta", "completed",
        "speech_started", "delta", "speech_stopped", "committed", "delta", "completed",
    ]  # fmt: skip
    assert events[0]["audio_start_ms"] == 10300 and events[2]["audio_end_ms"] == 12200
    first, second = events[0]["item_id"], events[6]["item_id"]
    assert first != second and events[9]["previous_item_id"] == first
    assert "".join(e["delta"] for e in events[:6] if "delta" in e) == "And so my fellow Americans."
    assert events[5]["transcript"] == "And so my fellow Americans."
    assert len({e["event_id"] for e in events}) == len(events)


# -- the official client over real sockets ------------------------------------------------------


@dataclass
class Received:
    """What one realtime session received, with monotonic arrival times."""

    events: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    audio_end: float = float("inf")

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    @property
    def completed(self) -> list[str]:
        return [
            e.transcript
            for e in self.of_type("conversation.item.input_audio_transcription.completed")
        ]


async def realtime_session(
    api_url: str,
    audio: np.ndarray,
    *,
    session: dict[str, Any] | None = None,
    speed: float | None = 1.0,
    tail: float = 1.0,
    g711: str | None = None,
) -> Received:
    """Stream ``audio`` (16 kHz float) as 24 kHz PCM16 (or as 8 kHz G.711 of law
    ``g711``: the session must say so) in 100 ms appends through the official client,
    ``speed`` x real time, then ``tail`` s of silence and a commit (the utterance in
    progress ends); read events until the last speech is transcribed."""
    rate = 8000 if g711 else 24000
    pcm = (np.clip(soxr.resample(audio, 16000, rate), -1, 1) * 32767).astype("<i2")
    pcm = np.concatenate([pcm, np.zeros(int(rate * tail), dtype="<i2")])
    encode = (lambda samples: _g711_bytes(samples, g711)) if g711 else (lambda s: s.tobytes())
    client = AsyncOpenAI(base_url=api_url, api_key="unused")
    got = Received()
    async with client.realtime.connect(model="gpt-4o-transcribe") as connection:
        if session is not None:
            await connection.session.update(session=session)  # type: ignore[arg-type]

        async def read() -> None:
            async for event in connection:
                got.events.append(event)
                got.times.append(time.monotonic())
                if event.type == "error":
                    return

        reader = asyncio.create_task(read())
        step, t0 = rate // 10, time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            if speed is not None:
                await asyncio.sleep(max(0.0, t0 + index * 0.1 / speed - time.monotonic()))
            chunk = base64.b64encode(encode(pcm[offset : offset + step])).decode()
            await connection.input_audio_buffer.append(audio=chunk)
        got.audio_end = time.monotonic()
        await connection.input_audio_buffer.commit()
        # Then silence, as a live microphone goes on sending (a session that sends no
        # audio is closed as protocol 1's are), until everything is transcribed.
        silence = base64.b64encode(encode(np.zeros(step, "<i2"))).decode()
        speech_end = len(audio) / 16000 - 1.0  # the clips end within a second of speech
        give_up = time.monotonic() + deadline(90)
        sent = len(range(0, len(pcm), step))
        while not reader.done() and time.monotonic() < give_up and not _settled(got, speech_end):
            await asyncio.sleep(0.1)
            while speed is not None and sent < (time.monotonic() - t0) * speed / 0.1:
                await connection.input_audio_buffer.append(audio=silence)
                sent += 1
        reader.cancel()
    return got


def _g711_bytes(samples: np.ndarray, law: str) -> bytes:
    """16-bit samples at 8 kHz as G.711 codes, by FFmpeg's encoder (PyAV), as a telephone
    bridge sends them."""
    import av

    codec = av.CodecContext.create(f"pcm_{law}", "w")
    codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"  # type: ignore[attr-defined]
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    packets = [*codec.encode(frame), *codec.encode(None)]  # type: ignore[attr-defined]
    return b"".join(bytes(p) for p in packets)


def _settled(got: Received, speech_end: float) -> bool:
    """Whether the last speech is transcribed: an item stopped after ``speech_end``
    seconds and completed, and none open (with turn detection); a completed item
    (without)."""
    stops = [e.audio_end_ms / 1000 for e in got.of_type("input_audio_buffer.speech_stopped")]
    if not got.of_type("input_audio_buffer.speech_started"):
        return bool(got.completed)
    return bool(stops) and max(stops) >= speech_end and not _open_item(got)


def _open_item(got: Received) -> bool:
    started = {e.item_id for e in got.of_type("input_audio_buffer.speech_started")}
    done = {e.item_id for e in got.of_type("conversation.item.input_audio_transcription.completed")}
    return bool(started - done)


def _check_items(got: Received) -> None:
    """Each item: speech_started before its deltas, then committed and completed; the
    completed items in the order they were spoken."""
    assert not got.of_type("error"), got.of_type("error")
    assert got.events[0].type == "session.created"
    assert got.completed, [e.type for e in got.events]
    for done in got.of_type("conversation.item.input_audio_transcription.completed"):
        kinds = [e.type for e in got.events if getattr(e, "item_id", None) == done.item_id]
        assert kinds[0] == "input_audio_buffer.speech_started", kinds
        assert kinds[-1] == "conversation.item.input_audio_transcription.completed", kinds
        assert "input_audio_buffer.committed" in kinds


@pytest.mark.slow
def test_official_client_streams_deltas_while_the_clip_plays(server_pool: ModelPool) -> None:
    """JFK at real-time pace through ``client.realtime.connect``: deltas before the audio
    ends, a completed item per utterance, WER within a point of protocol 1 on the same
    audio and finals no later than protocol 1's (median)."""
    audio = read_wav(DATA / "en" / "jfk.flac")
    with running_server(server_pool) as server:
        p1_start = time.monotonic()
        p1 = asyncio.run(stream_session(server.ws_url, audio, config={"language": "en"}))
        t0 = time.monotonic()
        got = asyncio.run(realtime_session(server.api_url, audio, session=_en()))
    _check_items(got)
    deltas = [t for e, t in zip(got.events, got.times, strict=True) if e.type.endswith(".delta")]
    assert deltas, [e.type for e in got.events]
    # Text while the clip plays, as protocol 1 gives it on this machine at this moment (a
    # machine too busy to decode in time gives neither: partials are the first thing
    # skipped when decoding falls behind).
    p1_end = p1_start + len(audio) / 16000
    p1_streamed = any(
        t < p1_end for m, t in zip(p1.messages, p1.times, strict=True) if m["type"] != "ready"
    )
    assert deltas[0] < got.audio_end or not p1_streamed, "no delta while the clip played"
    text, p1_text = " ".join(got.completed), p1.text
    wer, p1_wer = (
        word_error_rate(reference("jfk"), text),
        word_error_rate(reference("jfk"), p1_text),
    )
    # Each final's delay after the end of its audio, in both protocols.
    done = got.of_type("conversation.item.input_audio_transcription.completed")
    stops = {
        e.item_id: e.audio_end_ms / 1000 for e in got.of_type("input_audio_buffer.speech_stopped")
    }
    rt_lag = [
        t - t0 - stops[e.item_id] for e, t in zip(got.events, got.times, strict=True) if e in done
    ]
    p1_lag = [
        t - p1_start - m["end"]
        for m, t in zip(p1.messages, p1.times, strict=True)
        if m["type"] == "final"
    ]
    print(
        f"\nrealtime WER {wer:.3f} ({len(done)} items, {len(deltas)} deltas, final lag median "
        f"{np.median(rt_lag):.2f} s) vs protocol 1 WER {p1_wer:.3f} (median lag "
        f"{np.median(p1_lag):.2f} s): {text}"
    )
    assert wer <= p1_wer + 0.1, (text, p1_text)  # protocol 1's own bound against offline


def _en(**input_options: Any) -> dict[str, Any]:
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                **input_options,
            }
        },
    }


@pytest.mark.slow
def test_commits_by_the_client_and_the_model_aliases(server_pool: ModelPool) -> None:
    audio = read_wav(DATA / "en" / "ps_0890.flac")
    offline = server_pool.engine().transcribe(audio, DecodeOptions(language="en")).text
    with running_server(server_pool) as server:
        got = asyncio.run(
            realtime_session(
                server.api_url,
                audio,
                session=_en(turn_detection=None),
                speed=None,
                tail=0.2,
            )
        )
        models = json.load(urllib.request.urlopen(server.api_url + "/models", timeout=deadline(10)))
        rest = OpenAI(base_url=server.api_url, api_key="unused").audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=(DATA / "en" / "ps_0890.flac").open("rb")
        )
    # The alias, on REST (a file job: its decoding differs in hyphens from the array's).
    assert word_error_rate(reference("ps_0890"), rest.text) <= 0.3, rest.text
    assert not got.of_type("error") and not got.of_type("input_audio_buffer.speech_started")
    assert [e.type.rsplit(".", 1)[-1] for e in got.events[-3:]] == [
        "committed",
        "delta",
        "completed",
    ]
    # Decoded whole, as offline: only the resampling to 24 kHz and back differs.
    assert word_error_rate(offline, got.completed[0]) <= 0.1, (offline, got.completed)
    ids = {m["id"]: m for m in models["data"]}
    for alias in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"):
        assert ids[alias]["alias_of"] == "tiny.en-q8_0"


@pytest.mark.slow
@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_telephone_audio_in_g711(server_pool: ModelPool, law: str) -> None:
    """JFK as a telephone bridge sends it (8 kHz G.711, the current shape's
    ``audio/pcmu`` / ``audio/pcma``), committed by the client: the words of the 16 kHz
    clip decoded whole, give or take what the telephone band loses."""
    audio = read_wav(DATA / "en" / "jfk.flac")
    offline = server_pool.engine().transcribe(audio, DecodeOptions(language="en")).text
    name = {"mulaw": "audio/pcmu", "alaw": "audio/pcma"}[law]
    session = _en(format={"type": name}, turn_detection=None)
    with running_server(server_pool) as server:
        got = asyncio.run(
            realtime_session(server.api_url, audio, session=session, speed=None, g711=law)
        )
    assert not got.of_type("error"), got.of_type("error")
    (text,) = got.completed
    wer = word_error_rate(reference("jfk"), text)
    print(f"\n{law}: WER {wer:.3f}: {text} (16 kHz: {offline})")
    assert wer <= word_error_rate(reference("jfk"), offline) + 2 / 22, (text, offline)


@pytest.mark.slow
def test_the_server_s_vocabulary_steers_realtime_sessions_too(server_pool: ModelPool) -> None:
    """``serve --hotwords`` steers a Realtime session as it does protocol 1's and the
    uploads, beside the session's own ``prompt`` (JFK's "ask not" with the surname Knott)."""
    audio = read_wav(DATA / "en" / "jfk.flac")
    with running_server(server_pool, vocabulary=("Knott",)) as server:
        got = asyncio.run(
            realtime_session(
                server.api_url, audio, session=_en(turn_detection=None), speed=None, tail=0.2
            )
        )
    (text,) = got.completed
    assert "ask Knott what your country" in text, text


def test_errors_are_openai_shaped_and_the_session_goes_on(server_pool: ModelPool) -> None:
    async def run(url: str) -> list[Any]:
        client = AsyncOpenAI(base_url=url, api_key="unused")
        events = []
        async with client.realtime.connect(model="gpt-4o-mini-transcribe") as connection:
            await connection.send({"type": "input_audio_buffer.commit"})  # nothing to commit
            await connection.session.update(
                session=_en() | {"audio": {"input": {"transcription": {"model": "large-v3"}}}}
            )  # type: ignore[arg-type]
            await connection.session.update(session=_en())  # type: ignore[arg-type]
            async for event in connection:
                events.append(event)
                if event.type == "session.updated":
                    return events
        return events

    with running_server(server_pool) as server:
        events = asyncio.run(asyncio.wait_for(run(server.api_url), deadline(30)))
    kinds = [e.type for e in events]
    assert kinds[0] == "session.created" and kinds[-1] == "session.updated", kinds
    errors = [e.error for e in events if e.type == "error"]
    assert [e.code for e in errors] == ["input_audio_buffer_commit_empty", "model_not_found"]
    assert "(whisper-1, gpt-4o-transcribe, gpt-4o-mini-transcribe mean" in errors[1].message


@pytest.mark.slow
def test_three_wyoming_clients_and_two_realtime_sessions_at_once(server_pool: ModelPool) -> None:
    """Five speakers on the two workers of one pool: every transcript complete and right."""
    clips = ["jfk", "ps_0890", "ps_0920", "libri_61-70968-0000", "ps_0880"]
    audio = {name: read_wav(DATA / "en" / f"{name}.flac") for name in clips}

    async def run(server: ServerThread) -> list[str]:
        async with wyoming_server(server_pool, min_audio_rate=0.0) as wyoming:
            port = port_of(wyoming)
            exchanges = [transcribe(port, audio[n], speed=1.0) for n in clips[:3]]
            sessions = [
                realtime_session(server.api_url, audio[n], session=_en()) for n in clips[3:]
            ]
            results = await asyncio.gather(*exchanges, *sessions)
        texts = [r.transcript for r in results[:3]]
        for got in results[3:]:
            _check_items(got)  # type: ignore[arg-type]
            texts.append(" ".join(got.completed))  # type: ignore[union-attr]
        return texts

    # Seven dictations, two servers and five clients share this process and its two
    # cores: the clients' pace is the test's, not the server's, to check here.
    with running_server(server_pool, min_audio_rate=0.0) as server:
        texts = asyncio.run(run(server))
    engine = server_pool.engine()
    for name, text in zip(clips, texts, strict=True):
        offline = engine.transcribe(audio[name], DecodeOptions(language="en")).text
        wer = word_error_rate(reference(name), text)
        offline_wer = word_error_rate(reference(name), offline)
        print(f"{name}: WER {wer:.3f} (offline {offline_wer:.3f}): {text}")
        # None dropped, none garbled: against the reference, not the offline text, whose
        # own spellings ("coldhearted" for "cold hearted") would count twice.
        assert wer <= offline_wer + 0.2, (name, offline, text)
