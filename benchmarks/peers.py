"""Streaming peers: WhisperLive beside livewhisper, same clips, same weights, real-time pace.

WhisperLive 0.10.0 runs as its own server process from ``.venv-peers/whisperlive``
(made by ``scripts/peer-whisperlive.sh``) with the faster_whisper backend in single-model
mode on the CTranslate2 tiny.en weights that livewhisper converts (:func:`ct2_model_dir`).
On CPU WhisperLive fixes int8 and faster-whisper's defaults (beam 5, temperature fallback,
previous text as prompt); its server-side VAD is faster-whisper's bundled Silero model.
A small websocket client of ours sends the clips joined as in :mod:`benchmarks.streaming`
(0.5 s of silence first, ``--gap`` s after each clip) as float32 blocks, each sent when its
last sample is due at real-time pace, then silence until the last clip's text is final
(at most ``--tail`` s), then ``END_OF_AUDIO``. Every server message is kept with its
arrival time. A completed segment belongs to the clip whose speech it overlaps most
(:func:`_clip_of`). Per clip, as :func:`benchmarks.streaming.measure` does:

* **end of speech -> final**: from the clip's last speech (``streaming.speech_span``) to the
  arrival of its last completed segment (``completed: true``; segments are resent, so
  they are told apart by start and text).
* **first partial**: from the clip's first speech to the first message whose last segment
  is not completed, has text and starts in the clip.
* **one final per clip**: clips with exactly one completed segment.

CPU is the server process's user+system time (all threads, ``/proc/PID/stat``) from
``SERVER_READY`` to the socket's close, per second of audio sent; peak RSS is its
``VmHWM``. WER is of each clip's completed segments joined (plus the last pending
segment, if the stream ended before it completed, as WhisperLive's client writes it);
``wer_joined`` (raw results) scores the whole stream as one text, free of that attribution.
The same run measures livewhisper with :func:`benchmarks.streaming.measure` (defaults).

Example::

    bash scripts/peer-whisperlive.sh
    python -m benchmarks peers
    python -m benchmarks peers --quick
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    REPO,
    Benchmark,
    Column,
    Row,
    clips,
    ct2_model_dir,
    free_port,
    prepare_models,
    run_isolated,
    stop_process,
)
from benchmarks.streaming import BLOCK, CLIPS, RATE, _pct, joined_stream

PEER_VENV = REPO / ".venv-peers" / "whisperlive"
PEER_NAME = "WhisperLive 0.10.0"
OURS = "tiny.en-q8_0"
PEER_MODEL = "tiny.en"
QUICK_CLIPS = ("ps_0880", "ps_goforward")
END_OF_AUDIO = b"END_OF_AUDIO"
_PEER_PACKAGES = ("whisper-live", "faster-whisper", "ctranslate2", "onnxruntime", "torch")
# Started with the peer venv's Python: WhisperLive's own server API, nothing else.
_SERVE = """
import sys
from whisper_live.server import TranscriptionServer
host, port, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TranscriptionServer().run(
    host, port=port, backend="faster_whisper", faster_whisper_custom_model_path=model,
    single_model=True, max_clients=1, max_connection_time=3600,
)
"""
_VERSIONS = """
import importlib.metadata as md, json, sys
print(json.dumps({n: md.version(n) for n in sys.argv[1:]}))
"""


def _peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def _proc_cpu(pid: int) -> float:
    """User+system CPU seconds of process ``pid``, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _clip_of(speech: Sequence[tuple[float, float]], start: float, end: float) -> int:
    """The clip whose speech overlaps ``start``..``end`` most; else the nearest by middles.

    WhisperLive's segment times are loose (a clip's last words may sit mostly in the gap),
    so the middle alone, as for livewhisper's utterance-aligned finals, would misplace them.
    """
    overlaps = [min(end, b) - max(start, a) for a, b in speech]
    best = max(range(len(speech)), key=overlaps.__getitem__)
    if overlaps[best] > 0:
        return best
    mid = (start + end) / 2
    return min(range(len(speech)), key=lambda i: abs(mid - sum(speech[i]) / 2))


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the server did not listen within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(text[-lines:])


def peer_versions() -> dict[str, str]:
    """Versions of the packages in the peer venv that make the figures."""
    out = subprocess.run(
        [str(_peer_python()), "-c", _VERSIONS, *_PEER_PACKAGES],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def measure_whisperlive(
    clip_ids: Sequence[str],
    gap: float,
    threads: int,
    block_ms: float,
    tail: float,
    vad: bool,
) -> Row:
    """Stream the clips through a WhisperLive server at real-time pace; one row of figures."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from livewhisper.wer import corpus_wer

    chosen = clips(list(clip_ids))
    stream, spans, speech = joined_stream(chosen, gap)
    model = ct2_model_dir(PEER_MODEL)
    block = round(block_ms * RATE / 1000)
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="peer-whisperlive-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(_peer_python()), "-c", _SERVE, "127.0.0.1", str(port), str(model)],
                cwd=tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_listening(proc, port, log, timeout=300)
            messages: list[tuple[float, dict[str, Any]]] = []
            last_done = threading.Event()
            fed = [0]
            t0 = [0.0]
            failed: list[str] = []
            uri = f"ws://127.0.0.1:{port}"
            with connect(uri, max_size=None, proxy=None, open_timeout=60) as ws:
                ws.send(json.dumps(_options(vad)))
                ready = json.loads(ws.recv(timeout=300))
                if ready.get("message") != "SERVER_READY":
                    raise RuntimeError(f"the server answered {ready}: {_tail(log)}")
                cpu0 = _proc_cpu(proc.pid)

                def send() -> None:
                    t0[0] = time.monotonic()
                    limit = len(stream) + int(tail * RATE)
                    i = 0
                    try:
                        while i < limit and (i < len(stream) or not last_done.is_set()):
                            chunk = stream[i : i + block] if i < len(stream) else np.zeros(block)
                            i += len(chunk)
                            delay = t0[0] + i / RATE - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                            ws.send(chunk.astype("<f4").tobytes())
                            fed[0] = i
                        ws.send(END_OF_AUDIO)
                    except ConnectionClosed as e:
                        failed.append(f"the server closed the socket after {i / RATE:.1f} s: {e}")

                sender = threading.Thread(target=send, daemon=True)
                sender.start()
                try:
                    while True:
                        raw = ws.recv(timeout=tail + 120)
                        msg = json.loads(raw)
                        messages.append((time.monotonic(), msg))
                        if _last_clip_final(messages, speech):
                            last_done.set()
                except (ConnectionClosed, TimeoutError):
                    pass
                sender.join(timeout=tail + 60)
            if failed:
                raise RuntimeError(f"{failed[0]}: {_tail(log)}")
            cpu = _proc_cpu(proc.pid) - cpu0
            peak = _proc_peak_rss_mb(proc.pid)
        finally:
            stop_process(proc, 15)
        server_errors = [
            line for line in log.read_text(errors="replace").splitlines() if "ERROR" in line
        ]
    finals, partials, pending = _segments(messages)
    per_clip: list[list[tuple[float, float, str]]] = [[] for _ in spans]
    for arrived, start, end, text in finals:
        per_clip[_clip_of(speech, start, end)].append((arrived, start, text))
    eos, first = [], []
    for (start, end), (onset, offset), fs in zip(spans, speech, per_clip, strict=True):
        if fs:
            eos.append(max(a for a, _, _ in fs) - (t0[0] + offset))
        mine = [a for a, p in partials if start - 0.5 <= p <= end]
        if mine:
            first.append(mine[0] - (t0[0] + onset))
    hyps = [[text for _, _, text in sorted(fs, key=lambda f: f[1])] for fs in per_clip]
    if pending is not None:
        hyps[_clip_of(speech, pending[0], pending[1])].append(pending[2])
    refs = [c.reference for c in chosen]
    texts = [" ".join(t.strip() for t in h) for h in hyps]
    return {
        "system": PEER_NAME,
        "model": f"{PEER_MODEL} (CT2 int8)",
        "setup": f"beam 5, VAD {'on' if vad else 'off'}, {block_ms:g} ms blocks",
        "clips": len(chosen),
        "one_final": sum(len(fs) == 1 for fs in per_clip),
        "eos_median": _pct(eos, 50),
        "eos_p90": _pct(eos, 90),
        "first_partial_median": _pct(first, 50),
        "first_partial_p90": _pct(first, 90),
        "cpu_per_audio_s": cpu / (fed[0] / RATE),
        "wer_stream": corpus_wer(zip(refs, texts, strict=True)),
        "wer_joined": corpus_wer([(" ".join(refs), " ".join(texts))]),
        "peak_rss_mb": peak,
        "tail_s": max(0.0, (fed[0] - len(stream)) / RATE),
        "unfinalized": int(pending is not None),
        "messages": len(messages),
        "server_errors": server_errors[-5:],
        "versions": peer_versions(),
        "hyps": texts,
        "spans": [[round(a, 2), round(b, 2)] for a, b in speech],
        "finals": [[round(a - t0[0], 2), s, e, t] for a, s, e, t in finals],
        "note": "" if pending is None else "last clip not final when the tail ran out",
    }


def _options(vad: bool) -> dict[str, Any]:
    """The first message: WhisperLive's own client's defaults, English, our model path."""
    return {
        "uid": str(uuid.uuid4()),
        "language": "en",
        "task": "transcribe",
        "model": PEER_MODEL,  # the server's custom model path overrides it
        "use_vad": vad,
        "send_last_n_segments": 10,
        "no_speech_thresh": 0.45,
        "clip_audio": False,
        "same_output_threshold": 10,
    }


def _segments(
    messages: Sequence[tuple[float, dict[str, Any]]],
) -> tuple[
    list[tuple[float, float, float, str]],
    list[tuple[float, float]],
    tuple[float, float, str] | None,
]:
    """Completed segments (arrival, start, end, text) at first sight; partials (arrival,
    start); and the last message's pending segment (start, end, text), if any."""
    seen: set[tuple[str, str]] = set()
    finals: list[tuple[float, float, float, str]] = []
    partials: list[tuple[float, float]] = []
    pending: tuple[float, float, str] | None = None
    for arrived, msg in messages:
        segments = msg.get("segments")
        if not segments:
            continue
        for seg in segments:
            key = (seg["start"], seg["text"])
            if seg.get("completed") and key not in seen:
                seen.add(key)
                finals.append((arrived, float(seg["start"]), float(seg["end"]), seg["text"]))
        last = segments[-1]
        pending = None
        if not last.get("completed") and last["text"].strip():
            partials.append((arrived, float(last["start"])))
            pending = (float(last["start"]), float(last["end"]), last["text"])
    return finals, partials, pending


def _last_clip_final(
    messages: Sequence[tuple[float, dict[str, Any]]], speech: Sequence[tuple[float, float]]
) -> bool:
    """Whether the last clip has a completed segment and nothing is pending now."""
    finals, _, pending = _segments(messages[-1:])
    done = any(_clip_of(speech, s, e) == len(speech) - 1 for _, s, e, _ in finals)
    return done and pending is None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The peers benchmark's options."""
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CLIPS)}")
    parser.add_argument("--gap", type=float, default=1.5, help="silence between clips (s)")
    parser.add_argument("--threads", type=int, default=2, help="decode threads of both")
    parser.add_argument(
        "--block-ms", type=float, default=100.0, help="WhisperLive's audio block (ms)"
    )
    parser.add_argument(
        "--tail", type=float, default=20.0, help="most silence sent for the last final (s)"
    )
    parser.add_argument(
        "--vad", action=argparse.BooleanOptionalAction, default=True, help="WhisperLive's VAD"
    )


def run(args: argparse.Namespace) -> list[Row]:
    """livewhisper with default settings, then WhisperLive, on the same clips."""
    clip_ids = list(QUICK_CLIPS) if args.quick else args.clips
    prepare_models([OURS])
    ours = run_isolated(
        "benchmarks.streaming:measure",
        model=OURS,
        variant="",  # the library's defaults
        clip_ids=clip_ids,
        gap=args.gap,
        threads=args.threads,
    )
    ours |= {
        "system": "livewhisper",
        "setup": f"defaults (pause {ours.get('pause')} s), {BLOCK * 1000 // RATE} ms blocks",
        "note": "",
    }
    if not _peer_python().is_file():
        peer: Row = {
            "system": PEER_NAME,
            "note": f"not measured: no {PEER_VENV.relative_to(REPO)} "
            "(run scripts/peer-whisperlive.sh)",
        }
    else:
        try:
            peer = measure_whisperlive(
                clip_ids, args.gap, args.threads, args.block_ms, args.tail, args.vad
            )
        except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as e:
            peer = {"system": PEER_NAME, "note": f"failed: {e}"}
    return [ours, peer]


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    measured = [r for r in rows if r.get("eos_median") is not None]
    if not measured:
        return []
    series = {
        "end of speech -> final, median s": [r["eos_median"] for r in measured],
        "first partial, median s": [r.get("first_partial_median") for r in measured],
        "CPU s per audio s": [r["cpu_per_audio_s"] for r in measured],
        "WER x10": [10 * r["wer_stream"] for r in measured],
    }
    labels = [r["system"] for r in measured]
    title = "Streaming peers on the same clips and weights (lower is better)"
    return [plots.bars(labels, series, "seconds (WER x10)", title, stem.with_suffix(".png"))]


BENCHMARK = Benchmark(
    name="peers",
    description="streaming peers at real-time pace: livewhisper and WhisperLive",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("system", "system"),
        Column("model", "model"),
        Column("setup", "setup"),
        Column("one_final", "one final per clip"),
        Column("clips", "clips"),
        Column("eos_median", "end of speech->final median s", "{:.2f}"),
        Column("eos_p90", "p90 s", "{:.2f}"),
        Column("first_partial_median", "first partial median s", "{:.2f}"),
        Column("first_partial_p90", "p90 s", "{:.2f}"),
        Column("cpu_per_audio_s", "CPU s per audio s", "{:.2f}"),
        Column("wer_stream", "WER stream", "{:.1%}"),
        Column("wer_joined", "WER whole stream", "{:.1%}"),
        Column("peak_rss_mb", "peak RSS MB", "{:.0f}"),
        Column("note", "note"),
    ),
    notes=(
        "Same clips, same 1.5 s gaps, same tiny.en weights (livewhisper: whisper.cpp q8_0; "
        "WhisperLive: CTranslate2 int8), 2 threads each (WhisperLive via OMP_NUM_THREADS).",
        "CPU and peak RSS are of the process that transcribes: livewhisper's (it also feeds "
        "the audio), WhisperLive's server (its imports include torch).",
        "WhisperLive gets silence after the last clip until that clip is final; its CPU "
        "is per second of all audio sent, that silence included.",
        "WER stream is per clip, as in the streaming benchmark; WER whole stream scores "
        "WhisperLive's text as one string, since its segments can span clips.",
    ),
    plot=_plot,
)
