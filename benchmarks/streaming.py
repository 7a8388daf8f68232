"""Streaming: latency, CPU and accuracy of live dictation, at real-time pace.

Each configuration (model, settings) runs in a fresh process. Real speech clips are
joined with ``--gap`` seconds of silence between them and fed through the push interface
in 20 ms blocks at real-time pace, as a microphone would deliver them. Per clip:

* **end of speech -> final**: wall time from when the clip's last speech was fed to its
  (last) ``Final``; it includes the pause that ends an utterance. Where speech starts and
  ends in a clip is found once, offline, with WebRTC's strictest VAD mode (the last run
  of 90 ms of speech), so silence at the end of a clip's file does not flatter the figure.
* **endpoint -> final**: ``Final.latency``, from when the pause had been heard to the
  event: the processing delay proper.
* **first partial**: from the clip's first speech to its first ``Partial``.
* **one final per clip**: clips that gave exactly one ``Final`` (none split, none merged).

CPU is the process's user+system time while streaming, per second of audio (all threads:
on 2 threads a 0.1 s decode costs 0.2 CPU-seconds). WER is against the references, for
the streamed finals and for decoding each clip whole offline with the same model.
``silence`` rows feed silence only: CPU per second of silence, and whether any text came.
``--soak-minutes`` loops the long unlabeled recordings and reports latency, backlog and
memory minute by minute, and any audio dropped.

Example::

    python -m benchmarks streaming
    python -m benchmarks streaming --models tiny.en-q8_0 --variants '' --soak-minutes 10
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    Benchmark,
    Clip,
    Column,
    Row,
    clips,
    data_dir,
    prepare_models,
    run_isolated,
)

MODELS = ("tiny.en-q8_0", "base-q8_0")
# The defaults, then each of their latency choices undone: every pause waited out, the
# stricter confidence of the quick final as it was before, the early decode started only
# once the pause is confirmed, the early decode with the full context, the lenient VAD, no
# finals as prompts.
VARIANTS = (
    "",
    "sentence_confidence=none",
    "sentence_confidence=0.75",
    "early_decode_after=0.1,quick_final_after=0.1",
    "early_decode_context=full",
    "aggressiveness=2",
    "prompt_history=0",
)
CLIPS = (
    "jfk",
    "ps_0870",
    "ps_0890",
    "ps_0920",
    "libri_61-70968-0000",
    "ps_cards_005",
    "ps_0880",
    "ps_goforward",
)
BLOCK = 320
Span = tuple[float, float]
RATE = 16000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    """The process's resident memory now (not its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values), q))


def speech_span(audio: np.ndarray, run: int = 3) -> tuple[float, float]:
    """Seconds from the clip's start to its first and past its last run of speech frames."""
    from livewhisper.vad import SpeechDetector, VadConfig

    detector = SpeechDetector(VadConfig(aggressiveness=3, frame_ms=30))
    size = detector.frame_samples
    flags = [detector.is_speech(audio[i : i + size]) for i in range(0, len(audio) - size + 1, size)]
    runs = [i for i in range(len(flags) - run + 1) if all(flags[i : i + run])]
    if not runs:
        return 0.0, len(audio) / RATE
    return runs[0] * size / RATE, (runs[-1] + run) * size / RATE


def joined_stream(chosen: Sequence[Clip], gap: float) -> tuple[np.ndarray, list[Span], list[Span]]:
    """0.5 s of silence, then each clip followed by ``gap`` s of silence; with each clip's
    (start, end) in the stream and where its speech starts and ends (:func:`speech_span`)."""
    parts, spans, speech, t = [np.zeros(RATE // 2, np.float32)], [], [], 0.5
    for c in chosen:
        audio = c.audio()
        parts += [audio, np.zeros(int(gap * RATE), np.float32)]
        spans.append((t, t + len(audio) / RATE))
        onset, offset = speech_span(audio)
        speech.append((t + onset, t + offset))
        t += len(audio) / RATE + gap
    return np.concatenate(parts), spans, speech


def _feed_realtime(dictation: object, audio: np.ndarray) -> float:
    """Feed ``audio`` at real-time pace; return the wall time of its first sample."""
    feed = dictation.feed  # type: ignore[attr-defined]
    t0 = time.monotonic()
    for i in range(0, len(audio), BLOCK):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        feed(audio[i : i + BLOCK])
    return t0


Setting = int | float | bool | str | None
_WORDS: dict[str, Setting] = {"on": True, "true": True, "off": False, "false": False, "none": None}


def parse_variant(text: str) -> dict[str, Setting]:
    """``"pause=0.8,aggressiveness=3"`` -> settings of the VAD, segmenter and stream configs.

    An empty string is the library's defaults. Keys are the fields of
    :class:`~livewhisper.VadConfig`, :class:`~livewhisper.SegmenterConfig` and
    :class:`~livewhisper.StreamConfig`; ``on``/``off`` are booleans, ``none`` is None,
    ``3`` is an int, ``0.8`` a float, anything else stays text (``early_decode_context=full``).
    """
    settings: dict[str, Setting] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        settings[key.strip()] = _WORDS[value] if value in _WORDS else _number_or_text(value)
    return settings


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def configs(settings: dict[str, Setting]) -> tuple[Any, Any, Any]:
    """The (VadConfig, SegmenterConfig, StreamConfig) that ``settings`` describe."""
    from livewhisper import SegmenterConfig, StreamConfig, VadConfig

    def pick(cls: Any) -> dict[str, Any]:
        return {k: v for k, v in settings.items() if k in cls.__dataclass_fields__}

    kinds = (VadConfig, SegmenterConfig, StreamConfig)
    unknown = set(settings).difference(*(pick(cls) for cls in kinds))
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    vad, segmenter, stream = (cls(**pick(cls)) for cls in kinds)
    return vad, segmenter, stream


def measure(model: str, variant: str, clip_ids: list[str], gap: float, threads: int) -> Row:
    """Stream the clips through Dictation at real-time pace; one row of figures."""
    from livewhisper import Dictation, Engine, Final, Partial
    from livewhisper.engine import DecodeOptions
    from livewhisper.wer import corpus_wer

    vad, segmenter, streaming = configs(parse_variant(variant))
    chosen = clips(clip_ids)
    engine = Engine(model, threads=threads)
    options = DecodeOptions(language="en" if engine.multilingual else None)
    offline = [engine.transcribe(c.audio(), options).text for c in chosen]
    stream, spans, speech = joined_stream(chosen, gap)
    events: list[tuple[float, object]] = []
    lock = threading.Lock()

    def record(event: object) -> None:
        with lock:
            events.append((time.monotonic(), event))

    d = Dictation(
        engine,
        source="push",
        decode=options,
        on_partial=record,
        on_final=record,
        vad=vad,
        segmenter=segmenter,
        stream=streaming,
    ).start()
    cpu0 = _cpu()
    t0 = _feed_realtime(d, stream)
    d.finish()
    d.wait(120)
    cpu = _cpu() - cpu0
    stats = d.stats
    d.stop()
    finals = [e for _, e in events if isinstance(e, Final)]
    partials = [(w, e) for w, e in events if isinstance(e, Partial)]
    per_clip: list[list[Final]] = [[] for _ in spans]
    for f in finals:
        mid = (f.start + f.end) / 2
        best = min(range(len(spans)), key=lambda i: abs(mid - sum(spans[i]) / 2))
        per_clip[best].append(f)
    eos: list[float] = []
    endpoint: list[float] = []
    first: list[float] = []
    for (start, end), (onset, offset), fs in zip(spans, speech, per_clip, strict=True):
        if fs:
            eos.append(fs[-1].emitted_at - (t0 + offset))
            endpoint.extend(f.latency for f in fs)
        mine = [w for w, p in partials if start - 0.5 <= p.start <= end]
        if mine:
            first.append(mine[0] - (t0 + onset))
    refs = [c.reference for c in chosen]
    hyps = [" ".join(f.text for f in fs) for fs in per_clip]
    audio_seconds = len(stream) / RATE
    return {
        "model": model,
        "variant": variant or "defaults",
        "pause": segmenter.pause,
        "sentence_confidence": streaming.sentence_confidence,
        "clips": len(chosen),
        "one_final": sum(len(fs) == 1 for fs in per_clip),
        "eos_median": _pct(eos, 50),
        "eos_p90": _pct(eos, 90),
        "endpoint_median": _pct(endpoint, 50),
        "endpoint_p90": _pct(endpoint, 90),
        "first_partial_median": _pct(first, 50),
        "first_partial_p90": _pct(first, 90),
        "cpu_per_audio_s": cpu / audio_seconds,
        "wer_stream": corpus_wer(zip(refs, hyps, strict=True)),
        "wer_offline": corpus_wer(zip(refs, offline, strict=True)),
        "decodes": stats.worker.decodes,
        "reused_finals": stats.worker.reused_finals,
        "skipped_partials": stats.worker.skipped_partials,
        "cancelled_partials": stats.worker.cancelled_partials,
        "dropped_samples": stats.overflow_samples,
    }


def measure_silence(model: str, seconds: float, threads: int) -> Row:
    """CPU per second of pure silence and of low noise, and whether any text came out."""
    from livewhisper import Dictation, Engine, Final

    engine = Engine(model, threads=threads)
    rng = np.random.default_rng(0)
    texts: list[str] = []
    d = Dictation(
        engine,
        source="push",
        on_final=lambda f: texts.append(f.text) if isinstance(f, Final) else None,
    )
    d.start()
    noise = (rng.standard_normal(int(seconds * RATE)) * 0.003).astype(np.float32)
    cpu0 = _cpu()
    _feed_realtime(d, noise)
    d.finish()
    d.wait(60)
    cpu = _cpu() - cpu0
    d.stop()
    return {
        "model": model,
        "pause": "silence",
        "clips": 0,
        "cpu_per_audio_s": cpu / seconds,
        "texts": len([t for t in texts if t.strip()]),
    }


def soak(model: str, minutes: float, threads: int) -> Row:
    """Loop the unlabeled recordings for ``minutes`` at real-time pace; per-minute figures."""
    from livewhisper import Dictation, Engine, Final
    from livewhisper.audio import load_audio

    engine = Engine(model, threads=threads)
    long = np.concatenate([load_audio(p) for p in sorted((data_dir() / "unlabeled").glob("*.wav"))])
    total = int(minutes * 60 * RATE)
    stream = np.resize(long, total).astype(np.float32)
    latencies: list[tuple[float, float]] = []
    d = Dictation(
        engine,
        source="push",
        decode=None,
        on_final=lambda f: (
            latencies.append((f.emitted_at, f.latency)) if isinstance(f, Final) else None
        ),
    ).start()
    per_minute: list[dict[str, float]] = []
    t0 = time.monotonic()
    for i in range(0, total, BLOCK):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        d.feed(stream[i : i + BLOCK])
        if i and i % (60 * RATE) < BLOCK:
            minute = len(per_minute)
            recent = [lat for at, lat in latencies if minute * 60 <= at - t0 < (minute + 1) * 60]
            per_minute.append(
                {
                    "minute": minute + 1,
                    "finals": len(recent),
                    "latency_median": _pct(recent, 50) or 0.0,
                    "backlog": d.stats.worker.backlog,
                    "rss_mb": _rss_mb(),
                }
            )
    d.finish()
    d.wait(120)
    stats = d.stats
    d.stop()
    all_lat = [lat for _, lat in latencies]
    return {
        "model": model,
        "pause": f"soak {minutes:g} min",
        "clips": 0,
        "endpoint_median": _pct(all_lat, 50),
        "endpoint_p90": _pct(all_lat, 90),
        "dropped_samples": stats.overflow_samples,
        "per_minute": per_minute,
        "max_backlog": max((m["backlog"] for m in per_minute), default=0),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The streaming benchmark's options."""
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument(
        "--variants",
        nargs="*",
        default=list(VARIANTS),
        help="settings to compare, each 'key=value,...' of VadConfig, SegmenterConfig or "
        "StreamConfig fields ('' = the defaults), e.g. 'pause=0.8' 'sentence_confidence=none'",
    )
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--gap", type=float, default=1.5, help="silence between clips (s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--silence-seconds", type=float, default=30.0)
    parser.add_argument("--soak-minutes", type=float, default=0.0)


def run(args: argparse.Namespace) -> list[Row]:
    """Every (model, settings) configuration, then silence and the optional soak."""
    prepare_models(args.models)
    rows = [
        run_isolated(
            "benchmarks.streaming:measure",
            model=m,
            variant=v,
            clip_ids=args.clips,
            gap=args.gap,
            threads=args.threads,
        )
        for m in args.models
        for v in args.variants
    ]
    if args.silence_seconds > 0:
        rows += [
            run_isolated(
                "benchmarks.streaming:measure_silence",
                model=m,
                seconds=args.silence_seconds,
                threads=args.threads,
            )
            for m in args.models
        ]
    if args.soak_minutes > 0:
        rows.append(
            run_isolated(
                "benchmarks.streaming:soak",
                model=args.models[0],
                minutes=args.soak_minutes,
                threads=args.threads,
                timeout=args.soak_minutes * 60 + 600,
            )
        )
    return rows


def _summary(rows: list[Row]) -> str:
    soaks = [r for r in rows if str(r.get("pause", "")).startswith("soak")]
    lines = []
    for r in soaks:
        lines.append(
            f"Soak ({r['pause']}, {r['model']}): dropped samples {r['dropped_samples']},"
            f" max backlog {r['max_backlog']} finals"
        )
        lines.append("\n| minute | finals | median endpoint latency s | backlog | RSS MB |")
        lines.append("|---|---|---|---|---|")
        for m in r["per_minute"]:
            lines.append(
                f"| {m['minute']} | {m['finals']} | {m['latency_median']:.2f} | "
                f"{m['backlog']} | {m['rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    drawn = []
    live = [r for r in rows if r.get("eos_median") is not None]
    if live:
        labels = [f"{r['model']} {r.get('variant', 'pause=' + str(r['pause']))}" for r in live]
        series = {
            "end of speech -> final, median s": [r["eos_median"] for r in live],
            "p90 s": [r["eos_p90"] for r in live],
            "CPU s per audio s": [r["cpu_per_audio_s"] for r in live],
        }
        title = "Live dictation: finalization latency and CPU (lower is better)"
        drawn.append(plots.bars(labels, series, "seconds", title, stem.with_suffix(".png")))
    for r in rows:
        minutes = r.get("per_minute") or []
        if minutes:
            drawn.append(
                plots.lines(
                    [m["minute"] for m in minutes],
                    {
                        "endpoint -> final s": [m["latency_median"] for m in minutes],
                        "finals waiting": [m["backlog"] for m in minutes],
                        "RSS MB": [m["rss_mb"] for m in minutes],
                    },
                    "minute",
                    f"{r['pause']} of real speech at real-time pace, {r['model']}",
                    stem.parent / f"{stem.name}-soak.png",
                )
            )
    return drawn


BENCHMARK = Benchmark(
    name="streaming",
    description="live dictation at real-time pace: latency, CPU, accuracy",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("model", "model"),
        Column("variant", "settings"),
        Column("pause", "pause s"),
        Column("sentence_confidence", "sentence confidence"),
        Column("one_final", "one final per clip"),
        Column("clips", "clips"),
        Column("eos_median", "end of speech->final median s", "{:.2f}"),
        Column("eos_p90", "p90 s", "{:.2f}"),
        Column("endpoint_median", "endpoint->final median s", "{:.2f}"),
        Column("endpoint_p90", "p90 s", "{:.2f}"),
        Column("first_partial_median", "first partial median s", "{:.2f}"),
        Column("first_partial_p90", "p90 s", "{:.2f}"),
        Column("cpu_per_audio_s", "CPU s per audio s", "{:.2f}"),
        Column("wer_stream", "WER stream", "{:.1%}"),
        Column("wer_offline", "WER offline", "{:.1%}"),
        Column("reused_finals", "finals reused"),
        Column("texts", "texts from noise"),
        Column("dropped_samples", "dropped samples"),
        Column("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ),
    notes=(
        "Timings are noisy on a shared 2-core machine; each row runs in its own process.",
        "Audio fed in 20 ms blocks at real-time pace; 1.5 s of silence between clips.",
        "CPU counts every thread (2 decode threads).",
    ),
    summary=_summary,
    plot=_plot,
)
