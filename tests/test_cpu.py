"""Free cores from /proc/stat: the pure arithmetic, then a real busy process."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
from conftest import deadline

from livewhisper.cpu import CpuSample, free_cores, sample


def test_free_cores_subtracts_what_this_process_used() -> None:
    before = CpuSample(machine_busy=100.0, own=10.0, at=50.0)
    after = CpuSample(machine_busy=101.6, own=10.6, at=51.0)
    assert free_cores(before, after, 2) == pytest.approx(1.0)
    # Clamped to [0, cores]; readings too close together tell nothing.
    assert free_cores(before, CpuSample(104.0, 10.0, 51.0), 2) == 0.0
    assert free_cores(before, CpuSample(100.0, 10.5, 51.0), 2) == 2.0
    assert free_cores(before, CpuSample(101.0, 10.0, 50.01), 2) == 2.0


def _spin(
    started: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    started.set()
    while not stop.is_set():
        pass


def _cpu_seconds(pid: int) -> float:
    """User and system time of process ``pid`` so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_busy_process_takes_a_core_away() -> None:
    # Whatever else the machine runs, the cores the spinner used are not free: compared
    # with its own CPU time over the same window, not with a quiet moment that the rest of
    # the machine may not repeat.
    assert sample() is not None  # Linux
    started, stop = multiprocessing.Event(), multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(started, stop))
    spinner.start()
    assert spinner.pid is not None
    try:
        assert started.wait(deadline(30))
        before = sample()
        spun_before = _cpu_seconds(spinner.pid)
        time.sleep(1.0)  # the window measured
        spun = _cpu_seconds(spinner.pid) - spun_before
        after = sample()
    finally:
        stop.set()
        spinner.join(deadline(10))
    assert before is not None and after is not None
    used = spun / (after.at - before.at)  # cores the spinner took, inside the window
    free = free_cores(before, after, 2)
    assert used > 0.1, used  # it did spin
    assert free <= 2 - used + 0.1, (used, free)
