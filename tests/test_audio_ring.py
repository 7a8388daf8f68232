"""RingBuffer: order under threads, overflow accounting, timeouts and close."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import deadline, wait_until

from livewhisper.audio import RingBuffer
from livewhisper.errors import AudioError, ConfigError


def test_threaded_producer_consumer_keeps_every_sample_in_order() -> None:
    total = 400_000  # exact in float32 (below 2**24)
    ring = RingBuffer(4096)
    sizes = np.random.default_rng(1).integers(1, 700, size=10_000)
    received: list[np.ndarray] = []
    written = 0

    def consume() -> None:
        while (block := ring.read(512, timeout=5.0)) is not None:
            received.append(block)

    consumer = threading.Thread(target=consume, name="test-consumer")
    consumer.start()
    give_up = time.monotonic() + deadline(20)
    pos = 0
    for size in sizes:
        if pos >= total:
            break
        block = np.arange(pos, min(pos + size, total), dtype=np.float32)
        # The producer waits for room itself: the ring never blocks a writer.
        stored = 0
        while stored < len(block):
            n = ring.write(block[stored:])
            stored += n
            if n == 0:
                assert consumer.is_alive() and time.monotonic() < give_up
                time.sleep(0.0005)
        written += stored
        pos += len(block)
    ring.close()
    consumer.join(timeout=deadline(10))
    assert not consumer.is_alive()

    # Partial writes count as overflow; what matters here is that what was stored arrives.
    out = np.concatenate(received)
    assert written == total
    np.testing.assert_array_equal(out, np.arange(total, dtype=np.float32))
    assert len(received) > 10  # the reader really ran concurrently


def test_threaded_stereo_frames_stay_whole() -> None:
    ring = RingBuffer(1000, channels=2)
    frames = np.stack([np.arange(50_000), -np.arange(50_000)], axis=1).astype(np.float32)
    out: list[np.ndarray] = []

    def consume() -> None:
        while (block := ring.read(333, timeout=5.0)) is not None:
            out.append(block)

    reader = threading.Thread(target=consume, name="test-consumer")
    reader.start()
    give_up = time.monotonic() + deadline(20)
    for start in range(0, len(frames), 250):
        while ring.available > 700:  # stay under capacity so nothing is dropped
            assert reader.is_alive() and time.monotonic() < give_up
            time.sleep(0.0005)
        assert ring.write(frames[start : start + 250]) == 250
    ring.close()
    reader.join(timeout=deadline(10))
    result = np.concatenate(out)
    assert result.shape == frames.shape
    np.testing.assert_array_equal(result, frames)
    assert ring.overflow_frames == 0


def test_overflow_drops_new_data_and_counts_it() -> None:
    ring = RingBuffer(100)
    assert ring.write(np.arange(80, dtype=np.float32)) == 80
    assert ring.write(np.arange(80, 130, dtype=np.float32)) == 20
    assert ring.write(np.ones(5, dtype=np.float32)) == 0
    assert ring.available == 100
    assert ring.overflow_frames == 30 + 5
    assert ring.overflows == 2
    # The oldest audio is kept: the first 100 samples, in order.
    out = ring.read(1000, timeout=0)
    assert out is not None
    np.testing.assert_array_equal(out, np.arange(100, dtype=np.float32))
    # Room again after reading.
    assert ring.write(np.zeros(10, dtype=np.float32)) == 10
    assert ring.overflows == 2


def test_wraparound() -> None:
    ring = RingBuffer(10)
    ring.write(np.arange(7, dtype=np.float32))
    assert ring.read(5, timeout=0) is not None
    ring.write(np.arange(7, 15, dtype=np.float32))  # wraps past the end of storage
    out = ring.read(100, timeout=0)
    assert out is not None
    np.testing.assert_array_equal(out, np.arange(5, 15, dtype=np.float32))


def test_read_returns_at_most_max_samples() -> None:
    ring = RingBuffer(10)
    ring.write(np.arange(6, dtype=np.float32))
    first = ring.read(4, timeout=0)
    assert first is not None and first.tolist() == [0, 1, 2, 3]
    assert ring.available == 2


def test_read_timeout_returns_empty() -> None:
    ring = RingBuffer(10, channels=2)
    start = time.monotonic()
    out = ring.read(5, timeout=0.1)
    elapsed = time.monotonic() - start
    assert out is not None and out.shape == (0, 2) and out.dtype == np.float32
    assert elapsed >= 0.09  # it waited out its timeout, however late it was woken


def test_read_wakes_on_write() -> None:
    ring = RingBuffer(10)
    result: list[object] = []
    # No timeout: only the write can end this read.
    reader = threading.Thread(target=lambda: result.append(ring.read(10, timeout=None)))
    reader.start()
    wait_until(lambda: len(ring._cond._waiters) == 1, 10, "the reader to block")  # type: ignore[attr-defined]
    ring.write(np.ones(3, dtype=np.float32))
    reader.join(timeout=deadline(60))
    woken = not reader.is_alive()
    ring.close()  # frees a reader that was not woken, so that the test ends either way
    assert woken, "the write did not wake the blocked read"
    assert len(result) == 1 and len(result[0]) == 3  # type: ignore[arg-type]


def test_close_wakes_blocked_reader() -> None:
    ring = RingBuffer(10)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(ring.read(10, timeout=deadline(60))))
    reader.start()
    # Really blocked: inside the ring's Condition.wait (CPython keeps a lock per waiter).
    wait_until(lambda: len(ring._cond._waiters) == 1, 10, "the reader to block")  # type: ignore[attr-defined]
    ring.close()
    reader.join(timeout=deadline(60))
    assert not reader.is_alive()
    assert result == [None]  # woken by close: a timeout would have given an empty block


def test_close_drains_then_none() -> None:
    ring = RingBuffer(10)
    ring.write(np.ones(4, dtype=np.float32))
    ring.close()
    assert ring.write(np.ones(4, dtype=np.float32)) == 0  # ignored, not an overflow
    assert ring.overflow_frames == 0
    out = ring.read(10, timeout=0)
    assert out is not None and len(out) == 4
    assert ring.read(10, timeout=1.0) is None


def test_clear() -> None:
    ring = RingBuffer(10)
    ring.write(np.ones(4, dtype=np.float32))
    assert ring.clear() == 4
    assert ring.available == 0


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        RingBuffer(0)
    with pytest.raises(ConfigError):
        RingBuffer(10, channels=0)
    ring = RingBuffer(10, channels=2)
    with pytest.raises(AudioError, match=r"shape \(n, 2\)"):
        ring.write(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError):
        ring.read(0, timeout=0)
