"""Free cores from /proc/stat: the pure arithmetic, then a real busy process."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from livewhisper.cpu import CpuSample, free_cores, sample


def test_free_cores_subtracts_what_this_process_used() -> None:
    before = CpuSample(machine_busy=100.0, own=10.0, at=50.0)
    after = CpuSample(machine_busy=101.6, own=10.6, at=51.0)
    assert free_cores(before, after, 2) == pytest.approx(1.0)
    # Clamped to [0, cores]; readings too close together tell nothing.
    assert free_cores(before, CpuSample(104.0, 10.0, 51.0), 2) == 0.0
    assert free_cores(before, CpuSample(100.0, 10.5, 51.0), 2) == 2.0
    assert free_cores(before, CpuSample(101.0, 10.0, 50.01), 2) == 2.0


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        pass


def test_a_busy_process_takes_a_core_away() -> None:
    first = sample()
    assert first is not None  # Linux
    time.sleep(0.3)
    quiet = free_cores(first, sample() or first, 2)
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,))
    spinner.start()
    try:
        time.sleep(0.2)
        start = sample()
        time.sleep(1.0)
        busy = free_cores(start or first, sample() or first, 2)
    finally:
        stop.set()
        spinner.join(10)
    # Whatever else the machine runs, one more spinning process leaves less free.
    assert busy <= max(0.0, quiet - 0.5) + 0.3, (quiet, busy)
