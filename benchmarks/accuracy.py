"""Accuracy: corpus WER over the shared English clips, livewhisper vs faster-whisper.

Each clip is decoded whole (all are under 30 s) by each system, in a fresh process per
system; one untimed warm-up call precedes the timed clips. WER comes from
:mod:`livewhisper.wer`: both texts normalised (lower case, no punctuation, tags such as
``[adif]`` and ``<VOCNOISE>`` removed, no number normalisation: "10" against "ten" is an
error for every system alike), reported with fillers (uh, um, ...) counted and with them
dropped from reference and hypothesis.

A system is named ``MODEL`` (livewhisper's whisper.cpp engine, e.g. ``tiny.en-q8_0``),
``MODEL+fullctx`` (the same with the full 30 s encoder context instead of the engine's
default, sized to the clip but at least ``AUDIO_CTX_FLOOR``) or ``fw:SIZE:COMPUTE``
(faster-whisper on the same CTranslate2 weights, e.g. ``fw:tiny.en:int8``). All decode
greedily (beam 1) with language "en".

Example::

    python -m benchmarks accuracy
    python -m benchmarks accuracy --systems tiny.en-q8_0 fw:tiny.en:int8 --clips jfk ps_0870
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.harness import (
    Benchmark,
    Column,
    Row,
    clips,
    ct2_model_dir,
    prepare_models,
    run_isolated,
)
from livewhisper.wer import corpus_wer, word_error_rate

Audio = npt.NDArray[np.float32]

SYSTEMS = (
    "tiny.en-f16",
    "tiny.en-q8_0",
    "tiny.en-q5_1",
    "tiny.en-q4_0",
    "tiny.en-q8_0+fullctx",
    "fw:tiny.en:int8",
    "fw:tiny.en:float32",
    "base-q8_0",
    "fw:base:int8",
    "fw:base:float32",
)
FULL_CONTEXT = "+fullctx"
ACCEPTANCE_POINTS = 0.5
"""tiny.en-q8_0 may be at most this many WER points worse than faster-whisper (beam 1)."""


def evaluate(system: str, clip_ids: list[str], threads: int) -> Row:
    """Decode ``clip_ids`` with ``system`` in this process; WERs, timings and every text.

    Call it through :func:`run_isolated`. Example::

        evaluate("tiny.en-q8_0", ["jfk"], threads=2)["wer"]
    """
    chosen = clips(clip_ids)
    load_average = os.getloadavg()[0]
    decode: Callable[[Audio], str]
    if system.startswith("fw:"):
        from faster_whisper import WhisperModel

        _, size, compute = system.split(":")
        engine, model, precision = "faster-whisper", size, compute
        fw = WhisperModel(
            str(ct2_model_dir(size)), device="cpu", compute_type=compute, cpu_threads=threads
        )

        def decode(audio: Audio) -> str:
            segments, _ = fw.transcribe(
                audio,
                language="en",
                beam_size=1,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            return "".join(s.text for s in segments).strip()

    else:
        from livewhisper.engine import DecodeOptions, Engine

        name = system.removesuffix(FULL_CONTEXT)
        engine = "whisper.cpp" + (" full ctx" if system.endswith(FULL_CONTEXT) else "")
        model, _, precision = name.rpartition("-")
        ours = Engine(name, threads=threads)
        options = DecodeOptions(
            language="en", beam_size=1, audio_ctx=0 if system.endswith(FULL_CONTEXT) else None
        )

        def decode(audio: Audio) -> str:
            return ours.transcribe(audio, options).text

    decode(chosen[0].audio())  # warm-up, untimed
    texts: list[str] = []
    per_clip: list[Row] = []
    elapsed = 0.0
    for clip in chosen:
        audio = clip.audio()
        started = time.perf_counter()
        text = decode(audio)
        spent = time.perf_counter() - started
        elapsed += spent
        texts.append(text)
        per_clip.append(
            {
                "clip": clip.id,
                "seconds": clip.seconds,
                "decode_s": round(spent, 4),
                "wer": round(word_error_rate(clip.reference, text), 4),
                "text": text,
            }
        )
    pairs = [(c.reference, t) for c, t in zip(chosen, texts, strict=True)]
    audio_s = sum(c.seconds for c in chosen)
    return {
        "system": system,
        "engine": engine,
        "model": model,
        "precision": precision,
        "threads": threads,
        "clips": len(chosen),
        "audio_s": round(audio_s, 2),
        "wer": round(corpus_wer(pairs), 4),
        "wer_no_fillers": round(corpus_wer(pairs, drop_fillers=True), 4),
        "decode_s": round(elapsed, 3),
        "rtf": round(elapsed / audio_s, 4),
        "load_avg": round(load_average, 2),
        "per_clip": per_clip,
    }


def run(
    systems: Sequence[str] = SYSTEMS,
    clip_ids: Sequence[str] | None = None,
    *,
    threads: int = 2,
    progress: bool = True,
) -> list[Row]:
    """One row per system, each evaluated in a fresh process over the same clips."""
    ids = [c.id for c in clips(clip_ids)]
    prepare_models([s.removesuffix(FULL_CONTEXT) for s in systems if not s.startswith("fw:")])
    for size in {s.split(":")[1] for s in systems if s.startswith("fw:")}:
        ct2_model_dir(size)
    rows = []
    for i, system in enumerate(systems, start=1):
        row = run_isolated(
            "benchmarks.accuracy:evaluate", system=system, clip_ids=ids, threads=threads
        )
        rows.append(row)
        if progress:
            print(
                f"[{i}/{len(systems)}] {system}: WER {row['wer']:.2%}, {row['decode_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def acceptance(rows: Sequence[Row]) -> list[Row]:
    """tiny.en-q8_0 against each faster-whisper tiny.en row: the WER gap and its verdict."""
    ours = next((r for r in rows if r["system"] == "tiny.en-q8_0"), None)
    if ours is None:
        return []
    verdicts = []
    for theirs in rows:
        if theirs["engine"] != "faster-whisper" or theirs["model"] != "tiny.en":
            continue
        for key in ("wer", "wer_no_fillers"):
            gap = 100 * (ours[key] - theirs[key])
            verdicts.append(
                {
                    "against": theirs["system"],
                    "measure": key,
                    "ours": ours[key],
                    "theirs": theirs[key],
                    "gap_points": round(gap, 2),
                    "passed": gap <= ACCEPTANCE_POINTS,
                }
            )
    return verdicts


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    points = [(r["system"], r["rtf"], r["wer"]) for r in rows if "wer" in r]
    title = f"WER against speed, {rows[0]['clips']} English clips (lower left is better)"
    return [plots.wer_against_speed(points, title, stem.with_suffix(".png"))]


def _summary(rows: list[Row]) -> str:
    lines = [
        f"### Acceptance: WER of tiny.en-q8_0 at most {ACCEPTANCE_POINTS} points above "
        "faster-whisper beam 1 on the same weights",
        "",
    ]
    for v in acceptance(rows):
        lines.append(
            f"- vs {v['against']} ({v['measure']}): {v['ours']:.2%} vs {v['theirs']:.2%}, "
            f"gap {v['gap_points']:+.2f} points: {'PASS' if v['passed'] else 'FAIL'}"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of ``python -m benchmarks accuracy``."""
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--clips", nargs="+", default=None, help="clip ids (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="default 2 (--quick: 1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 1 min): tiny.en-q8_0 and fw:tiny.en:int8 on three short clips",
    )


def _run_from_args(args: argparse.Namespace) -> list[Row]:
    if args.quick:
        args.systems = ["tiny.en-q8_0", "fw:tiny.en:int8"]
        args.clips = args.clips or ["jfk", "ps_0880", "ps_cards_005"]
    args.threads = args.threads or (1 if args.quick else 2)
    return run(args.systems, args.clips, threads=args.threads)


BENCHMARK = Benchmark(
    name="accuracy",
    description="corpus WER over the shared English clips, each decoded whole",
    add_arguments=add_arguments,
    run=_run_from_args,
    columns=(
        Column("system", "system"),
        Column("engine", "engine"),
        Column("precision", "precision"),
        Column("clips", "clips"),
        Column("wer", "WER", "{:.2%}"),
        Column("wer_no_fillers", "WER no fillers", "{:.2%}"),
        Column("decode_s", "decode s", "{:.2f}"),
        Column("audio_s", "audio s", "{:.1f}"),
        Column("rtf", "RTF", "{:.3f}"),
        Column("peak_rss_mb", "peak RSS MB", "{:.0f}"),
        Column("load_avg", "load avg", "{:.1f}"),
    ),
    notes=(
        "TIMINGS ARE NOISY: 2-core machine shared with other engineers' test runs (load avg: "
        "1 min, when the system started). WER is not, but the temperature fallback samples at "
        "random, so a system's text can change by a word or two between runs.",
        "All systems greedy (beam 1), language en, temperature fallback as by default; "
        "faster-whisper without VAD filter and condition_on_previous_text False.",
        "WER via livewhisper.wer.corpus_wer: case, punctuation and tags ([adif], <VOCNOISE>) "
        "removed; 'no fillers' drops uh/um/... from reference and hypothesis; no number "
        "normalisation.",
        "decode s: total over the clips, model load and one warm-up call excluded.",
    ),
    summary=_summary,
    plot=_plot,
)
