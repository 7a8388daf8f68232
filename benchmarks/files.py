"""File transcription: livewhisper's ``transcribe_file`` beside faster-whisper, same weights.

Each system transcribes files from disk, as a user's command does, in a fresh process
(model loaded once, one untimed warm-up file), over three inputs:

* **clips**: the English clips of ``tests/data/en``, one FLAC file each (WER over all);
* **joined**: the same clips joined into one FLAC file with ``--gap`` s of silence between
  them, so that both engines cut a long file themselves (WER against the joined references);
* **long**: ``tests/data/long``'s 169 s of broadcast speech, no transcript (time and word
  count only).

A system is ``MODEL`` (livewhisper: :func:`livewhisper.filetranscribe.transcribe_file` with
its defaults, e.g. ``tiny.en-q8_0``; it always cuts the file at pauses with its VAD),
``MODEL+sized`` (the same with ``sized_context=True``: encoder context sized to each
utterance) or ``fw:SIZE:COMPUTE`` (faster-whisper ``WhisperModel.transcribe`` on the
CTranslate2 weights livewhisper converts, its defaults: previous text as prompt, temperature
fallback, no word timestamps), with ``+vad`` for its Silero VAD filter. All get beam 1,
language "en" and ``--threads`` threads. Wall time, CPU time (user+system, all threads of
the process) and RTF (wall / audio seconds) include reading and decoding the file.

Example::

    python -m benchmarks files
    python -m benchmarks files --quick
    python -m benchmarks files --systems tiny.en-q8_0 tiny.en-q8_0+sized fw:tiny.en:int8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    SAMPLE_RATE,
    Benchmark,
    Column,
    Row,
    clips,
    ct2_model_dir,
    prepare_models,
    run_isolated,
)
from livewhisper.wer import corpus_wer

SYSTEMS = (
    "tiny.en-q8_0",
    "fw:tiny.en:int8",
    "fw:tiny.en:int8+vad",
    "base-q8_0",
    "fw:base:int8",
    "fw:base:int8+vad",
)
SIZED = "+sized"
VAD = "+vad"
LONG = "voxconverse_aepyx_169s"
QUICK_CLIPS = ("jfk", "ps_0880", "ps_cards_005")

Input = dict[str, Any]
"""One input as the child process gets it: ``name`` and ``files``, a list of
``[path, reference, seconds]`` (reference "" when there is none)."""


def _transcriber(system: str, threads: int) -> tuple[Callable[[str], str], Row]:
    """A function from a file path to its text, and the row's description of ``system``."""
    if system.startswith("fw:"):
        from faster_whisper import WhisperModel

        _, size, compute = system.removesuffix(VAD).split(":")
        vad = system.endswith(VAD)
        fw = WhisperModel(
            str(ct2_model_dir(size)), device="cpu", compute_type=compute, cpu_threads=threads
        )

        def fw_transcribe(path: str) -> str:
            segments, _ = fw.transcribe(path, language="en", beam_size=1, vad_filter=vad)
            return "".join(s.text for s in segments).strip()

        described = {"engine": "faster-whisper", "model": size, "precision": compute}
        setup = f"beam 1, VAD {'Silero' if vad else 'off'}"
        return fw_transcribe, described | {"setup": setup}

    from livewhisper.engine import DecodeOptions, Engine
    from livewhisper.filetranscribe import transcribe_file

    name = system.removesuffix(SIZED)
    sized = system.endswith(SIZED)
    engine = Engine(name, threads=threads)
    options = DecodeOptions(language="en")

    def ours(path: str) -> str:
        return transcribe_file(path, engine, options, sized_context=sized).text.strip()

    model, _, precision = name.rpartition("-")
    setup = "defaults" + (", context sized to each utterance" if sized else "") + ", VAD webrtc"
    return ours, {"engine": "livewhisper", "model": model, "precision": precision, "setup": setup}


def evaluate(system: str, inputs: list[Input], threads: int) -> Row:
    """Transcribe every file of ``inputs`` with ``system`` in this process; one result per
    input (WER, wall and CPU seconds, RTF, texts) under ``inputs``.

    Call it through :func:`run_isolated`. Example::

        evaluate("tiny.en-q8_0", [{"name": "jfk", "files": [["jfk.flac", "...", 11.0]]}], 2)
    """
    transcribe, described = _transcriber(system, threads)
    transcribe(inputs[0]["files"][0][0])  # warm-up, untimed
    results = []
    for item in inputs:
        texts: list[str] = []
        wall = cpu = 0.0
        for path, _, _ in item["files"]:
            wall_0, cpu_0 = time.perf_counter(), time.process_time()
            texts.append(transcribe(path))
            wall += time.perf_counter() - wall_0
            cpu += time.process_time() - cpu_0
        audio_s = sum(seconds for _, _, seconds in item["files"])
        pairs = [(ref, text) for (_, ref, _), text in zip(item["files"], texts, strict=True)]
        labelled = all(ref for ref, _ in pairs)
        results.append(
            {
                "input": item["name"],
                "files": len(texts),
                "audio_s": round(audio_s, 2),
                "wer": round(corpus_wer(pairs), 4) if labelled else None,
                "wer_no_fillers": (
                    round(corpus_wer(pairs, drop_fillers=True), 4) if labelled else None
                ),
                "words": sum(len(t.split()) for t in texts),
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "rtf": round(wall / audio_s, 4),
                "cpu_per_audio_s": round(cpu / audio_s, 4),
                "texts": texts,
            }
        )
    return {"system": system, **described, "threads": threads, "inputs": results}


def joined_file(clip_ids: Sequence[str], gap: float, path: Path) -> Input:
    """The clips joined with ``gap`` s of silence into the FLAC file ``path``; its input."""
    import soundfile

    chosen = clips(clip_ids)
    silence = np.zeros(round(gap * SAMPLE_RATE), dtype=np.float32)
    parts = [p for clip in chosen for p in (clip.audio(), silence)][:-1]
    audio = np.concatenate(parts)
    soundfile.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    reference = " ".join(c.reference for c in chosen)
    return {"name": "joined", "files": [[str(path), reference, len(audio) / SAMPLE_RATE]]}


def inputs(clip_ids: Sequence[str] | None, gap: float, folder: Path, long: bool) -> list[Input]:
    """The clips one file each, the clips joined (written into ``folder``), the long clip."""
    chosen = clips(clip_ids)
    found: list[Input] = [
        {"name": "clips", "files": [[str(c.path), c.reference, c.seconds] for c in chosen]},
        joined_file([c.id for c in chosen], gap, folder / "joined.flac"),
    ]
    if long:
        (clip,) = clips([LONG])
        found.append({"name": "long", "files": [[str(clip.path), "", clip.seconds]]})
    return found


def run(
    systems: Sequence[str] = SYSTEMS,
    clip_ids: Sequence[str] | None = None,
    *,
    threads: int = 2,
    gap: float = 1.0,
    long: bool = True,
    progress: bool = True,
) -> list[Row]:
    """One row per system and input, each system in a fresh process on the same files."""
    prepare_models([s.removesuffix(SIZED) for s in systems if not s.startswith("fw:")])
    for size in {s.split(":")[1] for s in systems if s.startswith("fw:")}:
        ct2_model_dir(size)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        items = inputs(clip_ids, gap, Path(tmp), long)
        for i, system in enumerate(systems, start=1):
            result = run_isolated(
                "benchmarks.files:evaluate", system=system, inputs=items, threads=threads
            )
            shared = {k: v for k, v in result.items() if k != "inputs"}
            rows += [shared | each for each in result["inputs"]]
            if progress:
                done = ", ".join(f"{r['input']} {r['wall_s']:.1f} s" for r in result["inputs"])
                print(f"[{i}/{len(systems)}] {system}: {done}", file=sys.stderr, flush=True)
    return rows


def verdicts(rows: Sequence[Row]) -> list[Row]:
    """Per model and labelled input, livewhisper against each faster-whisper row: WER no
    worse, wall and CPU time less."""
    found = []
    for ours in rows:
        if ours["engine"] != "livewhisper" or ours["wer"] is None or SIZED in ours["system"]:
            continue
        for theirs in rows:
            same = theirs["model"] == ours["model"] and theirs["input"] == ours["input"]
            if theirs["engine"] != "faster-whisper" or not same:
                continue
            found.append(
                {
                    "input": ours["input"],
                    "ours": ours["system"],
                    "against": theirs["system"],
                    "wer_points": round(100 * (ours["wer"] - theirs["wer"]), 2),
                    "wall_ratio": round(theirs["wall_s"] / ours["wall_s"], 2),
                    "cpu_ratio": round(theirs["cpu_s"] / ours["cpu_s"], 2),
                }
            )
    return found


def _summary(rows: list[Row]) -> str:
    lines = [
        "### Target: WER no worse than faster-whisper (same weights, beam 1) and faster",
        "",
        "speed-up = faster-whisper's time / livewhisper's (> 1: livewhisper faster)",
        "",
    ]
    for v in verdicts(rows):
        met = v["wer_points"] <= 0 and v["wall_ratio"] > 1 and v["cpu_ratio"] > 1
        lines.append(
            f"- {v['input']}: {v['ours']} vs {v['against']}: WER {v['wer_points']:+.2f} points, "
            f"speed-up wall {v['wall_ratio']:.2f}x, CPU {v['cpu_ratio']:.2f}x: "
            f"{'met' if met else 'NOT met'}"
        )
    return "\n".join(lines) if len(lines) > 4 else ""


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    points = [(r["system"], r["rtf"], r["wer"]) for r in rows if r["input"] == "joined"]
    title = "File transcription of the joined English clips (lower left is better)"
    return [plots.wer_against_speed(points, title, stem.with_suffix(".png"))]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of ``python -m benchmarks files``."""
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--clips", nargs="+", default=None, help="clip ids (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine")
    parser.add_argument("--gap", type=float, default=1.0, help="silence between joined clips")
    parser.add_argument(
        "--long", action=argparse.BooleanOptionalAction, default=True, help=f"also {LONG}"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: tiny.en-q8_0 and fw:tiny.en:int8 on {', '.join(QUICK_CLIPS)}",
    )


def _run_from_args(args: argparse.Namespace) -> list[Row]:
    if args.quick:
        args.systems = ["tiny.en-q8_0", "fw:tiny.en:int8"]
        args.clips = args.clips or list(QUICK_CLIPS)
        args.long = False
    return run(args.systems, args.clips, threads=args.threads, gap=args.gap, long=args.long)


BENCHMARK = Benchmark(
    name="files",
    description="file transcription, livewhisper vs faster-whisper on the same weights",
    add_arguments=add_arguments,
    run=_run_from_args,
    columns=(
        Column("system", "system"),
        Column("setup", "setup"),
        Column("input", "input"),
        Column("files", "files"),
        Column("audio_s", "audio s", "{:.0f}"),
        Column("wer", "WER", "{:.1%}"),
        Column("wer_no_fillers", "WER no fillers", "{:.1%}"),
        Column("words", "words"),
        Column("wall_s", "wall s", "{:.1f}"),
        Column("cpu_s", "CPU s", "{:.1f}"),
        Column("rtf", "RTF", "{:.3f}"),
        Column("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ),
    notes=(
        "Timings carry the noise of a shared 2-core machine; each system's figures come "
        "from one process, one after the other, in the same run.",
        "All engines: beam 1, language en, the same threads; wall and CPU time include "
        "reading the file (PyAV in both). CPU is user+system of the whole process.",
        "livewhisper cuts files at pauses (webrtc VAD), packs the utterances into windows of up "
        "to 28 s and decodes each with the full 30 s encoder context; faster-whisper decodes "
        "30 s windows conditioned on the previous text, without (VAD off) or after (VAD "
        "Silero) its VAD filter.",
        "WER via livewhisper.wer.corpus_wer (case, punctuation and tags removed, no number "
        "normalisation); 'long' has no transcript: words is the count of words output.",
    ),
    summary=_summary,
    plot=_plot,
)
