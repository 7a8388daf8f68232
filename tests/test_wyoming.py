"""The Wyoming server with the ``wyoming`` package's own TCP client on 127.0.0.1: real
speech at 16 kHz, 22.05 kHz stereo and 48 kHz against offline decoding, transcript
chunks while the audio still plays, Spanish with the base model, bad input answered with
Wyoming's error event, limits; and the wire rules (sans-I/O) without a model."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, REPO, deadline, read_wav, reference
from server_fixtures import fixture_server_pool  # noqa: F401
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event
from wyoming.info import Describe, Info
from wyoming_fixtures import Exchange, as_pcm, port_of, transcribe, wyoming_server

from livewhisper.cli.main import main
from livewhisper.deltas import TextDeltas
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError
from livewhisper.filetranscribe import transcribe_file
from livewhisper.protocol import ProtocolError
from livewhisper.server import ModelPool
from livewhisper.server.wyoming_protocol import (
    MAX_PAYLOAD,
    Begin,
    Reply,
    Samples,
    WyomingProtocol,
    parse_uri,
    pcm_samples,
    read_header,
)
from livewhisper.server.wyoming_server import WyomingConfig, _KeptAudio
from livewhisper.wer import word_error_rate

# -- the wire rules, no model -----------------------------------------------------------------


def test_pcm_of_every_width_keeps_full_scale() -> None:
    values = np.array([-1.0, -0.5, 0.0, 0.5], dtype=np.float64)
    for width, dtype, scale in ((2, "<i2", 2**15), (4, "<i4", 2**31)):
        raw = (values * scale).astype(dtype).tobytes()
        got = pcm_samples(raw, width, 1).ravel() / scale
        assert np.allclose(got, values)
    as24 = b"".join(int(v * 2**23).to_bytes(3, "little", signed=True) for v in values)
    assert np.allclose(pcm_samples(as24, 3, 1).ravel() / 2**31, values)
    stereo = pcm_samples(np.array([1, 2, 3, 4], dtype="<i2").tobytes(), 2, 2)
    assert stereo.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ProtocolError, match="whole frames"):
        pcm_samples(b"\x00\x00\x00", 2, 1)


def test_headers_are_bounded_before_anything_is_read() -> None:
    header = read_header(b'{"type": "audio-chunk", "data_length": 10, "payload_length": 4096}')
    assert (header.type, header.data_length, header.payload_length) == ("audio-chunk", 10, 4096)
    for line, code in (
        (b"{oops", "invalid_json"),
        (b'{"data": {}}', "invalid_json"),
        (b'{"type": "x", "payload_length": -1}', "invalid_json"),
        (b'{"type": "x", "payload_length": %d}' % (MAX_PAYLOAD + 1), "frame_too_large"),
    ):
        with pytest.raises(ProtocolError) as caught:
            read_header(line)
        assert caught.value.code.value == code


def test_protocol_states() -> None:
    protocol = WyomingProtocol(Info())
    assert protocol.receive(Event("select-program", {"name": "x"})) == []  # ignored
    protocol.receive(Event("transcribe", {"language": "es-ES", "name": "base-q8_0"}))
    begin = protocol.receive(AudioStart(rate=22050, width=2, channels=2).event())
    assert begin == [Begin(22050, "base-q8_0", "es")]
    chunk = AudioChunk(22050, 2, 2, np.zeros(8, dtype="<i2").tobytes()).event()
    (samples,) = protocol.receive(chunk)
    assert isinstance(samples, Samples) and samples.samples.shape == (4, 2)
    with pytest.raises(ProtocolError, match="audio-stop first"):
        protocol.receive(AudioStart(rate=16000, width=2, channels=1).event())
    protocol.receive(AudioStop().event())
    (late,) = protocol.receive(chunk)  # answered, and the connection goes on
    assert isinstance(late, Reply) and late.event.type == "error"
    assert late.event.data["code"] == "audio_after_end"
    assert "after audio-stop: send audio-start" in late.event.data["text"]
    assert protocol.receive(chunk) == []  # said once: a microphone still sending is ignored
    protocol.receive(AudioStart(rate=16000, width=2, channels=1).event())
    protocol.receive(AudioStop().event())
    assert len(protocol.receive(chunk)) == 1  # a new gap: said again
    for early in (AudioChunk(16000, 2, 1, b"\x00\x00").event(), AudioStop().event()):
        (reply,) = WyomingProtocol(Info()).receive(early)
        assert isinstance(reply, Reply) and reply.event.data["code"] == "audio_before_start"
    for bad, code in (
        (AudioStart(rate=4000, width=2, channels=1).event(), "unsupported_sample_rate"),
        (AudioStart(rate=16000, width=5, channels=1).event(), "unsupported_encoding"),
        (Event("audio-start", {"rate": 16000}), "invalid_config"),
    ):
        with pytest.raises(ProtocolError) as caught:
            WyomingProtocol(Info()).receive(bad)
        assert caught.value.code.value == code


def test_uris_and_remote_listening() -> None:
    assert parse_uri("tcp://[::1]:10300") == ("tcp", "::1", 10300)
    for bad in ("tcp://127.0.0.1", "http://127.0.0.1:10300", "10300"):
        with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
            parse_uri(bad)
    with pytest.raises(ConfigError, match="--allow-remote"):
        WyomingConfig(uri="tcp://0.0.0.0:10300")
    assert WyomingConfig(uri="tcp://0.0.0.0:10300", allow_remote=True).pace.max_ahead == 10.0
    for bad_seconds in (-1.0, math.inf, math.nan):
        with pytest.raises(ConfigError, match="whole_decode_seconds"):
            WyomingConfig(whole_decode_seconds=bad_seconds)


def test_a_stream_is_kept_for_the_whole_decode_up_to_its_limit() -> None:
    """Stereo int16 at 48 kHz is kept as mono float32; going over the limit, or changing
    the rate, drops it all (the live finals then make the transcript)."""
    kept = _KeptAudio(limit=1.0)
    stereo = np.full((24000, 2), [16384, -16384], dtype=np.int16)
    assert kept.add(Samples(stereo, 48000)) and kept.rate == 48000
    assert kept.samples().shape == (24000,) and kept.samples().dtype == np.float32
    assert np.allclose(kept.samples(), 0.0)
    assert kept.add(Samples(stereo, 48000))  # exactly 1.0 s
    assert not kept.add(Samples(stereo[:1], 48000))
    assert kept.samples().size == 0
    other = _KeptAudio(limit=10.0)
    assert other.add(Samples(stereo, 48000)) and not other.add(Samples(stereo, 16000))


def test_deltas_never_take_text_back() -> None:
    deltas = TextDeltas(separator=" ")
    pieces = [
        deltas.partial(""),
        deltas.partial("And so,"),
        deltas.partial("And so my"),  # the comma went: it cannot be unsent, "my" goes
        deltas.final("And so, my fellow Americans."),
        deltas.partial("Ask not what"),
        deltas.partial("Ask not"),  # shorter: nothing
        # Whisper changed its mind on a word's case and punctuation, and went on.
        deltas.final("Ask not What, your country can do for you."),
        deltas.partial("Ask what"),
        deltas.final("Ask what you can do."),
    ]
    assert pieces == [
        "",
        "And so,",
        " my",
        " fellow Americans.",
        " Ask not what",
        "",
        " your country can do for you.",
        " Ask what",
        " you can do.",
    ]


def test_deltas_align_a_changed_final_by_words() -> None:
    """A final that changed a word sends what follows the aligned end of what was sent,
    never the sent words again and never fewer than the new ones."""
    deltas = TextDeltas(separator=" ")
    sent = deltas.partial("I think that")
    assert deltas.final("I thing that we think that works.") == " we think that works."
    assert sent == "I think that"
    deltas.partial("one two three")
    assert deltas.final("One, two, three, three.") == " three."


def test_deltas_of_a_whole_transcript_follow_every_piece_sent() -> None:
    """The decode of a whole stream at its end sends only the words past all the pieces
    of every utterance already sent, and nothing when it adds none."""
    deltas = TextDeltas(separator=" ")
    pieces = [deltas.final("And so my fellow"), deltas.partial("Americans, ask")]
    assert deltas.whole("And so, my fellow Americans, ask not.") == " not."
    assert "".join(pieces) == "And so my fellow Americans, ask"
    assert deltas.whole("And so my fellow Americans ask not") == ""
    assert TextDeltas(separator=" ").whole("Hello there.") == "Hello there."
    assert TextDeltas(separator=" ").whole("") == ""


# -- real speech over real sockets --------------------------------------------------------------


def _clip(name: str) -> np.ndarray:
    return read_wav(DATA / "en" / f"{name}.flac")


@pytest.mark.slow
def test_any_rate_and_channels_match_offline_decoding(
    server_pool: ModelPool, tiny_engine: object
) -> None:
    """Three clients at once send 16 kHz, 22.05 kHz stereo and 48 kHz in 1024-sample
    chunks at real-time pace, as a microphone would; each transcript is the file
    transcription's of the same audio (a stream this short is decoded again whole at
    ``audio-stop``), give or take one word for the resampling."""
    audio = _clip("jfk")
    truth = reference("jfk")
    offline = transcribe_file(audio, tiny_engine, DecodeOptions(language="en"))  # type: ignore[arg-type]
    offline_wer = word_error_rate(truth, offline.text)

    formats = ((16000, 1), (22050, 2), (48000, 1))

    async def run() -> list[Exchange]:
        # Three clients and the server share this process: on a busy machine the clients'
        # pace is the test's, not the server's, to check here.
        async with wyoming_server(server_pool, min_audio_rate=0.0) as server:
            port = port_of(server)
            return await asyncio.gather(
                *(
                    transcribe(port, audio, rate=rate, channels=ch, speed=1.0)
                    for rate, ch in formats
                )
            )

    for (rate, channels), got in zip(formats, asyncio.run(run()), strict=True):
        assert got.events[0].type == "transcript-start", got.events
        assert got.events[-1].type == "transcript-stop"
        text, chunks = got.transcript, got.chunk_text
        wer = word_error_rate(truth, text)
        print(f"{rate} Hz x{channels}: WER {wer:.3f} (offline {offline_wer:.3f}): {text}")
        assert wer <= offline_wer + 1 / 22 + 1e-9, (rate, channels, text)  # one word of 22
        # The chunks are the stable text as it came, then the finals: the same words.
        assert word_error_rate(text, chunks) <= 0.2, (chunks, text)


@pytest.mark.slow
def test_transcript_chunks_arrive_while_the_audio_plays(server_pool: ModelPool) -> None:
    """11 s of broadcast speech: text comes before ``audio-stop``. Sent at half speed, so
    that even a loaded machine has time for partial decodes (when decoding falls behind,
    partials are rightly the first thing skipped). With ``whole_decode_seconds=0`` the
    live finals make the transcript, as they do for streams over the limit."""
    long = read_wav(DATA / "long" / "voxconverse_aepyx_169s.flac")
    piece = long[20 * 16000 : 31 * 16000]

    async def run() -> Exchange:
        async with wyoming_server(server_pool, whole_decode_seconds=0.0) as server:
            return await transcribe(port_of(server), piece, speed=0.5)

    got = asyncio.run(run())
    early = got.before_stop("transcript-chunk")
    print(f"{len(early)} chunks before audio-stop; transcript: {got.transcript}")
    assert early, got.events
    assert len(got.transcript.split()) >= 12


@pytest.mark.slow
def test_spanish_with_the_base_model(
    model_cache: Path, spanish_speech: tuple[np.ndarray, str], base_engine: object
) -> None:
    audio, text = spanish_speech
    # `livewhisper transcribe` on the same 48 kHz samples the client sends.
    pcm = np.frombuffer(as_pcm(audio, 48000, 1), "<i2")
    offline = transcribe_file(pcm, base_engine, DecodeOptions(language="es"), sample_rate=48000)  # type: ignore[arg-type]
    offline_wer = word_error_rate(text, offline.text)

    async def run() -> Exchange:
        with ModelPool(["tiny.en-q8_0", "base-q8_0"], workers=1, threads=2) as pool:
            async with wyoming_server(pool) as server:
                port = port_of(server)
                async with AsyncTcpClient("127.0.0.1", port) as client:
                    await client.write_event(Describe().event())
                    info = Info.from_event(await client.read_event())  # type: ignore[arg-type]
                models = {m.name: m.languages for m in info.asr[0].models}
                assert models["tiny.en-q8_0"] == ["en"] and "es" in models["base-q8_0"]
                assert info.asr[0].supports_transcript_streaming
                return await transcribe(
                    port, audio, rate=48000, speed=1.0, language="es", model="base-q8_0"
                )

    got = asyncio.run(run())
    transcript = got.transcript
    early = got.before_stop("transcript-chunk")
    wer = word_error_rate(text, transcript)
    print(
        f"Spanish: WER {wer:.3f} (file {offline_wer:.3f}: {offline.text}): {transcript}; "
        f"{len(early)} chunks before audio-stop"
    )
    assert early, got.events  # 14.7 s of speech: text while it plays
    # One word of the clip's 29: whisper.cpp's sums differ with the thread count, which
    # follows the machine's load, and that can flip a word.
    assert wer <= offline_wer + 1 / len(text.split()) + 1e-9, (transcript, offline.text)


async def _errors_of(pool: ModelPool, payload: bytes, **options: object) -> list[Event]:
    """Send raw bytes to a fresh server; the events it sends back until it closes."""
    async with wyoming_server(pool, **options) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        writer.write(payload)
        await writer.drain()
        events = []
        while (event := await asyncio.wait_for(async_read_event(reader), deadline(30))) is not None:
            events.append(event)
        writer.close()
    return events


def _event(kind: str, data: dict[str, object]) -> bytes:
    body = json.dumps(data).encode()
    return json.dumps({"type": kind, "data_length": len(body)}).encode() + b"\n" + body


def test_bad_input_gets_the_error_event_and_a_close(server_pool: ModelPool) -> None:
    mono = {"rate": 16000, "width": 2, "channels": 1}
    cases: list[tuple[bytes, dict[str, object], str]] = [
        (b"not json\n", {}, "invalid_json"),
        (
            _event("transcribe", {"name": "large-v3"}) + _event("audio-start", mono),
            {},
            "unknown_model",
        ),
        (
            _event("transcribe", {"language": "es"}) + _event("audio-start", mono),
            {},
            "unsupported_language",
        ),
        (b'{"type": "audio-chunk", "payload_length": 999999999}\n', {}, "frame_too_large"),
        (b"", {"idle_timeout": 0.3}, "idle_timeout"),
    ]
    for payload, options, code in cases:
        events = asyncio.run(_errors_of(server_pool, payload, **options))
        errors = [e for e in events if e.type == "error"]
        assert [e.data.get("code") for e in errors] == [code], (payload, events)
        assert errors[0].data["text"]


def test_a_client_still_sending_after_an_error_reads_the_error(server_pool: ModelPool) -> None:
    """A client streams a microphone's chunks and reads replies only at the end (as a
    simple script with the wyoming package does): the error its first event earned must
    reach it, not a reset connection and a BrokenPipeError on its next write."""
    chunk = AudioChunk(16000, 2, 1, bytes(2048)).event()

    async def run() -> list[Event]:
        async with (
            wyoming_server(server_pool) as server,
            AsyncTcpClient("127.0.0.1", port_of(server)) as client,
        ):
            await client.write_event(AudioStart(rate=16000, width=5, channels=1).event())
            for _ in range(40):  # 2.6 s of audio in 0.4 s after the refused audio-start
                await client.write_event(chunk)
                await asyncio.sleep(0.01)
            events = []
            while (event := await asyncio.wait_for(client.read_event(), deadline(10))) is not None:
                events.append(event)
            return events

    events = asyncio.run(run())
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "unsupported_encoding"


def test_audio_outside_a_stream_is_told_once_and_the_connection_goes_on(
    server_pool: ModelPool,
) -> None:
    chunk = AudioChunk(16000, 2, 1, bytes(2048)).event()

    async def run() -> list[Event]:
        async with (
            wyoming_server(server_pool) as server,
            AsyncTcpClient("127.0.0.1", port_of(server)) as client,
        ):
            for _ in range(5):  # a microphone already sending before any audio-start
                await client.write_event(chunk)
            await client.write_event(Describe().event())
            events = []
            while (event := await asyncio.wait_for(client.read_event(), deadline(10))) is not None:
                events.append(event)
                if event.type == "info":
                    break
            return events

    events = asyncio.run(run())
    assert [e.type for e in events] == ["error", "info"]
    assert events[0].data["code"] == "audio_before_start"


def test_silence_gets_an_empty_transcript_in_the_stream_s_language(
    server_pool: ModelPool,
) -> None:
    async def run() -> Exchange:
        async with wyoming_server(server_pool) as server:
            return await transcribe(port_of(server), np.zeros(24000, np.float32), language=None)

    exchange = asyncio.run(run())
    (transcript,) = exchange.of_type("transcript")
    assert transcript.data["text"] == ""
    assert transcript.data.get("language") == "en"  # the English-only model's, as at the start


def test_clients_beyond_max_sessions_are_told_busy(server_pool: ModelPool) -> None:
    async def run() -> str:
        async with wyoming_server(server_pool, max_sessions=1) as server:
            port = port_of(server)
            async with AsyncTcpClient("127.0.0.1", port) as first:
                await first.write_event(Describe().event())
                assert (await first.read_event()).type == "info"  # type: ignore[union-attr]
                async with AsyncTcpClient("127.0.0.1", port) as second:
                    event = await asyncio.wait_for(second.read_event(), deadline(10))
                    assert event is not None and event.type == "error"
                    return str(event.data["code"])

    assert asyncio.run(run()) == "busy"


def test_a_client_mid_stream_is_told_the_server_is_stopping(server_pool: ModelPool) -> None:
    async def run() -> list[Event]:
        async with wyoming_server(server_pool) as server:
            client = AsyncTcpClient("127.0.0.1", port_of(server))
            await client.connect()
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            await client.write_event(AudioChunk(16000, 2, 1, bytes(2 * 1600)).event())
            events = [await asyncio.wait_for(client.read_event(), deadline(10))]
            await server.close()
            while event := await asyncio.wait_for(client.read_event(), deadline(10)):
                events.append(event)  # to the end of the stream: the server closed it
            await client.disconnect()
            return [e for e in events if e is not None]

    events = asyncio.run(run())
    assert [e.type for e in events] == ["transcript-start", "error"], events
    assert events[-1].data["code"] == "shutting_down"


def test_wyoming_command_serves_until_interrupted_logging_each_client() -> None:
    command = ["wyoming", "--uri", "tcp://127.0.0.1:0", "--verbose"]
    process = subprocess.Popen(
        [sys.executable, "-m", "livewhisper.cli.main", *command],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        cwd=REPO,
    )
    try:
        assert process.stderr is not None
        give_up, line = time.monotonic() + deadline(60), ""
        while " on tcp://" not in line and time.monotonic() < give_up:
            line = process.stderr.readline()
            assert line or process.poll() is None, "wyoming exited early"
        port = int(line.split(" on tcp://")[1].split()[0].rsplit(":", 1)[1])

        async def describe() -> Info:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), deadline(10))
                assert event is not None
                return Info.from_event(event)

        assert asyncio.run(describe()).asr[0].models[0].languages == ["en"]
        said = asyncio.run(transcribe(port, read_wav(DATA / "en" / "jfk.flac")))
        words = said.transcript.split()
        assert word_error_rate(reference("jfk"), said.transcript) < 0.2
        process.send_signal(signal.SIGINT)
        _, log = process.communicate(timeout=deadline(30))
        assert process.returncode == 0, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # --verbose: a timestamped line per client event; how many words, never which.
    client = r"client 127\.0\.0\.1:\d+"
    assert re.search(rf"^livewhisper \d\d:\d\d:\d\d: {client} connected$", log, re.M), log
    assert re.search(rf"{client} left after \d+\.\d s$", log, re.M), log
    heard = re.search(rf"{client}: (\d+) words from 11\.\d s of audio \(tiny\.en-q8_0, en\)", log)
    assert heard and int(heard.group(1)) == len(words), log
    assert "Americans" not in log and "country" not in log


def test_wyoming_command_refuses_an_open_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wyoming", "--uri", "tcp://0.0.0.0:10300"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-remote" in err


@pytest.mark.slow
def test_the_server_s_vocabulary_steers_every_stream(server_pool: ModelPool) -> None:
    """``livewhisper wyoming --hotwords`` (WyomingConfig.vocabulary): Wyoming's
    ``transcribe`` event has no field for names, so the server's list steers every
    stream, live chunks and transcript alike (JFK's "ask not" with the surname Knott)."""
    audio = _clip("jfk")

    async def run() -> Exchange:
        async with wyoming_server(server_pool, vocabulary=("Knott",)) as server:
            return await transcribe(port_of(server), audio)

    got = asyncio.run(run())
    assert "ask Knott what your country" in got.transcript, got.transcript
    with pytest.raises(ConfigError, match="not int"):
        WyomingConfig(vocabulary=42)  # type: ignore[arg-type]
