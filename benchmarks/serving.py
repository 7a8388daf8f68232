"""Serving: how many live sessions one ``livewhisper serve`` holds, through the real client.

Starts ``livewhisper serve`` (its own process, ``--max-sessions CAPACITY``, every session
from this machine allowed) and, for each N of ``--sessions``, opens N sessions at once
with :func:`livewhisper.client.listen`, each streaming real speech (the short clips of
:mod:`benchmarks.streaming`, ``--gap`` s apart, a different clip first in each session,
the sessions started 0.5 s apart) at real-time pace in 20 ms frames, as a browser tab or
``livewhisper listen`` would. Per N, over every session:

* **caption lag** (:mod:`benchmarks.caption_lag`): every 100 ms of stream while someone
  speaks, the stream time sent minus where the text received by then reaches; median,
  p90 and maximum over all sessions' samples;
* **EOS -> final**: wall time from when a clip's last speech was sent to the last
  ``final`` of that clip received; median and maximum;
* what the server said: ``status`` reports of text behind (sessions that saw one, the
  largest lag reported), non-fatal notices, sessions refused (past ``CAPACITY``, with
  the error code) or ended by an error;
* the server's CPU (user+sys, from /proc) per second of wall time, and per second of
  audio of each session served (what a session costs, whatever the machine could give).

Example::

    nice -n 19 python -m benchmarks serving --sessions 1,2,3,4,5
    python -m benchmarks serving --capacity 8 --sessions 6,8 --tag wide
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import numpy as np

from benchmarks import caption_lag
from benchmarks.harness import (
    REPO,
    Benchmark,
    Column,
    Row,
    _cpu_seconds,
    clips,
    free_port,
    livewhisper_program,
    prepare_models,
    stop_process,
)
from benchmarks.streaming import BLOCK, CLIPS, RATE, joined_stream, speech_runs

STAGGER = 0.5
"""Seconds between the starts of two sessions."""
LAG_GOAL = 3.0
"""The caption lag p90 a session should keep (issue 18)."""


def start_server(model: str, capacity: int, port: int) -> subprocess.Popen[bytes]:
    """``livewhisper serve`` on ``port``, once ``/healthz`` answers (RuntimeError if not)."""
    command = [livewhisper_program(), "serve", "--port", str(port)]
    command += ["--model", model, "--max-sessions", str(capacity)]
    command += ["--max-sessions-per-client", str(capacity)]
    # To a file: a pipe nobody reads would stall the server once full.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=REPO, stderr=log)
        deadline = time.monotonic() + 600
        health = f"http://127.0.0.1:{port}/healthz"
        while time.monotonic() < deadline:
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"serve failed: {log.read().decode()[-800:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:
                if json.load(answer)["status"] == "ok":
                    return server
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("serve did not answer /healthz within 600 s")


async def _session(url: str, index: int, audio: np.ndarray, gap: float) -> dict[str, Any]:
    """Stream one session; what it received and when, as plain values."""
    from livewhisper import client
    from livewhisper.events import Final

    await asyncio.sleep(index * STAGGER)
    wall: list[float] = []
    sent: list[float] = []
    shown: list[tuple[float, float]] = []  # (wall time received, stream time reached)
    finals: list[tuple[float, float, float]] = []  # (received, start, end)
    behind, worst, statuses, opened = False, 0.0, 0, False
    try:
        async with client.listen(url, language="en") as session:
            opened = True

            async def send() -> None:
                t0 = time.monotonic()
                for i in range(0, len(audio), BLOCK):
                    delay = t0 + i / RATE - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await session.send(audio[i : i + BLOCK])
                    wall.append(time.monotonic())
                    sent.append(min(i + BLOCK, len(audio)) / RATE)
                await session.end()

            sender = asyncio.create_task(send())
            last_status = None
            try:
                async for event in session:
                    now = time.monotonic()
                    shown.append((now, event.end))
                    if isinstance(event, Final):
                        finals.append((now, event.start, event.end))
                    if session.status is not None and session.status is not last_status:
                        last_status = session.status
                        statuses += 1
                        behind = behind or session.status.behind
                        worst = max(worst, session.status.lag)
            finally:
                sender.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await sender
            notices = [n.code for n in session.notices]
    except client.ServerError as exc:
        return {"error": exc.code, "message": str(exc), "opened": opened}
    return {
        "wall": wall,
        "sent": sent,
        "shown": shown,
        "finals": finals,
        "behind": behind,
        "status_max": worst,
        "statuses": statuses,
        "notices": notices,
    }


def _rotated(chosen: list[Any], index: int) -> list[Any]:
    k = index % len(chosen)
    return chosen[k:] + chosen[:k]


def measure(url: str, pid: int, n: int, clip_ids: list[str], gap: float) -> Row:
    """N sessions at once on the server at ``url`` (process ``pid``); one row."""
    chosen = clips(clip_ids)
    streams = [joined_stream(_rotated(chosen, i), gap) for i in range(n)]
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()

    async def run_all() -> list[dict[str, Any]]:
        jobs = [_session(url, i, s[0], gap) for i, s in enumerate(streams)]
        return list(await asyncio.gather(*jobs))

    results = asyncio.run(run_all())
    cpu1, wall = _cpu_seconds(pid), time.monotonic() - t0
    lags: list[np.ndarray] = []
    eos: list[float] = []
    refused: list[str] = []
    failed: list[str] = []
    for (audio, spans, speech), result in zip(streams, results, strict=True):
        if "error" in result:
            (failed if result["opened"] else refused).append(result["error"])
            continue
        times = caption_lag.stream_times(
            [w for w, _ in result["shown"]], result["wall"], result["sent"]
        )
        shown = list(zip(times.tolist(), [r for _, r in result["shown"]], strict=True))
        trace = caption_lag.caption_lag(shown, speech_runs(audio), len(audio) / RATE)
        lags.append(trace.lag)
        start_wall = result["wall"][0] - result["sent"][0]  # when stream time 0 was
        for (start, end), (_, offset) in zip(spans, speech, strict=True):
            mine = [f for f in result["finals"] if start <= (f[1] + f[2]) / 2 <= end + gap]
            if mine:
                eos.append(mine[-1][0] - (start_wall + offset))
    ok = [r for r in results if "error" not in r]
    lag = np.concatenate(lags) if lags else np.zeros(0)
    return {
        "sessions": n,
        "served": len(ok),
        "refused": len(refused),
        "refusal": refused[0] if refused else None,
        "failed": ",".join(failed) or None,
        "lag_median": float(np.percentile(lag, 50)) if lag.size else None,
        "lag_p90": float(np.percentile(lag, 90)) if lag.size else None,
        "lag_max": float(lag.max()) if lag.size else None,
        "eos_median": float(np.median(eos)) if eos else None,
        "eos_max": float(max(eos)) if eos else None,
        "behind_sessions": sum(1 for r in ok if r["behind"]),
        "status_max": max((r["status_max"] for r in ok), default=0.0),
        "notices": ",".join(sorted({c for r in ok for c in r["notices"]})) or None,
        "server_cpu": round((cpu1 - cpu0) / wall, 2) if cpu0 is not None and cpu1 else None,
        # The server's CPU per second of speech it was sent: what a session costs, however
        # much CPU the machine could give it.
        "cpu_per_audio_second": (
            round((cpu1 - cpu0) / (len(ok) * len(streams[0][0]) / RATE), 3)
            if ok and cpu0 is not None and cpu1
            else None
        ),
        "audio_seconds": round(len(streams[0][0]) / RATE, 1),
        "loadavg": round(os.getloadavg()[0], 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny.en-q8_0")
    parser.add_argument(
        "--sessions",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2, 3, 4, 5],
        help="numbers of concurrent sessions, one row each (1,2,3,4,5)",
    )
    parser.add_argument(
        "--capacity", type=int, default=4, help="serve --max-sessions (4, the default)"
    )
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--gap", type=float, default=1.5, help="silence between clips (s)")


def run(args: argparse.Namespace) -> list[Row]:
    """Start the server once, then one row per number of sessions."""
    prepare_models([args.model])
    port = free_port()
    server = start_server(args.model, args.capacity, port)
    try:
        rows = []
        for n in args.sessions:
            rows.append(measure(f"ws://127.0.0.1:{port}", server.pid, n, args.clips, args.gap))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        return rows
    finally:
        stop_process(server)


def summary(rows: list[Row]) -> str:
    held = [r["sessions"] for r in rows if r["lag_p90"] is not None and r["lag_p90"] <= LAG_GOAL]
    refused = [r for r in rows if r["refused"]]
    lines = [
        f"Caption lag p90 <= {LAG_GOAL:g} s held up to {max(held)} concurrent sessions."
        if held
        else f"Caption lag p90 <= {LAG_GOAL:g} s held for no number of sessions."
    ]
    if refused:
        r = refused[0]
        lines.append(
            f"Past capacity ({r['served']} sessions served), {r['refused']} refused at once "
            f"with '{r['refusal']}' (close 1013)."
        )
    return "\n".join(lines)


BENCHMARK = Benchmark(
    name="serving",
    description="Concurrent live sessions on one livewhisper serve: caption lag per N (issue 18)",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("sessions", "N"),
        Column("served", "served"),
        Column("refused", "refused"),
        Column("refusal", "refused with"),
        Column("lag_median", "lag median s", "{:.2f}"),
        Column("lag_p90", "lag p90 s", "{:.2f}"),
        Column("lag_max", "lag max s", "{:.2f}"),
        Column("eos_median", "EOS->final median s", "{:.2f}"),
        Column("eos_max", "EOS->final max s", "{:.2f}"),
        Column("behind_sessions", "sessions told 'behind'"),
        Column("status_max", "largest lag reported s", "{:.1f}"),
        Column("notices", "notices"),
        Column("failed", "ended by"),
        Column("server_cpu", "server CPU s/s", "{:.2f}"),
        Column("cpu_per_audio_second", "server CPU s per session-s of audio", "{:.3f}"),
        Column("loadavg", "load avg"),
    ),
    notes=(
        "Each session streams the short clips of the streaming benchmark, 1.5 s apart, at "
        "real-time pace through livewhisper.client (20 ms frames, int16), English.",
        "Caption lag and EOS->final as in the streaming benchmark, pooled over the sessions.",
        "The client runs in the benchmark's process on the same machine as the server.",
    ),
    summary=summary,
)
