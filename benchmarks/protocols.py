"""Protocols: Wyoming and OpenAI Realtime against the file transcription and protocol 1.

The figures of issue 20, each through the protocol's real client, on real speech (by
default every English clip of the data set with a reference, and the Spanish clips of
``clips(language="es")`` with ``--spanish-prompts`` more Asterisk prompts fetched from
Debian (:mod:`benchmarks.asterisk`: the repository's three clips alone are 65 words, so
one word is 1.5 points); when there is no Spanish at all, four Spanish sentences spoken
here by espeak-ng (:data:`SYNTHETIC_SPANISH`, one of them over 10 s): synthetic speech
exercises the Spanish path but is no accuracy figure to tune to):

* **file**: ``livewhisper transcribe -m MODEL -l LANG`` (the CLI, in its own process) on
  each clip file, and on WAV files of exactly the samples each Wyoming row sends (its
  rate and channels): the baseline that row is held to, "on the same audio".
* **Wyoming**: ``livewhisper wyoming`` in its own process; the ``wyoming`` package's
  ``AsyncTcpClient`` sends each clip on its own connection (``transcribe``,
  ``audio-start``, 16-bit ``audio-chunk``s of 1024 frames at real-time pace,
  ``audio-stop``) as 16 kHz mono, 22.05 kHz stereo (both channels equal) and 48 kHz mono
  (resampled with soxr here), and reads events until ``transcript-stop``. Per rate:
  corpus WER of the ``transcript`` events, its difference from the file transcription's
  of the same samples (points), the clips over 10 s that got a ``transcript-chunk``
  before the client sent ``audio-stop``, and the wall time from ``audio-stop`` sent to
  ``transcript``. English with tiny.en-q8_0, Spanish with base-q8_0.
* **protocol 1** and **Realtime**: one ``livewhisper serve`` process; each client, one
  after the other (``--rounds`` times, alternating: one stream's WER moves by points
  from run to run, and the summary compares the means), streams the English clips joined
  into one stream (0.5 s of silence, then each clip followed by ``--gap`` s of silence,
  then ``--tail`` s more) at real-time pace: :func:`livewhisper.client.listen` in 20 ms
  int16 frames at 16 kHz and again at 24 kHz (``--p1-rates``: Realtime's rate, to tell a
  difference of protocol from one of resampling), then ``end``; the official ``openai``
  client's ``client.realtime.connect`` (a transcription session with server turn
  detection, language en) in 100 ms appends of 24 kHz PCM16, then a commit and silence
  until no item is open. Finals (protocol 1) and completed items (Realtime, placed by
  their ``speech_started``/``speech_stopped`` audio times) belong to the clip their
  midpoint falls in (its span plus the gap after it). Per protocol: corpus WER, and per
  clip the wall time from its last sample sent to its last final received (**last audio
  -> final**) and from its last speech sent (WebRTC VAD, strictest mode, as in
  :mod:`benchmarks.streaming`) to the same final (**EOS -> final**): medians and
  maximum.

WER is :func:`livewhisper.wer.corpus_wer` (case, punctuation and tags ignored) of texts
without accents (:func:`benchmarks.asterisk.fold_accents`: the prompts' listing leaves
most out), in %;
times in seconds. The servers run with their defaults on this machine, one client at a
time; the clients run in the benchmark's process.

Example::

    python -m benchmarks protocols
    nice -n 19 python -m benchmarks protocols --clips jfk ps_0890 --tag smoke
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from benchmarks.asterisk import asterisk_prompts, fold_accents
from benchmarks.harness import (
    REPO,
    Benchmark,
    Clip,
    Column,
    Row,
    clips,
    free_port,
    livewhisper_program,
    prepare_models,
    stop_process,
)
from benchmarks.serving import start_server
from benchmarks.sounds import spoken
from benchmarks.streaming import RATE, joined_stream
from livewhisper.audio import to_pcm16
from livewhisper.wer import corpus_wer

EN_MODEL = "tiny.en-q8_0"
ES_MODEL = "base-q8_0"
FORMATS = ((16000, 1), (22050, 2), (48000, 1))
CHUNK = 1024
"""Frames per Wyoming ``audio-chunk``."""
LONG = 10.0
"""Clips longer than this (s) should get text before ``audio-stop``."""
WER_GOAL = 1.0
"""Points of WER a Wyoming rate may be above the file transcription."""
P1_FRAME = 0.02
"""Seconds of audio per protocol 1 frame."""
RT_RATE = 24000
RT_BLOCK = 2400
SYNTHETIC_SPANISH = (
    "Buenos días. Hoy vamos a hablar del tiempo en la ciudad y de las noticias de la semana.",
    "El tren de las ocho sale del andén número tres y llega a Sevilla antes del mediodía.",
    "Mi hermana trabaja en un hospital pequeño cerca del río. Cada mañana camina media hora, "
    "compra pan en la panadería de la esquina y llega al trabajo antes de las nueve.",
    "¿Puedes cerrar la ventana, por favor? Hace mucho frío en esta habitación.",
)
"""Spoken by espeak-ng (``-v es``) when the data set has no Spanish clip."""
SYNTHETIC_GROUP = "espeak-ng"
Span = tuple[float, float]


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


def _wer(pairs: Sequence[tuple[str, str]]) -> float:
    folded = [(fold_accents(ref), fold_accents(hyp)) for ref, hyp in pairs]
    return round(100 * corpus_wer(folded), 2)


def _words(chosen: Sequence[Clip]) -> int:
    return sum(len(c.reference.split()) for c in chosen)


# -- the file transcription ----------------------------------------------------------------


def file_transcripts(files: Sequence[Path], model: str, language: str) -> list[str]:
    """``livewhisper transcribe`` on every file at once (distinct names): each one's text."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            livewhisper_program(),
            "transcribe",
            "-m",
            model,
            "-l",
            language,
            "--no-progress",
        ]
        command += ["-f", "txt", "--output-dir", out, *[str(f) for f in files]]
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return [(Path(out) / f"{f.stem}.txt").read_text(encoding="utf-8") for f in files]


def as_sent(audio: np.ndarray, rate: int, channels: int) -> np.ndarray:
    """``audio`` (16 kHz mono float) as a client sends it: ``rate`` Hz 16-bit samples
    (resampled with soxr), shape (frames, channels), every channel the same."""
    resampled = audio if rate == RATE else soxr.resample(audio, RATE, rate)
    pcm = to_pcm16(resampled)
    return np.repeat(pcm[:, None], channels, axis=1)


# -- Wyoming -------------------------------------------------------------------------------


@contextlib.contextmanager
def wyoming_server(models: Sequence[str]) -> Iterator[int]:
    """``livewhisper wyoming`` on a free loopback port, once it answers ``describe``;
    yields the port."""
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe

    port = free_port()
    command = [livewhisper_program(), "wyoming", "--uri", f"tcp://127.0.0.1:{port}"]
    for model in models:
        command += ["-m", model]

    async def describe() -> bool:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 10)
            return event is not None and event.type == "info"

    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=REPO, stderr=log)
        try:
            deadline = time.monotonic() + 600
            while True:
                if server.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"wyoming failed: {log.read().decode()[-800:]}")
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    if asyncio.run(describe()):
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("wyoming did not answer describe within 600 s")
                time.sleep(0.3)
            yield port
        finally:
            stop_process(server)


@dataclass
class WyomingResult:
    """One clip through Wyoming: its transcript, when the transcript chunks came, when
    ``audio-stop`` was sent and the transcript received (``time.monotonic()``)."""

    transcript: str = ""
    chunk_times: list[float] = field(default_factory=list)
    stop_sent: float = float("inf")
    transcript_at: float = float("inf")
    error: str | None = None


async def wyoming_clip(
    port: int, audio: np.ndarray, rate: int, channels: int, language: str, model: str
) -> WyomingResult:
    """Send ``audio`` (16 kHz mono float) as ``rate``/``channels`` 16-bit chunks of
    :data:`CHUNK` frames at real-time pace; read events until ``transcript-stop``."""
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient

    data = as_sent(audio, rate, channels).tobytes()
    step = CHUNK * 2 * channels
    got = WyomingResult()
    async with AsyncTcpClient("127.0.0.1", port) as client:

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                now = time.monotonic()
                if event.type == "transcript-chunk":
                    got.chunk_times.append(now)
                elif event.type == "transcript":
                    got.transcript, got.transcript_at = str(event.data["text"]), now
                elif event.type == "error":
                    got.error = str(event.data.get("code"))
                if event.type in ("transcript-stop", "error"):
                    return

        reader = asyncio.create_task(read())
        await client.write_event(Transcribe(name=model, language=language).event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        t0 = time.monotonic()
        for index, offset in enumerate(range(0, len(data), step)):
            await asyncio.sleep(max(0.0, t0 + index * CHUNK / rate - time.monotonic()))
            await client.write_event(
                AudioChunk(rate, 2, channels, data[offset : offset + step]).event()
            )
        await client.write_event(AudioStop().event())
        got.stop_sent = time.monotonic()
        await asyncio.wait_for(reader, 120)
    return got


def same_audio_file_wer(
    chosen: Sequence[Clip],
    audios: Sequence[np.ndarray],
    model: str,
    language: str,
    rate: int,
    channels: int,
) -> float:
    """The WER of ``livewhisper transcribe`` on WAV files of exactly the samples a client
    sends of ``audios`` (``chosen``'s, read once) at ``rate`` and ``channels``
    (:func:`as_sent`)."""
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / f"{c.id}.wav" for c in chosen]
        for audio, path in zip(audios, files, strict=True):
            soundfile.write(path, as_sent(audio, rate, channels), rate, subtype="PCM_16")
        texts = file_transcripts(files, model, language)
    return _wer([(c.reference, t) for c, t in zip(chosen, texts, strict=True)])


def wyoming_rows(port: int, chosen: Sequence[Clip], model: str, language: str) -> list[Row]:
    """One row per rate and channels of :data:`FORMATS`, each held to the file
    transcription of the same samples."""
    rows = []
    audios = [c.audio() for c in chosen]
    for rate, channels in FORMATS:
        results = [
            asyncio.run(wyoming_clip(port, a, rate, channels, language, model)) for a in audios
        ]
        pairs = [(c.reference, r.transcript) for c, r in zip(chosen, results, strict=True)]
        long = [r for c, r in zip(chosen, results, strict=True) if c.seconds > LONG]
        early = [r for r in long if any(t < r.stop_sent for t in r.chunk_times)]
        wer = _wer(pairs)
        file_wer = same_audio_file_wer(chosen, audios, model, language, rate, channels)
        rows.append(
            {
                "protocol": "Wyoming",
                "audio": f"{rate / 1000:g} kHz {'stereo' if channels == 2 else 'mono'}",
                "model": model,
                "language": language,
                "clips": len(chosen),
                "words": _words(chosen),
                "wer": wer,
                "file_wer": file_wer,
                "vs_file": round(wer - file_wer, 2),
                "empty": sum(1 for r in results if not r.transcript.strip()),
                "errors": ",".join(r.error for r in results if r.error) or None,
                "early_chunks": f"{len(early)}/{len(long)}" if long else None,
                "stop_to_text_median": _median(
                    [r.transcript_at - r.stop_sent for r in results if r.transcript]
                ),
                "texts": [r.transcript for r in results],
            }
        )
        print(_brief(rows[-1]), file=sys.stderr, flush=True)
    return rows


# -- protocol 1 and Realtime on one serve ----------------------------------------------------


@dataclass
class Stream:
    """What one streaming session sent and received: the wall time each block was sent
    with the stream time sent by then, and each final's (received, start, end, text)."""

    wall: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    finals: list[tuple[float, float, float, str]] = field(default_factory=list)
    error: str | None = None

    def wall_at(self, stream_time: float) -> float:
        """When the block holding ``stream_time`` was sent."""
        index = int(np.searchsorted(np.asarray(self.sent), stream_time - 1e-6))
        return self.wall[min(index, len(self.wall) - 1)]


def _paced(stream: Stream, total: int, rate: int, block: int) -> Callable[[int], Awaitable[None]]:
    """An awaitable per block index: sleep until it is due, then note it as sent (blocks
    past ``total`` samples are not part of the stream's clock)."""
    t0 = time.monotonic()

    async def wait(index: int) -> None:
        await asyncio.sleep(max(0.0, t0 + index * block / rate - time.monotonic()))
        if index * block < total:
            stream.wall.append(time.monotonic())
            stream.sent.append(min((index + 1) * block, total) / rate)

    return wait


async def protocol1_stream(url: str, audio: np.ndarray, rate: int = RATE) -> Stream:
    """``audio`` (16 kHz) through :func:`livewhisper.client.listen` at real-time pace, as
    ``rate`` Hz int16 (resampled with soxr here), then ``end``."""
    from livewhisper import client
    from livewhisper.events import Final

    got = Stream()
    resampled = audio if rate == RATE else soxr.resample(audio, RATE, rate)
    pcm = to_pcm16(resampled)
    block = round(rate * P1_FRAME)
    try:
        async with client.listen(url, language="en", sample_rate=rate) as session:

            async def send() -> None:
                due = _paced(got, len(pcm), rate, block)
                for index, offset in enumerate(range(0, len(pcm), block)):
                    await due(index)
                    await session.send(pcm[offset : offset + block])
                await session.end()

            sender = asyncio.create_task(send())
            try:
                async for event in session:
                    if isinstance(event, Final):
                        got.finals.append((time.monotonic(), event.start, event.end, event.text))
            finally:
                sender.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await sender
    except client.ServerError as exc:
        got.error = exc.code
    return got


async def realtime_stream(api_url: str, audio: np.ndarray, settle: float = 20.0) -> Stream:
    """``audio`` through the official client's realtime connection at real-time pace (24 kHz
    PCM16, 100 ms appends), then a commit and silence until no item is open (at most
    ``settle`` s)."""
    from openai import AsyncOpenAI

    got = Stream()
    pcm = to_pcm16(soxr.resample(audio, RATE, RT_RATE))
    blocks = [pcm[i : i + RT_BLOCK] for i in range(0, len(pcm), RT_BLOCK)]
    started: dict[str, float] = {}
    stopped: dict[str, float] = {}
    completed: set[str] = set()
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": RT_RATE},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": {"type": "server_vad"},
            }
        },
    }
    client = AsyncOpenAI(base_url=api_url, api_key="unused")
    async with client.realtime.connect(model="gpt-4o-transcribe") as connection:
        await connection.session.update(session=session)  # type: ignore[arg-type]

        async def read() -> None:
            event: Any  # the client's union of 46 event models, told apart by type
            async for event in connection:
                now, kind = time.monotonic(), event.type
                if kind == "input_audio_buffer.speech_started":
                    started[event.item_id] = event.audio_start_ms / 1000
                elif kind == "input_audio_buffer.speech_stopped":
                    stopped[event.item_id] = event.audio_end_ms / 1000
                elif kind == "conversation.item.input_audio_transcription.completed":
                    start = started.get(event.item_id, 0.0)
                    end = stopped.get(event.item_id, start)
                    got.finals.append((now, start, end, event.transcript))
                    completed.add(event.item_id)
                elif kind == "error":
                    got.error = str(event.error.code)
                    if event.error.code not in ("input_audio_buffer_commit_empty",):
                        return

        reader = asyncio.create_task(read())
        due = _paced(got, len(pcm), RT_RATE, RT_BLOCK)
        for index, block in enumerate(blocks):
            await due(index)
            await connection.input_audio_buffer.append(audio=base64.b64encode(block).decode())
        await connection.input_audio_buffer.commit()
        # Then silence, as a microphone goes on sending, until every item is completed.
        silence = base64.b64encode(bytes(2 * RT_BLOCK)).decode()
        give_up, index = time.monotonic() + settle, len(blocks)
        while not reader.done() and time.monotonic() < give_up:
            if started and completed >= started.keys():
                break
            await due(index)
            await connection.input_audio_buffer.append(audio=silence)
            index += 1
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return got


def stream_row(
    protocol: str,
    rate: int,
    got: Stream,
    chosen: Sequence[Clip],
    spans: Sequence[Span],
    speech: Sequence[Span],
    gap: float,
) -> Row:
    """Corpus WER and per-clip latencies of one streamed session."""
    pairs, to_final, eos = [], [], []
    for clip, (start, end), (_, speech_end) in zip(chosen, spans, speech, strict=True):
        mine = sorted(
            (f for f in got.finals if start <= (f[1] + f[2]) / 2 < end + gap), key=lambda f: f[1]
        )
        pairs.append((clip.reference, " ".join(f[3] for f in mine)))
        if mine:
            last = max(f[0] for f in mine)
            to_final.append(last - got.wall_at(end))
            eos.append(last - got.wall_at(speech_end))
    return {
        "protocol": protocol,
        "audio": f"{rate / 1000:g} kHz mono",
        "model": EN_MODEL,
        "language": "en",
        "clips": len(chosen),
        "words": _words(chosen),
        "wer": _wer(pairs),
        "empty": sum(1 for _, text in pairs if not text.strip()),
        "errors": got.error,
        "final_median": _median(to_final),
        "eos_median": _median(eos),
        "final_max": max(to_final) if to_final else None,
        "texts": [text for _, text in pairs],
    }


def streaming_rows(
    chosen: Sequence[Clip], gap: float, tail: float, p1_rates: Sequence[int], rounds: int = 1
) -> list[Row]:
    """``rounds`` times: protocol 1 (at each of ``p1_rates``), then Realtime, on one
    ``livewhisper serve``; each row says its round."""
    audio, spans, speech = joined_stream(chosen, gap)
    audio = np.concatenate([audio, np.zeros(int(tail * RATE), np.float32)])
    port = free_port()
    server = start_server(EN_MODEL, 4, port)
    rows = []
    try:
        for round_ in range(1, rounds + 1):
            for rate in p1_rates:
                p1 = asyncio.run(protocol1_stream(f"ws://127.0.0.1:{port}", audio, rate))
                rows.append(stream_row("protocol 1", rate, p1, chosen, spans, speech, gap))
                rows[-1]["round"] = round_
                print(_brief(rows[-1]), file=sys.stderr, flush=True)
            rt = asyncio.run(realtime_stream(f"http://127.0.0.1:{port}/v1", audio))
            rows.append(stream_row("OpenAI Realtime", RT_RATE, rt, chosen, spans, speech, gap))
            rows[-1]["round"] = round_
            print(_brief(rows[-1]), file=sys.stderr, flush=True)
    finally:
        stop_process(server)
    return rows


# -- the benchmark ---------------------------------------------------------------------------


def _brief(row: Row) -> str:
    return " ".join(f"{k}={v}" for k, v in row.items() if k != "texts")


def default_clips() -> list[str]:
    return [c.id for c in clips()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips",
        nargs="+",
        default=None,
        help="English clip ids (default: every clip with a reference)",
    )
    parser.add_argument(
        "--spanish",
        nargs="*",
        default=None,
        help="Spanish clip ids (default: all there are, else synthetic ones; none: skip)",
    )
    parser.add_argument(
        "--spanish-prompts",
        type=int,
        default=30,
        metavar="N",
        help="add N Asterisk prompts from Debian's packages to the default Spanish clips, "
        "fetched once with apt-get download (default 30: about 200 s and 400 words; 0: none)",
    )
    parser.add_argument("--gap", type=float, default=2.0, help="silence after each clip (s)")
    parser.add_argument(
        "--tail", type=float, default=3.0, help="more silence after the last clip (s)"
    )
    parser.add_argument(
        "--p1-rates",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[RATE, RT_RATE],
        help="rates protocol 1 streams at, one row each (16000,24000: its own rate, and "
        "Realtime's, so that a difference of protocol is told from one of resampling)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="stream protocol 1 and Realtime this many times each, alternating; the "
        "summary compares their mean WER and median final times (one stream's WER moves "
        "by several points from run to run where its cuts fall otherwise)",
    )
    parser.add_argument(
        "--no-wyoming",
        action="store_true",
        help="leave out the file and Wyoming rows (protocol 1 and Realtime only)",
    )


def synthetic_spanish(folder: Path) -> list[Clip]:
    """:data:`SYNTHETIC_SPANISH` spoken by espeak-ng into 16 kHz WAV files in ``folder``.
    Raises RuntimeError without espeak-ng (``apt-get install espeak-ng``)."""
    made = []
    for n, text in enumerate(SYNTHETIC_SPANISH, 1):
        audio = spoken(text, voice="es", speed=140)
        path = folder / f"espeak_es_{n}.wav"
        soundfile.write(path, audio, RATE, subtype="PCM_16")
        made.append(Clip(path.stem, SYNTHETIC_GROUP, path, text, len(audio) / RATE))
    return made


def run(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="livewhisper-es-") as scratch:
        return _run(args, Path(scratch))


def _run(args: argparse.Namespace, scratch: Path) -> list[Row]:
    english = clips(args.clips or default_clips())
    spanish = clips(args.spanish) if args.spanish else clips(language="es")
    if args.spanish is None and args.spanish_prompts > 0 and not args.no_wyoming:
        try:
            spanish += asterisk_prompts(args.spanish_prompts)
        except RuntimeError as exc:
            print(f"warning: {exc}; Spanish: the repository's clips only", file=sys.stderr)
    if not spanish and args.spanish is None:
        spanish = synthetic_spanish(scratch)
    sets = [(english, EN_MODEL, "en")] + ([(spanish, ES_MODEL, "es")] if spanish else [])
    if args.no_wyoming:
        sets = [(english, EN_MODEL, "en")]
    prepare_models([model for _, model, _ in sets])
    rows: list[Row] = []
    for chosen, model, language in [] if args.no_wyoming else sets:
        texts = file_transcripts([c.path for c in chosen], model, language)
        pairs = [(c.reference, t) for c, t in zip(chosen, texts, strict=True)]
        rows.append(
            {
                "protocol": "file (livewhisper transcribe)",
                "audio": "clip file",
                "model": model,
                "language": language,
                "clips": len(chosen),
                "words": _words(chosen),
                "wer": _wer(pairs),
                "empty": sum(1 for t in texts if not t.strip()),
                "synthetic": all(c.group == SYNTHETIC_GROUP for c in chosen),
                "texts": texts,
            }
        )
        print(_brief(rows[-1]), file=sys.stderr, flush=True)
    if not args.no_wyoming:
        with wyoming_server([model for _, model, _ in sets]) as port:
            for chosen, model, language in sets:
                rows += wyoming_rows(port, chosen, model, language)
    rows += streaming_rows(english, args.gap, args.tail, args.p1_rates, args.rounds)
    return rows


def _mean(rows: Sequence[Row], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _median_of(rows: Sequence[Row], key: str) -> float | None:
    """The median of ``key`` over ``rows`` (each already a median over clips)."""
    return _median([r[key] for r in rows if r[key] is not None])


def _each(*groups: Sequence[Row]) -> str:
    """Each stream's WER, when there were several: " (each 19.3 / 14.3, 14.3 / 15.0)"."""
    if all(len(g) == 1 for g in groups):
        return ""
    return " (each " + ", ".join(" / ".join(f"{r['wer']:.1f}" for r in g) for g in groups) + ")"


def summary(rows: list[Row]) -> str:
    lines = []
    files = {r["language"]: r for r in rows if r["protocol"].startswith("file")}
    for language, file_row in files.items():
        wyoming = [r for r in rows if r["protocol"] == "Wyoming" and r["language"] == language]
        worst = max(wyoming, key=lambda r: r["vs_file"])
        met = all(r["vs_file"] <= WER_GOAL for r in wyoming)
        figures = ", ".join(
            f"{r['audio']} {r['wer']:.1f}% (file {r['file_wer']:.1f}%)" for r in wyoming
        )
        speech = ", synthetic speech" if file_row.get("synthetic") else ""
        lines.append(
            f"Wyoming ({language}{speech}, {file_row['model']}) within {WER_GOAL:g} WER point of "
            f"livewhisper transcribe of the same samples (clip files: {file_row['wer']:.1f}%): "
            f"{'met' if met else 'not met'} ({figures}; largest difference "
            f"{worst['vs_file']:+.1f} points at {worst['audio']})."
        )
        long = [r for r in wyoming if r["early_chunks"]]
        if long:
            chunks = ", ".join(f"{r['audio']} {r['early_chunks']}" for r in long)
            met = all(
                r["early_chunks"].split("/")[0] == r["early_chunks"].split("/")[1] for r in long
            )
            lines.append(
                f"Transcript chunks before audio-stop on clips over {LONG:g} s ({language}): "
                f"{'met' if met else 'not met'} ({chunks})."
            )
    if files and "es" not in files:
        lines.append("Spanish: not measured (--spanish given without clips).")
    streams: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row["protocol"] in ("protocol 1", "OpenAI Realtime"):
            streams.setdefault((row["protocol"], row["audio"]), []).append(row)
    rt = next((v for (name, _), v in streams.items() if name == "OpenAI Realtime"), None)
    for (name, audio), p1 in streams.items():
        if name != "protocol 1" or rt is None:
            continue
        wer, p1_wer = _mean(rt, "wer"), _mean(p1, "wer")
        final, p1_final = _median_of(rt, "final_median"), _median_of(p1, "final_median")
        if final is None or p1_final is None:
            continue
        met = wer <= p1_wer + WER_GOAL and final <= p1_final + 0.1
        over = f" over {len(rt)} and {len(p1)} streams" if len(rt) > 1 or len(p1) > 1 else ""
        lines.append(
            f"Realtime against protocol 1 at {audio} (WER within {WER_GOAL:g} point, "
            f"median last audio -> final within 0.1 s{over}): {'met' if met else 'not met'} "
            f"(WER {wer:.1f}% vs {p1_wer:.1f}%{_each(rt, p1)}, median {final:.2f} s vs "
            f"{p1_final:.2f} s; EOS -> final {_median_of(rt, 'eos_median'):.2f} s vs "
            f"{_median_of(p1, 'eos_median'):.2f} s)."
        )
    return "\n".join(lines)


BENCHMARK = Benchmark(
    name="protocols",
    description="Wyoming and OpenAI Realtime against file transcription and protocol 1 (issue 20)",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("protocol", "protocol"),
        Column("round", "round"),
        Column("audio", "audio sent"),
        Column("model", "model"),
        Column("language", "lang"),
        Column("clips", "clips"),
        Column("words", "words"),
        Column("wer", "WER %", "{:.2f}"),
        Column("file_wer", "file of the same samples, WER %", "{:.2f}"),
        Column("vs_file", "vs file, points", "{:+.2f}"),
        Column("empty", "clips without text"),
        Column("errors", "errors"),
        Column("early_chunks", "clips > 10 s with text before audio-stop"),
        Column("stop_to_text_median", "audio-stop -> transcript median s", "{:.2f}"),
        Column("final_median", "last audio -> final median s", "{:.2f}"),
        Column("eos_median", "EOS -> final median s", "{:.2f}"),
        Column("final_max", "last audio -> final max s", "{:.2f}"),
    ),
    notes=(
        "WER: livewhisper.wer.corpus_wer against the clips' references, in %.",
        "Wyoming: one connection per clip, 1024-frame 16-bit chunks at real-time pace.",
        "Protocol 1 and Realtime: the clips joined with --gap s of silence after each, one "
        "session each, at real-time pace, one after the other on one livewhisper serve.",
        "Servers and clients share this machine; one client at a time.",
    ),
    summary=summary,
)
