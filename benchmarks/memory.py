"""Peak memory of file transcription against the file's length (issue 19, item 8).

For each length, ``tests/data/long``'s 169 s of broadcast speech is looped into one
48 kHz stereo MP3 (ffmpeg, 128 kb/s), and ``livewhisper transcribe FILE -o OUT`` runs in
a fresh process (:func:`~benchmarks.harness.run_isolated`: the command's own ``main``,
peak RSS read from ``VmHWM``). ``--pipeline-only`` stops before Whisper: decode and cut at
pauses only (:func:`~livewhisper.filetranscribe.split_blocks`), minutes instead of hours
on a small machine. The target: the longest file's peak within 1.2x of the shortest's.

Example::

    python -m benchmarks memory                      # 1 and 60 minutes, tiny.en-q8_0
    python -m benchmarks memory --minutes 1 10 --pipeline-only
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Benchmark, Column, Row, data_dir, prepare_models, run_isolated


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 60.0])
    parser.add_argument("--model", default="tiny.en-q8_0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--pipeline-only", action="store_true", help="decode and cut at pauses, no Whisper"
    )
    parser.add_argument("--quick", action="store_true", help="1 and 3 minutes, pipeline only")


def make_file(minutes: float, folder: Path) -> Path:
    """The long clip looped to ``minutes``, as 48 kHz stereo MP3."""
    path = folder / f"{minutes:g}min.mp3"
    source = data_dir() / "long" / "voxconverse_aepyx_169s.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
         "-t", str(60 * minutes), "-ar", "48000", "-ac", "2", "-b:a", "128k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def transcribe(path: str, model: str, threads: int, pipeline_only: bool) -> dict[str, Any]:
    """In the child: ``livewhisper transcribe`` (or its pipeline up to Whisper) on ``path``."""
    started, cpu = time.perf_counter(), time.process_time()
    if pipeline_only:
        from livewhisper.audio.decode import decode_audio
        from livewhisper.filetranscribe import split_blocks

        pieces = sum(1 for _ in split_blocks(decode_audio(path)))
    else:
        from livewhisper.cli.main import main

        out = Path(path).with_suffix(".txt")
        status = main(["transcribe", path, "--model", model, "--threads", str(threads),
                       "-o", str(out), "--force", "--no-progress"])  # fmt: skip
        if status != 0:
            raise RuntimeError(f"livewhisper transcribe exited with {status}")
        pieces = len(out.read_text().split())
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "pieces": pieces,
    }


def run(args: argparse.Namespace) -> list[Row]:
    minutes = [1.0, 3.0] if args.quick else args.minutes
    pipeline_only = args.pipeline_only or args.quick
    if not pipeline_only:
        prepare_models([args.model])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for length in minutes:
            path = make_file(length, Path(folder))
            row = run_isolated(
                "benchmarks.memory:transcribe",
                timeout=24 * 3600,
                path=str(path),
                model=args.model,
                threads=args.threads,
                pipeline_only=pipeline_only,
            )
            row.update(minutes=length, what="pipeline" if pipeline_only else args.model)
            rows.append(row)
            path.unlink()
    base = rows[0]["peak_rss_mb"]
    for row in rows:
        row["ratio"] = round(row["peak_rss_mb"] / base, 2)
    return rows


def summary(rows: list[Row]) -> str:
    worst = max(row["ratio"] for row in rows)
    verdict = "meets" if worst <= 1.2 else "misses"
    return f"Longest file's peak RSS is {worst:.2f}x the shortest's: {verdict} the 1.2x target."


BENCHMARK = Benchmark(
    name="memory",
    description="peak RSS of livewhisper transcribe against the file's length",
    add_arguments=add_arguments,
    run=run,
    columns=[
        Column("what", "what"),
        Column("minutes", "minutes", "{:g}"),
        Column("peak_rss_mb", "peak RSS MB", "{:.1f}"),
        Column("ratio", "x shortest", "{:.2f}"),
        Column("wall_s", "wall s", "{:.1f}"),
        Column("cpu_s", "CPU s", "{:.1f}"),
        Column("pieces", "words/utterances"),
    ],
    notes=(
        "48 kHz stereo MP3 of tests/data/long looped; each length in a fresh process; "
        "peak RSS is VmHWM of that process.",
    ),
    summary=summary,
)
