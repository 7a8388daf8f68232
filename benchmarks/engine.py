"""Engine speed: seconds per call, real-time factor and peak memory, whisper.cpp vs faster-whisper.

Every configuration (engine, model, precision, chunk length, threads) runs in a fresh
process: load the model, decode the chunk once to warm up, then ``repeats`` timed calls;
the row holds their median and minimum, the real-time factor (median / chunk length) and
the process's peak RSS. Chunks are the first N seconds of the shared English speech.

faster-whisper decodes the same CTranslate2 weights that livewhisper converts, with
``compute_type="int8"``, ``beam_size=1``, ``language="en"``, ``vad_filter=False``,
``condition_on_previous_text=False`` and ``cpu_threads`` = threads; its other decode
options (temperature fallback, thresholds) are its defaults, which match ours. Our engine
always returns word timings (whisper.cpp token timestamps), so the like-for-like row is
faster-whisper with ``word_timestamps=True``; ``--fw-words`` adds or selects the row
without them.

Example::

    python -m benchmarks engine --quick
    python -m benchmarks engine --models tiny.en --precisions q8_0 --chunks 2 5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Benchmark,
    Column,
    Row,
    ct2_model_dir,
    markdown_table,
    prepare_models,
    run_isolated,
    speech,
)

MODELS = ("tiny.en", "base")
PRECISIONS = ("f16", "q8_0", "q5_1", "q4_0")
CHUNKS = (2.0, 5.0, 10.0, 30.0)
THREADS = (1, 2)
WHISPER_CPP = "whisper.cpp"
FASTER_WHISPER = "faster-whisper"
FW_COMPUTE = "int8"


def measure(
    engine: str,
    model: str,
    precision: str,
    seconds: float,
    threads: int,
    repeats: int,
    words: bool = True,
) -> Row:
    """Time one configuration in this process (call it through :func:`run_isolated`).

    ``engine`` is ``"whisper.cpp"`` (livewhisper's :class:`Engine`, model
    ``f"{model}-{precision}"``) or ``"faster-whisper"`` (``precision`` is its compute type).
    ``words`` only applies to faster-whisper. Example::

        measure("whisper.cpp", "tiny.en", "q8_0", seconds=5, threads=2, repeats=3)
    """
    audio = speech(seconds)
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    decode: Callable[[], str]
    if engine == WHISPER_CPP:
        from livewhisper.engine import MAX_AUDIO_CTX, DecodeOptions, Engine, audio_ctx_for

        ours = Engine(f"{model}-{precision}", threads=threads)
        options = DecodeOptions(language="en", beam_size=1)
        audio_ctx = audio_ctx_for(seconds) if seconds < 30 else MAX_AUDIO_CTX

        def decode() -> str:
            return ours.transcribe(audio, options).text

    elif engine == FASTER_WHISPER:
        from faster_whisper import WhisperModel

        theirs = WhisperModel(
            str(ct2_model_dir(model)),
            device="cpu",
            compute_type=precision,
            cpu_threads=threads,
            num_workers=1,
        )

        def decode() -> str:
            segments, _ = theirs.transcribe(
                audio,
                language="en",
                beam_size=1,
                vad_filter=False,
                condition_on_previous_text=False,
                word_timestamps=words,
            )
            return "".join(s.text for s in segments).strip()  # the generator does the work

        audio_ctx = 1500  # faster-whisper always encodes a whole 30 s window
    else:
        raise ValueError(f"unknown engine {engine!r}")
    load = time.perf_counter() - started
    text = decode()  # warm-up: first-call allocations and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        decode()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "engine": engine if engine == WHISPER_CPP or not words else f"{engine} +words",
        "model": model,
        "precision": precision,
        "chunk_s": seconds,
        "threads": threads,
        "audio_ctx": audio_ctx,
        "words": True if engine == WHISPER_CPP else words,
        "repeats": repeats,
        "load_s": round(load, 3),
        "median_s": round(median, 4),
        "min_s": round(min(times), 4),
        "rtf": round(median / seconds, 4),
        "times": [round(t, 4) for t in times],
        "load_avg": round(load_average, 2),
        "text": text,
    }


def run(
    models: Sequence[str] = MODELS,
    precisions: Sequence[str] = PRECISIONS,
    chunks: Sequence[float] = CHUNKS,
    threads: Sequence[int] = THREADS,
    *,
    repeats: int = 5,
    faster_whisper: bool = True,
    fw_words: Sequence[bool] = (True, False),
    progress: bool = True,
) -> list[Row]:
    """Measure every configuration, each in a fresh process; one row per configuration.

    Rows are grouped by model, chunk length and threads, so the engines being compared sit
    together. A configuration that fails gives a row with ``error`` and no timings.
    """
    prepare_models([f"{m}-{p}" for m in models for p in precisions])
    if faster_whisper:
        for model in models:
            ct2_model_dir(model)
    plans: list[dict[str, Any]] = []
    for model in models:
        for seconds in chunks:
            for count in threads:
                common = {"model": model, "seconds": float(seconds), "threads": count}
                plans += [{"engine": WHISPER_CPP, "precision": p, **common} for p in precisions]
                if faster_whisper:
                    plans += [
                        {"engine": FASTER_WHISPER, "precision": FW_COMPUTE, "words": w, **common}
                        for w in fw_words
                    ]
    rows: list[Row] = []
    for i, plan in enumerate(plans, start=1):
        try:
            row = run_isolated("benchmarks.engine:measure", repeats=repeats, **plan)
        except (RuntimeError, OSError) as exc:
            row = {**plan, "chunk_s": plan["seconds"], "error": str(exc)}
        rows.append(row)
        if progress:
            done = f"{row['median_s']:.3f} s/call" if "median_s" in row else "FAILED"
            print(f"[{i}/{len(plans)}] {_label(plan)}: {done}", file=sys.stderr, flush=True)
    return rows


def _label(plan: dict[str, Any]) -> str:
    words = " +words" if plan.get("words") else ""
    return (
        f"{plan['engine']}{words} {plan['model']}-{plan['precision']} "
        f"{plan['seconds']:g}s x{plan['threads']}"
    )


def speedups(rows: Sequence[Row], precision: str = "q8_0") -> list[Row]:
    """faster-whisper's time over whisper.cpp's (at ``precision``), per model, chunk, threads.

    A speedup > 1 means whisper.cpp is faster. ``*_words`` compares with faster-whisper
    producing word timings too (like ours), ``*_plain`` without; ``speedup_*`` uses the
    median times, ``speedup_min_*`` the minimum ones (less sensitive to other load).
    """
    index = {
        (r["engine"], r["model"], r["precision"], r["chunk_s"], r["threads"]): r
        for r in rows
        if r.get("median_s") is not None
    }
    out = []
    keys = sorted({(r["model"], r["chunk_s"], r["threads"]) for r in rows}, key=_order)
    for model, seconds, count in keys:
        ours = index.get((WHISPER_CPP, model, precision, seconds, count))
        words = index.get((f"{FASTER_WHISPER} +words", model, FW_COMPUTE, seconds, count))
        plain = index.get((FASTER_WHISPER, model, FW_COMPUTE, seconds, count))
        if ours is None or (words is None and plain is None):
            continue
        row: Row = {"model": model, "chunk_s": seconds, "threads": count}
        row["ours_s"], row["ours_min_s"] = ours["median_s"], ours["min_s"]
        for name, theirs in (("words", words), ("plain", plain)):
            row[f"fw_{name}_s"] = theirs["median_s"] if theirs else None
            for stat, key in (("", "median_s"), ("min_", "min_s")):
                ratio = theirs[key] / ours[key] if theirs else None
                row[f"speedup_{stat}{name}"] = None if ratio is None else round(ratio, 2)
        out.append(row)
    return out


def _order(key: tuple[str, float, int]) -> tuple[int, float, int]:
    model, seconds, count = key
    return (MODELS.index(model) if model in MODELS else len(MODELS), seconds, count)


def _summary(rows: list[Row]) -> str:
    table = speedups(rows)
    if not table:
        return ""
    for row in table:
        for name in ("words", "plain"):
            median, least = row[f"speedup_{name}"], row[f"speedup_min_{name}"]
            row[f"{name}_cell"] = None if median is None else f"{median:.2f}x / {least:.2f}x"
    columns = [
        Column("model", "model"),
        Column("chunk_s", "chunk s", "{:g}"),
        Column("threads", "threads"),
        Column("ours_s", "whisper.cpp q8_0 s", "{:.3f}"),
        Column("fw_words_s", "fw +words s", "{:.3f}"),
        Column("fw_plain_s", "fw s", "{:.3f}"),
        Column("words_cell", "speedup vs fw +words (median / min)"),
        Column("plain_cell", "speedup vs fw (median / min)"),
    ]
    return (
        "### whisper.cpp (q8_0) vs faster-whisper (int8): median s/call; speedup = fw time / "
        "whisper.cpp time (> 1: whisper.cpp faster), from median and from min times\n\n"
        + markdown_table(table, columns)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of ``python -m benchmarks engine``."""
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--chunks", nargs="+", type=float, default=list(CHUNKS), metavar="S")
    parser.add_argument("--threads", nargs="+", type=int, default=list(THREADS))
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after a warm-up")
    parser.add_argument(
        "--fw-words",
        choices=("on", "off", "both", "none"),
        default="both",
        help="faster-whisper rows with word timestamps, without, both, or no faster-whisper",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 1 min): tiny.en q8_0, 2 and 5 s chunks, 1 thread, 2 repeats",
    )


def _run_from_args(args: argparse.Namespace) -> list[Row]:
    if args.quick:
        args.models, args.precisions, args.chunks = ["tiny.en"], ["q8_0"], [2.0, 5.0]
        # One thread: two spinning threads on a busy 2-core machine can take 10x longer.
        args.threads, args.repeats = [1], 2
        args.fw_words = "on" if args.fw_words == "both" else args.fw_words
    words = {"on": (True,), "off": (False,), "both": (True, False), "none": ()}[args.fw_words]
    return run(
        args.models,
        args.precisions,
        args.chunks,
        args.threads,
        repeats=args.repeats,
        faster_whisper=bool(words),
        fw_words=words,
    )


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    done = [r for r in rows if r.get("median_s") is not None]
    labels = sorted({f"{r['model']} {r['chunk_s']:g} s x{r['threads']}" for r in done})
    series: dict[str, list[float | None]] = {}
    for r in done:
        name = f"{r['engine']} {r['precision']}"
        series.setdefault(name, [None] * len(labels))
        series[name][labels.index(f"{r['model']} {r['chunk_s']:g} s x{r['threads']}")] = r[
            "median_s"
        ]
    title = "Seconds per call by chunk length and threads (lower is better)"
    return [plots.bars(labels, series, "s/call (median)", title, stem.with_suffix(".png"))]


BENCHMARK = Benchmark(
    name="engine",
    description="seconds per call, real-time factor and peak RSS per configuration",
    add_arguments=add_arguments,
    run=_run_from_args,
    columns=(
        Column("engine", "engine"),
        Column("model", "model"),
        Column("precision", "precision"),
        Column("chunk_s", "chunk s", "{:g}"),
        Column("threads", "threads"),
        Column("audio_ctx", "audio ctx"),
        Column("median_s", "s/call (median)", "{:.3f}"),
        Column("min_s", "min s", "{:.3f}"),
        Column("rtf", "RTF", "{:.3f}"),
        Column("peak_rss_mb", "peak RSS MB", "{:.0f}"),
        Column("load_s", "model load s", "{:.2f}"),
        Column("load_avg", "load avg", "{:.1f}"),
        Column("error", "error"),
    ),
    notes=(
        "TIMINGS ARE NOISY: 2-core machine shared with other engineers' test runs; compare "
        "rows of one run, and prefer min s when the load average (1 min, at the start of the "
        "configuration) was high.",
        "Each configuration runs in a fresh process (load, 1 warm-up call, N timed calls); "
        "peak RSS is that process's VmHWM (Python, numpy, soundfile and the engine's imports "
        "included: about 40 MB before any model).",
        "Chunks: the first N s of the shared English clips joined (JFK first); RTF = s/call / N.",
        "whisper.cpp: livewhisper Engine, greedy, language en, word timings always on (token "
        "timestamps); audio ctx: the encoder positions it used (50 per second, 1500 = 30 s), "
        "the engine's default for the chunk.",
        "faster-whisper: same CTranslate2 weights, compute_type int8, beam 1, language en, no "
        "VAD filter, condition_on_previous_text False; '+words' = word_timestamps=True.",
    ),
    summary=_summary,
    plot=_plot,
)
