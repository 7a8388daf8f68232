"""A bounded, thread-safe FIFO of audio frames between a producer that must never wait
(an audio callback) and a consumer that waits with a timeout.

Example::

    ring = RingBuffer(capacity_samples=16000 * 30)
    ring.write(block)                                  # in the audio callback
    chunk = ring.read(max_samples=16000, timeout=0.5)  # in the worker thread
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from livewhisper.errors import AudioError, ConfigError

__all__ = ["RingBuffer"]


class RingBuffer:
    """A fixed-size FIFO of float32 frames of ``channels`` samples each.

    :meth:`write` never blocks. When the buffer is full, the frames that do not fit are
    dropped and counted in :attr:`overflow_frames` (and the event in :attr:`overflows`):
    the audio already buffered is kept. For a microphone this keeps what was said first
    intact, so a consumer that falls behind loses a tail it can report rather than gaps
    scattered through audio it has not read yet; the capacity is meant to be large (tens
    of seconds) so that this only happens when the consumer has stalled.

    :meth:`read` waits on a condition variable (no polling) for up to ``timeout`` seconds.
    After :meth:`close`, readers drain what is left and then get ``None``.

    Example::

        >>> ring = RingBuffer(4)
        >>> ring.write(np.array([1, 2, 3], dtype=np.float32))
        3
        >>> ring.write(np.array([4, 5], dtype=np.float32))   # only 4 fits; 5 is dropped
        1
        >>> ring.read(10, timeout=0)
        array([1., 2., 3., 4.], dtype=float32)
        >>> ring.overflow_frames, ring.overflows
        (1, 1)
    """

    def __init__(self, capacity_samples: int, channels: int = 1) -> None:
        if not _is_positive_int(capacity_samples):
            raise ConfigError(f"capacity_samples must be a positive int, got {capacity_samples!r}")
        if not _is_positive_int(channels):
            raise ConfigError(f"channels must be a positive int, got {channels!r}")
        self._capacity = int(capacity_samples)
        self._channels = int(channels)
        self._data = np.zeros((self._capacity, self._channels), dtype=np.float32)
        self._start = 0  # index of the oldest frame
        self._size = 0
        self._closed = False
        self._overflow_frames = 0
        self._overflows = 0
        self._cond = threading.Condition(threading.Lock())

    @property
    def capacity(self) -> int:
        """The most frames the buffer holds."""
        return self._capacity

    @property
    def channels(self) -> int:
        """Samples per frame."""
        return self._channels

    @property
    def available(self) -> int:
        """Frames written and not yet read."""
        with self._cond:
            return self._size

    @property
    def overflow_frames(self) -> int:
        """Frames dropped because the buffer was full (at the rate of whatever was written;
        a :class:`~livewhisper.audio.Microphone` converts its count to 16 kHz samples)."""
        with self._cond:
            return self._overflow_frames

    @property
    def overflows(self) -> int:
        """Number of writes that dropped frames."""
        with self._cond:
            return self._overflows

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        with self._cond:
            return self._closed

    def write(self, block: npt.ArrayLike) -> int:
        """Append the frames of ``block`` and return how many were stored.

        ``block`` is ``(n, channels)``, or ``(n,)`` when ``channels == 1``. Never blocks:
        frames beyond the free space are dropped and counted. After :meth:`close`, writes
        store nothing and return 0 (an audio callback may still fire while the stream
        stops; that is not an overflow).

        Example::

            >>> RingBuffer(8, channels=2).write(np.zeros((5, 2), dtype=np.float32))
            5
        """
        frames = np.asarray(block, dtype=np.float32)
        if frames.ndim == 1 and self._channels == 1:
            frames = frames[:, np.newaxis]
        if frames.ndim != 2 or frames.shape[1] != self._channels:
            raise AudioError(
                f"expected a block of shape (n, {self._channels}), got shape {frames.shape}"
            )
        n = int(frames.shape[0])
        with self._cond:
            if self._closed:
                return 0
            stored = min(n, self._capacity - self._size)
            if stored < n:
                self._overflow_frames += n - stored
                self._overflows += 1
            if stored == 0:
                return 0
            end = (self._start + self._size) % self._capacity
            first = min(stored, self._capacity - end)
            self._data[end : end + first] = frames[:first]
            self._data[: stored - first] = frames[first:stored]
            self._size += stored
            self._cond.notify_all()
            return stored

    def read(self, max_samples: int, timeout: float | None) -> npt.NDArray[np.float32] | None:
        """Remove and return up to ``max_samples`` of the oldest frames.

        Returns as soon as any frame is available, waiting up to ``timeout`` seconds
        (``None``: until data arrives or the buffer is closed). The result is a new array
        of shape ``(n,)`` for one channel or ``(n, channels)``; it is empty when the
        timeout expired with nothing written, and ``None`` once the buffer is closed and
        drained.

        Example::

            >>> ring = RingBuffer(16)
            >>> ring.read(4, timeout=0.01).size    # nothing written: empty after 10 ms
            0
            >>> ring.close(); print(ring.read(4, timeout=1))
            None
        """
        if max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {max_samples}")
        with self._cond:
            self._cond.wait_for(lambda: self._size > 0 or self._closed, timeout)
            if self._size == 0:
                if self._closed:
                    return None
                return self._shape(np.zeros((0, self._channels), dtype=np.float32))
            n = min(max_samples, self._size)
            first = min(n, self._capacity - self._start)
            out = np.empty((n, self._channels), dtype=np.float32)
            out[:first] = self._data[self._start : self._start + first]
            out[first:] = self._data[: n - first]
            self._start = (self._start + n) % self._capacity
            self._size -= n
            return self._shape(out)

    def clear(self) -> int:
        """Drop every buffered frame (not counted as overflow) and return how many.

        Example::

            >>> ring = RingBuffer(4); ring.write(np.ones(3, dtype=np.float32))
            3
            >>> ring.clear(), ring.available
            (3, 0)
        """
        with self._cond:
            dropped = self._size
            self._start = 0
            self._size = 0
            return dropped

    def close(self) -> None:
        """Stop accepting frames and wake every waiting reader. Idempotent.

        Example::

            >>> ring = RingBuffer(4); ring.close(); ring.closed
            True
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _shape(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return frames[:, 0] if self._channels == 1 else frames


def _is_positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= 1)
