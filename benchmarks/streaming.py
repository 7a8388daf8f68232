"""Streaming: latency, caption lag, CPU and accuracy of live dictation, at real-time pace.

Each configuration (model, settings, set of speech, competing load) runs in a fresh
process. Speech items are joined with ``--gap`` seconds of silence between them and fed
through the push interface in 20 ms blocks at real-time pace, as a microphone would
deliver them. Two sets of speech (``--sets``):

* **short**: eight clips of 1-11 s (``--clips``), one utterance each;
* **long** (``--long-clips``): the three unscripted ``mfa_*`` recordings (~25 s each,
  fillers and long pauses), the ``ps_08*``/``ps_09*`` readings joined without gaps into
  one continuous 25 s reading (one reference), and 169 s of multi-speaker broadcast
  speech without a transcript (caption lag and CPU only, no WER). An item ``a+b`` is
  clips ``a`` and ``b`` joined without a gap.

Per item:

* **end of speech -> final**: wall time from when the item's last speech was fed to its
  (last) ``Final``; it includes the pause that ends an utterance. Where speech starts and
  ends in an item is found once, offline, with WebRTC's strictest VAD mode (the last run
  of 90 ms of speech), so silence at the end of a file does not flatter the figure.
* **endpoint -> final**: ``Final.latency``, from when the pause had been heard to the
  event: the processing delay proper.
* **first partial**: from the item's first speech to its first ``Partial``.
* **one final per clip** (short set): clips that gave exactly one ``Final``.

**Caption lag** (:mod:`benchmarks.caption_lag`): every 100 ms of stream while someone
speaks (a frame-level VAD mask with 0.2 s hangover), the stream time sent so far minus
the latest stream time that any text shown by then (``Partial`` or ``Final``: its
``end``) reaches, each event placed in stream time through the feeding clock; a pause
the text already covered is not counted. Median, p90 and maximum, and the longest wait
for new text while speech was owed (close to the maximum lag: text did not come; well
under it: text came but fell short). The long rows keep the lag over time (a chart) and
per item (the summary).

CPU is the process's user+system time while streaming, per second of audio (all threads:
on 2 threads a 0.1 s decode costs 0.2 CPU-seconds). WER is against the references, for
the streamed finals and for decoding each item whole offline with the same model.
``silence`` rows feed silence only: CPU per second of silence, and whether any text came.
``--load 0,1`` measures every row quiet and again beside one busy process (a pure-Python
loop per busy core, normal priority, started before and stopped after each measured
run; ``--busy N`` is ``--load 0,N``). ``--soak-minutes`` loops the long unlabeled
recording, at each load, and reports latency, caption lag, backlog and memory minute by
minute, and any audio dropped.

Example::

    python -m benchmarks streaming --models tiny.en-q8_0 --variants '' --busy 1
    python -m benchmarks streaming --sets short     # every model and setting, short clips
    python -m benchmarks streaming --models tiny.en-q8_0 --sets --soak-minutes 10 --busy 1

The first is the issue-15 table (short and long speech, quiet and with one busy core:
about 13 minutes); the default run streams both sets for every model and setting, about
5.5 minutes of audio per configuration.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import caption_lag
from benchmarks.harness import (
    Benchmark,
    BusyLoad,
    Clip,
    Column,
    Row,
    clips,
    prepare_models,
    run_isolated,
)

MODELS = ("tiny.en-q8_0", "base-q8_0")
# The defaults, then each of their latency choices undone: every pause waited out, the
# stricter confidence of the quick final as it was before, the early decode started only
# once the pause is confirmed (tiny; on base that is sooner than its default, 0.3 s), the
# early decode with the full context, the lenient VAD, no finals as prompts.
VARIANTS = (
    "",
    "sentence_confidence=none",
    "sentence_confidence=0.75",
    "early_decode_after=0.1,quick_final_after=0.1",
    "final_context=full",
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
UNLABELED = "voxconverse_aepyx_169s"
READING = "ps_0870+ps_0880+ps_0890+ps_0920+ps_0930"
LONG = ("mfa_acoustic_corpus", "mfa_cold_corpus", "mfa_cold_corpus3", READING, UNLABELED)
SETS = ("short", "long")
BLOCK = 320
Span = tuple[float, float]
RATE = 16000
FRAME = 480  # 30 ms: the VAD frame of every speech mask here


@dataclass(frozen=True)
class Item:
    """One stretch of speech in a stream: clips joined without gaps, with one reference.

    ``reference`` is None when any of its clips has no transcript (no WER for it).
    """

    id: str
    parts: tuple[Clip, ...]

    @property
    def reference(self) -> str | None:
        refs = [c.reference for c in self.parts]
        return " ".join(refs) if all(refs) else None

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.parts)

    def audio(self) -> np.ndarray:
        """The samples of its clips, one after the other."""
        return np.concatenate([c.audio() for c in self.parts])


def items(specs: Sequence[str]) -> list[Item]:
    """The items ``specs`` name: a clip id, or ids joined by ``+`` (played without gaps)."""
    return [Item(spec, tuple(clips(spec.split("+")))) for spec in specs]


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


def _vad_flags(audio: np.ndarray) -> list[bool]:
    """WebRTC's strictest VAD mode over 30 ms frames: True where a frame is speech."""
    from livewhisper.vad import SpeechDetector, VadConfig

    detector = SpeechDetector(VadConfig(aggressiveness=3, frame_ms=FRAME * 1000 // RATE))
    return [
        detector.is_speech(audio[i : i + FRAME]) for i in range(0, len(audio) - FRAME + 1, FRAME)
    ]


def speech_span(audio: np.ndarray, run: int = 3) -> tuple[float, float]:
    """Seconds from the clip's start to its first and past its last run of speech frames."""
    flags = _vad_flags(audio)
    runs = [i for i in range(len(flags) - run + 1) if all(flags[i : i + run])]
    if not runs:
        return 0.0, len(audio) / RATE
    return runs[0] * FRAME / RATE, (runs[-1] + run) * FRAME / RATE


def speech_runs(audio: np.ndarray) -> list[Span]:
    """Where someone speaks in ``audio``: the mask caption lag is sampled over."""
    return caption_lag.speech_runs(_vad_flags(audio), FRAME / RATE)


def joined_stream(
    chosen: Sequence[Clip] | Sequence[Item], gap: float
) -> tuple[np.ndarray, list[Span], list[Span]]:
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


@dataclass
class FeedClock:
    """When each block was handed to ``feed`` (``time.monotonic()``) and the stream time
    sent once it was: how wall-clock event times map to stream time."""

    wall: list[float]
    stream: list[float]

    def stream_times(self, at: Sequence[float]) -> np.ndarray:
        return caption_lag.stream_times(at, self.wall, self.stream)


def _feed_realtime(dictation: object, audio: np.ndarray, clock: FeedClock | None = None) -> float:
    """Feed ``audio`` at real-time pace; return the wall time of its first sample."""
    feed = dictation.feed  # type: ignore[attr-defined]
    t0 = time.monotonic()
    for i in range(0, len(audio), BLOCK):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if clock is not None:
            clock.wall.append(time.monotonic())
            clock.stream.append(min(i + BLOCK, len(audio)) / RATE)
        feed(audio[i : i + BLOCK])
    return t0


Setting = int | float | bool | str | None
_WORDS: dict[str, Setting] = {"on": True, "true": True, "off": False, "false": False, "none": None}


def parse_variant(text: str) -> dict[str, Setting]:
    """``"pause=0.8,aggressiveness=3"`` -> settings of the VAD, segmenter and stream configs.

    An empty string is the library's defaults. Keys are the fields of
    :class:`~livewhisper.VadConfig`, :class:`~livewhisper.SegmenterConfig` and
    :class:`~livewhisper.StreamConfig`; ``on``/``off`` are booleans, ``none`` is None,
    ``3`` is an int, ``0.8`` a float, anything else stays text (``final_context=full``).
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


def _owner(spans: Sequence[Span], t: float) -> int:
    """The span holding stream time ``t``, else the one with the nearest edge."""
    return min(range(len(spans)), key=lambda i: max(spans[i][0] - t, t - spans[i][1], 0.0))


def _counter(stats: object, name: str) -> int | None:
    """A worker counter of ``Dictation.stats``, None if this version has no such counter."""
    value = getattr(getattr(stats, "worker", None), name, None)
    return value if isinstance(value, int) else None


def measure(
    model: str,
    variant: str,
    clip_ids: list[str],
    gap: float,
    threads: int | None,
    label: str = "short",
    per_clip_finals: bool = True,
) -> Row:
    """Stream the items (clip ids, ``a+b`` joined) through Dictation at real-time pace;
    one row of figures. ``label`` names the set; ``per_clip_finals`` says whether each
    item should give one final (short clips), so the row counts those that did."""
    from livewhisper import Dictation, Engine, Final, Partial
    from livewhisper.engine import DecodeOptions
    from livewhisper.wer import corpus_wer

    vad, segmenter, streaming = configs(parse_variant(variant))
    chosen = items(clip_ids)
    engine = Engine(model, threads=threads)
    options = DecodeOptions(language="en" if engine.multilingual else None)
    labelled = [i for i, c in enumerate(chosen) if c.reference is not None]
    offline = {i: engine.transcribe(chosen[i].audio(), options).text for i in labelled}
    stream, spans, speech = joined_stream(chosen, gap)
    runs = speech_runs(stream)
    events: list[Final | Partial] = []
    lock = threading.Lock()

    def record(event: Final | Partial) -> None:
        with lock:
            events.append(event)

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
    clock = FeedClock([], [])
    cpu0 = _cpu()
    t0 = _feed_realtime(d, stream, clock)
    d.finish()
    d.wait(120)
    cpu = _cpu() - cpu0
    stats = d.stats
    d.stop()
    with lock:
        events = sorted(events, key=lambda e: e.emitted_at)
    finals = [e for e in events if isinstance(e, Final)]
    partials = [e for e in events if isinstance(e, Partial)]
    per_clip: list[list[Final]] = [[] for _ in spans]
    for f in finals:
        per_clip[_owner(spans, (f.start + f.end) / 2)].append(f)
    came = clock.stream_times([e.emitted_at for e in events])
    duration = len(stream) / RATE
    trace = caption_lag.caption_lag(
        list(zip(came.tolist(), [e.end for e in events], strict=True)), runs, duration
    )
    eos: list[float] = []
    endpoint: list[float] = []
    first: list[float] = []
    per_item: list[Row] = []
    for item, (start, end), (onset, offset), fs in zip(
        chosen, spans, speech, per_clip, strict=True
    ):
        mine = [p for p in partials if start - 0.5 <= p.start <= end]
        if fs:
            eos.append(fs[-1].emitted_at - (t0 + offset))
            endpoint.extend(f.latency for f in fs)
        if mine:
            first.append(mine[0].emitted_at - (t0 + onset))
        per_item.append(
            {
                "item": item.id,
                "start": round(start, 2),
                "seconds": round(end - start, 2),
                "finals": len(fs),
                "partials": len(mine),
                "eos": eos[-1] if fs else None,
                "text": " | ".join(f.text for f in fs),
                "wer": (
                    corpus_wer([(item.reference, " ".join(f.text for f in fs))])
                    if item.reference
                    else None
                ),
                **caption_lag.figures(trace.between(start, end + gap)),
            }
        )
    pairs = [(chosen[i].reference or "", " ".join(f.text for f in per_clip[i])) for i in labelled]
    offline_pairs = [(chosen[i].reference or "", offline[i]) for i in labelled]
    lag = caption_lag.figures(trace)
    final_times = clock.stream_times([f.emitted_at for f in finals])
    return {
        "model": model,
        "variant": variant or "defaults",
        "set": label,
        "pause": segmenter.pause,
        "sentence_confidence": streaming.sentence_confidence,
        "clips": len(chosen),
        "audio_s": round(duration, 1),
        "one_final": sum(len(fs) == 1 for fs in per_clip) if per_clip_finals else None,
        "finals": len(finals),
        "partials": len(partials),
        "eos_median": _pct(eos, 50),
        "eos_p90": _pct(eos, 90),
        "endpoint_median": _pct(endpoint, 50),
        "endpoint_p90": _pct(endpoint, 90),
        "first_partial_median": _pct(first, 50),
        "first_partial_p90": _pct(first, 90),
        **lag,
        "cpu_per_audio_s": cpu / duration,
        "wer_stream": corpus_wer(pairs) if pairs else None,
        "wer_offline": corpus_wer(offline_pairs) if pairs else None,
        "decodes": _counter(stats, "decodes"),
        "reused_finals": _counter(stats, "reused_finals"),
        "skipped_partials": _counter(stats, "skipped_partials"),
        "cancelled_partials": _counter(stats, "cancelled_partials"),
        "dropped_samples": stats.overflow_samples,
        "feed_behind_max_s": _feed_behind(clock, t0),
        "per_item": per_item,
        "lag_trace": {
            "t": np.round(trace.times, 2).tolist(),
            "lag": np.round(trace.lag, 3).tolist(),
            "waiting": np.round(trace.waiting, 3).tolist(),
        },
        "final_times": np.round(final_times, 2).tolist(),
    }


def _feed_behind(clock: FeedClock, t0: float) -> float:
    """The most the feeder fell behind real time (s): a busy machine can starve it too."""
    if not clock.wall:
        return 0.0
    due = t0 + np.asarray(clock.stream) - BLOCK / RATE
    return round(float(np.max(np.asarray(clock.wall) - due)), 3)


def measure_silence(model: str, seconds: float, threads: int | None) -> Row:
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


def soak(model: str, minutes: float, threads: int | None) -> Row:
    """Loop the long unlabeled recording for ``minutes`` at real-time pace; per-minute
    latency, caption lag, backlog and memory."""
    from livewhisper import Dictation, Engine, Final, Partial

    engine = Engine(model, threads=threads)
    (long,) = items([UNLABELED])
    total = int(minutes * 60 * RATE)
    stream = np.resize(long.audio(), total).astype(np.float32)
    shown: list[tuple[float, float]] = []
    latencies: list[tuple[float, float]] = []
    lock = threading.Lock()

    def record(event: Final | Partial) -> None:
        with lock:
            shown.append((event.emitted_at, event.end))
            if isinstance(event, Final):
                latencies.append((event.emitted_at, event.latency))

    d = Dictation(engine, source="push", decode=None, on_partial=record, on_final=record).start()
    per_minute: list[dict[str, Any]] = []
    clock = FeedClock([], [])
    t0 = time.monotonic()
    for i in range(0, total, BLOCK):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        clock.wall.append(time.monotonic())
        clock.stream.append(min(i + BLOCK, total) / RATE)
        d.feed(stream[i : i + BLOCK])
        if i and i % (60 * RATE) < BLOCK:
            minute = len(per_minute)
            with lock:
                recent = [
                    lat for at, lat in latencies if minute * 60 <= at - t0 < (minute + 1) * 60
                ]
            per_minute.append(
                {
                    "minute": minute + 1,
                    "finals": len(recent),
                    "latency_median": _pct(recent, 50) or 0.0,
                    "backlog": _counter(d.stats, "backlog") or 0,
                    "rss_mb": _rss_mb(),
                }
            )
    d.finish()
    d.wait(120)
    stats = d.stats
    d.stop()
    with lock:
        shown_now = list(shown)
    came = clock.stream_times([at for at, _ in shown_now])
    trace = caption_lag.caption_lag(
        list(zip(came.tolist(), [end for _, end in shown_now], strict=True)),
        speech_runs(stream),
        total / RATE,
    )
    for m in per_minute:
        m |= caption_lag.figures(trace.between((m["minute"] - 1) * 60.0, m["minute"] * 60.0))
    all_lat = [lat for _, lat in latencies]
    return {
        "model": model,
        "variant": "defaults",
        "pause": f"soak {minutes:g} min",
        "clips": 0,
        "endpoint_median": _pct(all_lat, 50),
        "endpoint_p90": _pct(all_lat, 90),
        **caption_lag.figures(trace),
        "dropped_samples": stats.overflow_samples,
        "feed_behind_max_s": _feed_behind(clock, t0),
        "per_minute": per_minute,
        "max_backlog": max((m["backlog"] for m in per_minute), default=0),
    }


def _loads(text: str) -> list[int]:
    """``"0,1"`` -> ``[0, 1]``: busy processes per row."""
    try:
        loads = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts like 0,1, not {text!r}") from None
    if not loads or min(loads) < 0:
        raise argparse.ArgumentTypeError(f"expected counts like 0,1, not {text!r}")
    return loads


def _busy(text: str) -> list[int]:
    """``--busy N``: the quiet row, then the row with ``N`` busy processes."""
    (n,) = _loads(text)
    return [0, n] if n else [0]


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
    parser.add_argument(
        "--sets",
        nargs="*",
        choices=SETS,
        default=list(SETS),
        help="which speech to stream: short clips (about 1 min of stream), long speech "
        "(about 4.7 min); none for only silence and soak",
    )
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), help="the short set")
    parser.add_argument(
        "--long-clips",
        nargs="+",
        default=list(LONG),
        help="the long set; 'a+b' joins clips without a gap (one reference)",
    )
    parser.add_argument("--gap", type=float, default=1.5, help="silence between clips (s)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="decode threads (default: livewhisper's, the cores left idle before each decode)",
    )
    parser.add_argument(
        "--load",
        type=_loads,
        default=[0],
        help="busy processes beside each measured run, one row per count: '0,1' measures "
        "quiet and with one core kept busy",
    )
    parser.add_argument(
        "--busy",
        type=_busy,
        dest="load",
        metavar="N",
        help="same as --load 0,N: quiet rows and rows with N busy processes",
    )
    parser.add_argument("--silence-seconds", type=float, default=30.0)
    parser.add_argument("--soak-minutes", type=float, default=0.0)


def _loaded(load: int, target: str, timeout: float, **kwargs: Any) -> Row:
    """``run_isolated(target, **kwargs)`` beside ``load`` busy processes; the row says so."""
    before = os.getloadavg()[0]
    with BusyLoad(load) as busy:
        row = run_isolated(target, timeout=timeout, **kwargs)
    return row | {"load": load, "load_cpu_share": busy.cpu_share, "loadavg_before": before}


def _stream_seconds(specs: Sequence[str], gap: float) -> float:
    return 0.5 + sum(item.seconds + gap for item in items(specs))


def run(args: argparse.Namespace) -> list[Row]:
    """Every (model, settings, set, load), then silence and the optional soak per load."""
    prepare_models(args.models)
    sets = {"short": args.clips, "long": args.long_clips}
    rows = []
    for m in args.models:
        for v in args.variants:
            for name in args.sets:
                seconds = _stream_seconds(sets[name], args.gap)
                for load in args.load:
                    rows.append(
                        _loaded(
                            load,
                            "benchmarks.streaming:measure",
                            timeout=3 * seconds + 600,
                            model=m,
                            variant=v,
                            clip_ids=sets[name],
                            gap=args.gap,
                            threads=args.threads,
                            label=name,
                            per_clip_finals=name == "short",
                        )
                    )
    if args.silence_seconds > 0:
        rows += [
            _loaded(
                load,
                "benchmarks.streaming:measure_silence",
                timeout=3 * args.silence_seconds + 600,
                model=m,
                seconds=args.silence_seconds,
                threads=args.threads,
            )
            for m in args.models
            for load in args.load
        ]
    if args.soak_minutes > 0:
        rows += [
            _loaded(
                load,
                "benchmarks.streaming:soak",
                timeout=args.soak_minutes * 60 + 600,
                model=args.models[0],
                minutes=args.soak_minutes,
                threads=args.threads,
            )
            for load in args.load
        ]
    return rows


def _fmt(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _summary(rows: list[Row]) -> str:
    lines = []
    long = [r for r in rows if r.get("set") == "long" and r.get("per_item")]
    if long:
        lines.append(
            "Caption lag by item (long rows):\n\n| model | settings | busy cores | item | s "
            "| finals | partials | end of speech->final s | lag median s | p90 s | max s "
            "| longest wait for new text s |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in long:
            for it in r["per_item"]:
                lines.append(
                    f"| {r['model']} | {r['variant']} | {r.get('load', 0)} | {it['item']} | "
                    f"{it['seconds']:.0f} | {it['finals']} | {it['partials']} | "
                    f"{_fmt(it['eos'])} | {_fmt(it['lag_median'])} | {_fmt(it['lag_p90'])} | "
                    f"{_fmt(it['lag_max'])} | {_fmt(it['wait_max'])} |"
                )
    for r in (r for r in rows if str(r.get("pause", "")).startswith("soak")):
        lines.append(
            f"\nSoak ({r['pause']}, {r['model']}, {r.get('load', 0)} busy cores): dropped "
            f"samples {r['dropped_samples']}, max backlog {r['max_backlog']} finals"
        )
        lines.append(
            "\n| minute | finals | median endpoint latency s | caption lag median s | p90 s "
            "| max s | backlog | RSS MB |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for m in r["per_minute"]:
            lines.append(
                f"| {m['minute']} | {m['finals']} | {m['latency_median']:.2f} | "
                f"{_fmt(m.get('lag_median'))} | {_fmt(m.get('lag_p90'))} | "
                f"{_fmt(m.get('lag_max'))} | {m['backlog']} | {m['rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def _label(r: Row) -> str:
    settings = r.get("variant", "pause=" + str(r["pause"]))
    where = f" {r['set']}" if r.get("set") else ""
    busy = f" busy {r['load']}" if r.get("load") else ""
    return f"{r['model']} {settings}{where}{busy}"


# Issue 15's targets for caption lag: (seconds, what), idle and with one busy core.
TARGETS_IDLE = ((1.0, "median target"), (2.0, "p90 target"), (4.0, "max target"))
TARGETS_BUSY = ((1.5, "median target (busy)"), (3.0, "p90 target (busy)"))


def _panel(row: Row) -> str:
    return f"busy cores: {row.get('load', 0)}"


def _short(item: str) -> str:
    """``a+b+c`` -> ``a+2``: an item's name short enough for a chart."""
    first, *rest = item.split("+")
    return f"{first}+{len(rest)}" if rest else first


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    drawn = []
    live = [r for r in rows if r.get("eos_median") is not None]
    if live:
        series = {
            "end of speech -> final, median s": [r["eos_median"] for r in live],
            "p90 s": [r["eos_p90"] for r in live],
            "caption lag, median s": [r.get("lag_median") for r in live],
            "CPU s per audio s": [r["cpu_per_audio_s"] for r in live],
        }
        title = "Live dictation: latency, caption lag and CPU (lower is better)"
        drawn.append(
            plots.bars(
                [_label(r) for r in live], series, "seconds", title, stem.with_suffix(".png")
            )
        )
    traced = [r for r in rows if r.get("set") == "long" and r.get("lag_trace")]
    if traced:
        # One long run: the first model and settings, quiet and loaded in one panel each.
        first = (traced[0]["model"], traced[0]["variant"])
        shown = [r for r in traced if (r["model"], r["variant"]) == first]
        drawn.append(
            plots.timeline(
                {
                    _panel(r): (
                        r["lag_trace"]["t"],
                        r["lag_trace"]["lag"],
                        r.get("final_times", []),
                    )
                    for r in shown
                },
                sections=[(it["start"], _short(it["item"])) for it in shown[0]["per_item"]],
                targets={_panel(r): TARGETS_BUSY if r.get("load") else TARGETS_IDLE for r in shown},
                xlabel="stream time s (ticks on the axis: finals)",
                ylabel="caption lag s",
                title=f"Caption lag while speaking, long set, {first[0]} {first[1]}",
                path=stem.parent / f"{stem.name}-caption-lag.png",
                gap=0.15,
            )
        )
    for r in rows:
        minutes = r.get("per_minute") or []
        if minutes:
            busy = r.get("load", 0)
            drawn.append(
                plots.lines(
                    [m["minute"] for m in minutes],
                    {
                        "endpoint -> final s": [m["latency_median"] for m in minutes],
                        "caption lag median s": [m.get("lag_median") or 0.0 for m in minutes],
                        "finals waiting": [m["backlog"] for m in minutes],
                        "RSS MB": [m["rss_mb"] for m in minutes],
                    },
                    "minute",
                    f"{r['pause']} of real speech at real-time pace, {r['model']}, "
                    f"{busy} busy cores",
                    stem.parent / f"{stem.name}-soak{f'-busy{busy}' if busy else ''}.png",
                )
            )
    return drawn


BENCHMARK = Benchmark(
    name="streaming",
    description="live dictation at real-time pace: latency, caption lag, CPU, accuracy",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("model", "model"),
        Column("variant", "settings"),
        Column("set", "set"),
        Column("load", "busy cores"),
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
        Column("lag_median", "caption lag median s", "{:.2f}"),
        Column("lag_p90", "p90 s", "{:.2f}"),
        Column("lag_max", "max s", "{:.2f}"),
        Column("wait_max", "longest wait for new text s", "{:.1f}"),
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
        "CPU counts every thread (decode threads: the idle cores, unless --threads).",
        "Caption lag: every 100 ms of speech, stream time sent minus the furthest stream "
        "time any text shown by then reaches; a pause the text covered does not count.",
        "busy cores: processes spinning a pure-Python loop beside the measured one.",
    ),
    summary=_summary,
    plot=_plot,
)
