"""How many CPU cores other programs leave free, so decodes do not fight them for cores.

whisper.cpp splits each decode over ``n_threads`` threads that meet at a barrier after
every layer; when another program holds a core, the thread waiting there spins and the
decode runs several times slower than on one thread (tiny.en, 11 s of speech, full
context, 2 cores with one busy process: 13.1 s on 2 threads against 2.5 s on 1;
benchmarks/engine.py has the measurements). :func:`free_cores` measures, from Linux's
``/proc/stat``, how much of the machine other processes used in an interval, so that an
engine can take the cores left idle.

Example::

    before = sample()
    ...                                   # anything
    after = sample()
    if before and after:
        print(f"{free_cores(before, after, os.cpu_count() or 1):.1f} cores free")
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuSample", "free_cores", "sample"]

_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds spent busy by the whole machine (all cores) and by this process, at
    wall-clock time ``at`` (``time.monotonic()``)."""

    machine_busy: float
    own: float
    at: float


def sample() -> CpuSample | None:
    """A reading now; None where ``/proc/stat`` cannot be read (not Linux)."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    own = os.times()
    return CpuSample(busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic())


def free_cores(before: CpuSample, after: CpuSample, cores: int) -> float:
    """Cores that processes other than this one left idle between two readings, from 0
    to ``cores``; ``cores`` when the readings are too close together to tell (under
    0.05 s, the kernel's counters tick every 10 ms).

    Example: over one second in which the machine was busy for 1.6 CPU-seconds, 0.6 of
    them this process's, ``free_cores(a, b, 2)`` is 1.0.
    """
    wall = after.at - before.at
    if wall < 0.05:
        return float(cores)
    others = (after.machine_busy - before.machine_busy - (after.own - before.own)) / wall
    return min(float(cores), max(0.0, cores - others))
