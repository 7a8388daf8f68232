"""Robustness: what noise, music and hum give, how quiet speech fares, which replies stay.

Three tables in one, through both entry points (file transcription and live dictation
pushed as fast as it decodes), with the bundled tiny.en-q8_0 unless ``--model`` says
otherwise:

* **noise**: cues (files) and finals (live) from ``--noise-seconds`` of each kind of
  :mod:`benchmarks.sounds` at two levels (-14 and -30 dBFS RMS), and any U+FFFD.
* **level**: WER of the shared English clips at 0, -10, -20 and -25 dB.
* **replies**: the short replies of :data:`benchmarks.sounds.REPLIES` (espeak-ng),
  each alone between 1 s of silence: whether its words come out.

``--vad webrtc`` measures WebRTC's VAD alone, without the level control and Silero's
second opinion (the behaviour before issue 19), on the same audio.

Example::

    python -m benchmarks robustness
    python -m benchmarks robustness --quick
    python -m benchmarks robustness --vad webrtc --tag webrtc
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.harness import Benchmark, Column, Row, clips
from benchmarks.sounds import NOISE_KINDS, REPLIES, gain, noise, spoken

LEVELS = (0.0, -10.0, -20.0, -25.0)
NOISE_LEVELS = (-14.0, -30.0)
QUICK_CLIPS = ("jfk", "ps_0870", "mfa_acoustic_corpus", "ps_cards_005")
SAMPLE_RATE = 16000


def _vad(kind: str) -> object:
    from livewhisper.vad import VadConfig

    return VadConfig() if kind == "default" else VadConfig(speech_threshold=None, max_gain=0.0)


def file_text(engine: object, audio: np.ndarray, vad: object) -> list[str]:
    """The cues' texts of ``audio`` transcribed as a file."""
    from livewhisper.engine import DecodeOptions
    from livewhisper.filetranscribe import transcribe_file

    result = transcribe_file(audio, engine, DecodeOptions(language="en"), vad=vad)  # type: ignore[arg-type]
    return [s.text.strip() for s in result.segments if s.text.strip()]


def live_text(engine: object, audio: np.ndarray, vad: object) -> list[str]:
    """The finals' texts of ``audio`` dictated, pushed as fast as it is decoded."""
    from livewhisper.dictation import Dictation
    from livewhisper.events import Final

    padded = np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])
    finals: list[Final] = []  # a callback sees the finals emitted while feeding too
    with Dictation(engine, source="push", language="en", vad=vad, on_final=finals.append) as d:  # type: ignore[arg-type]
        for i in range(0, len(padded), 320):
            d.feed(padded[i : i + 320])
        d.finish()
        if not d.wait(timeout=60.0 + 2 * len(padded) / SAMPLE_RATE):
            raise RuntimeError("the dictation did not finish within its timeout")
    return [f.text.strip() for f in finals if f.text.strip()]


def run(args: argparse.Namespace) -> list[Row]:
    """Every table's rows: kind ``noise``, ``level`` or ``reply``."""
    from livewhisper.engine import Engine
    from livewhisper.wer import corpus_wer, normalize

    vad = _vad(args.vad)
    rows: list[Row] = []
    seconds = 10.0 if args.quick else args.noise_seconds
    with Engine(args.model, threads=args.threads) as engine:
        for kind in NOISE_KINDS:
            for level in NOISE_LEVELS:
                audio = noise(kind, seconds, level)
                cues, finals = file_text(engine, audio, vad), live_text(engine, audio, vad)
                rows.append(
                    {
                        "table": "noise",
                        "case": f"{kind} {level:g} dBFS",
                        "cues": len(cues),
                        "finals": len(finals),
                        "words": len(" ".join(cues + finals).split()),
                        "fffd": sum(t.count("\ufffd") for t in cues + finals),
                        "example": (cues + finals + [""])[0][:40],
                    }
                )
                print(rows[-1], flush=True)
        chosen = clips(list(QUICK_CLIPS) if args.quick else None)
        refs = [c.reference for c in chosen]
        speech = [c.audio() for c in chosen]
        for db in LEVELS:
            file_hyps = [" ".join(file_text(engine, gain(a, db), vad)) for a in speech]
            live_hyps = [" ".join(live_text(engine, gain(a, db), vad)) for a in speech]
            rows.append(
                {
                    "table": "level",
                    "case": f"speech {db:g} dB",
                    "wer_file": 100 * corpus_wer(zip(refs, file_hyps, strict=True)),
                    "wer_live": 100 * corpus_wer(zip(refs, live_hyps, strict=True)),
                    "words": sum(len(h.split()) for h in file_hyps),
                }
            )
            print(rows[-1], flush=True)
        silence = np.zeros(SAMPLE_RATE, np.float32)
        for reply in REPLIES:
            said = np.concatenate([silence, spoken(reply), silence])
            texts = (" ".join(file_text(engine, said, vad)), " ".join(live_text(engine, said, vad)))
            rows.append(
                {
                    "table": "reply",
                    "case": reply,
                    "file": texts[0],
                    "live": texts[1],
                    "kept": sum(normalize(t) == normalize(reply) for t in texts),
                }
            )
            print(rows[-1], flush=True)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--model", default="tiny.en-q8_0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noise-seconds", type=float, default=30.0)
    parser.add_argument("--vad", choices=("default", "webrtc"), default="default")
    parser.add_argument("--quick", action="store_true", help="10 s of noise, 4 clips")


BENCHMARK = Benchmark(
    name="robustness",
    description="Cues from noise, WER of quiet speech, short replies kept (issue 19)",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("table", "table"),
        Column("case", "case"),
        Column("cues", "cues"),
        Column("finals", "finals"),
        Column("words", "words"),
        Column("fffd", "U+FFFD"),
        Column("wer_file", "WER file %", "{:.1f}"),
        Column("wer_live", "WER live %", "{:.1f}"),
        Column("kept", "reply kept (of 2)"),
        Column("example", "text"),
        Column("file", "file text"),
        Column("live", "live text"),
    ),
    notes=(
        "noise: cues from transcribe_file and finals from Dictation (pushed as fast as it "
        "decodes) on synthetic sound (benchmarks/sounds.py, seed 19); 0 is the goal.",
        "level: corpus WER of the clips scaled by the gain, 1.5 s apart; within 2 points "
        "of 0 dB down to -20 dB is the goal.",
        "reply: espeak-ng en-us saying the reply between 1 s of silence; kept when the "
        "normalised text equals the reply, from the file (1) and live (1).",
    ),
)
