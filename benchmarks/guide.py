"""Model guide: which model, precision and thread count to run, measured on this machine.

For every model available here (tiny.en and base from the bundled packages; small,
medium or large when they resolve without a download) x precision (f16, q8_0, q5_1,
q4_0) x threads (1, 2): WER and real-time factor of file transcription over the shared
English clips (:func:`benchmarks.accuracy.evaluate`), and live dictation at real-time
pace with the default settings (:func:`benchmarks.streaming.measure`): end of speech ->
final latency (median, p90), CPU per audio second. Each measurement runs in its own
process. The plot puts every variant on WER against speed.

Example::

    python -m benchmarks guide
    python -m benchmarks guide --models tiny.en --precisions q8_0 --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.harness import Benchmark, Column, Row, clips, prepare_models, run_isolated
from benchmarks.streaming import CLIPS as STREAM_CLIPS

MODELS = ("tiny.en", "base", "small", "medium", "large-v3")
PRECISIONS = ("f16", "q8_0", "q5_1", "q4_0")
THREADS = (1, 2)
# Live dictation on four of the streaming benchmark's clips (37 s of speech) per variant.
GUIDE_STREAM_CLIPS = (STREAM_CLIPS[0], STREAM_CLIPS[1], STREAM_CLIPS[4], STREAM_CLIPS[5])


def available(models: list[str]) -> tuple[list[str], list[str]]:
    """The models that resolve here without a download, and those that do not."""
    from livewhisper.errors import LiveWhisperError
    from livewhisper.models.resolve import resolve

    found, missing = [], []
    for model in models:
        try:
            resolve(f"{model}-q8_0", download=False, progress=False)
        except LiveWhisperError:
            missing.append(model)
        else:
            found.append(model)
    return found, missing


def measure(name: str, threads: int, clip_ids: list[str], stream_clips: list[str]) -> Row:
    """File transcription and live dictation figures of one variant (two processes)."""
    offline = run_isolated(
        "benchmarks.accuracy:evaluate", system=name, clip_ids=clip_ids, threads=threads
    )
    live = run_isolated(
        "benchmarks.streaming:measure",
        model=name,
        variant="",
        clip_ids=stream_clips,
        gap=1.5,
        threads=threads,
    )
    model, _, precision = name.rpartition("-")
    return {
        "model": model,
        "precision": precision,
        "threads": threads,
        "wer": offline["wer"],
        "rtf": offline["rtf"],
        "file_rss_mb": offline["peak_rss_mb"],
        "eos_median": live["eos_median"],
        "eos_p90": live["eos_p90"],
        "cpu_per_audio_s": live["cpu_per_audio_s"],
        "wer_stream": live["wer_stream"],
        "live_rss_mb": live["peak_rss_mb"],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The guide's options."""
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--threads", nargs="+", type=int, default=list(THREADS))
    parser.add_argument("--clips", nargs="+", default=None, help="file clips (default: all)")
    parser.add_argument("--stream-clips", nargs="+", default=list(GUIDE_STREAM_CLIPS))
    parser.add_argument(
        "--quick", action="store_true", help="tiny.en q8_0 on 2 threads, 2 short clips"
    )


def run(args: argparse.Namespace) -> list[Row]:
    """Every available (model, precision, threads) variant; a row per missing model."""
    if args.quick:
        args.models, args.precisions, args.threads = ["tiny.en"], ["q8_0"], [2]
        args.clips = args.stream_clips = ["ps_goforward", "ps_0880"]
    found, missing = available(args.models)
    names = [f"{m}-{p}" for m in found for p in args.precisions]
    prepare_models(names)
    clip_ids = args.clips or [c.id for c in clips()]
    rows = [
        measure(name, threads, clip_ids, args.stream_clips)
        for name in names
        for threads in args.threads
    ]
    return rows + [{"model": m, "note": "not available here (no weights)"} for m in missing]


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    points = [
        (f"{r['model']}-{r['precision']} x{r['threads']}", r["rtf"], r["wer"])
        for r in rows
        if "wer" in r
    ]
    title = "Model guide: file WER against real-time factor (lower left is better)"
    return [plots.wer_against_speed(points, title, stem.with_suffix(".png"))]


BENCHMARK = Benchmark(
    name="guide",
    description="model guide: model x precision x threads, WER, speed, live latency, memory",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("model", "model"),
        Column("precision", "precision"),
        Column("threads", "threads"),
        Column("wer", "WER (file)", "{:.1%}"),
        Column("rtf", "RTF (file)", "{:.3f}"),
        Column("eos_median", "end of speech->final median s", "{:.2f}"),
        Column("eos_p90", "p90 s", "{:.2f}"),
        Column("cpu_per_audio_s", "live CPU s per audio s", "{:.2f}"),
        Column("wer_stream", "WER (live)", "{:.1%}"),
        Column("file_rss_mb", "peak RSS MB (file)", "{:.0f}"),
        Column("live_rss_mb", "peak RSS MB (live)", "{:.0f}"),
        Column("note", "note"),
    ),
    notes=(
        "File: each of the shared English clips decoded whole, greedy, language en.",
        "Live: 4 clips with 1.5 s of silence between, fed at real-time pace, default settings.",
        "Each measurement runs in its own process; timings are noisy on a shared machine.",
    ),
    plot=_plot,
)
