"""Streaming conversion of audio (any rate, 1 or more channels) to 16 kHz mono.

The one resampler of livewhisper: microphones, pushed streams (protocol 1, Wyoming,
OpenAI Realtime) and decoded files all go through it, so the same samples reach the
model the same way whatever carried them.

Example::

    resampler = StreamResampler(in_rate=48000, channels=2)
    for block in blocks:                 # (n, 2) float32 arrays at 48 kHz
        out = resampler.process(block)   # 1-D float32 at 16 kHz, about n / 3 samples
    tail = resampler.flush()
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import soxr

from livewhisper.errors import AudioError

__all__ = ["SAMPLE_RATE", "AudioArray", "StreamResampler", "check_sample_rate"]

SAMPLE_RATE = 16000
"""The sample rate Whisper works at, and so of every array livewhisper hands on."""

AudioArray: TypeAlias = npt.NDArray[np.float32]
"""A 1-D float32 array of samples, nominally in [-1, 1]."""


class StreamResampler:
    """Downmix blocks to mono and resample them to 16 kHz, with no seams between blocks.

    Channels are averaged first so the resampler works on one channel instead of several.
    soxr keeps its filter state between calls, so a signal cut into blocks of any size
    comes out as if resampled in one piece (delayed by the filter's latency, a few ms, and
    with the last samples held back until :meth:`flush`). When the input is already
    16 kHz, blocks are only downmixed and copied.

    Example::

        >>> r = StreamResampler(44100, channels=2)
        >>> out = r.process(np.zeros((4410, 2), dtype=np.float32))
        >>> out.dtype, out.ndim
        (dtype('float32'), 1)
        >>> total = len(out) + len(r.flush())   # 0.1 s in, 0.1 s out
        >>> total
        1600
    """

    def __init__(self, in_rate: float, channels: int = 1) -> None:
        self._in_rate = check_sample_rate(in_rate)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise AudioError(f"channels must be a positive integer, got {channels!r}")
        self._channels = channels
        self._stream = self._new_stream()

    @property
    def in_rate(self) -> float:
        """The sample rate of the blocks given to :meth:`process`."""
        return self._in_rate

    @property
    def channels(self) -> int:
        """The number of channels of the blocks given to :meth:`process`."""
        return self._channels

    def process(self, block: npt.ArrayLike) -> AudioArray:
        """Return the 16 kHz mono samples that ``block`` completes (possibly none).

        ``block`` is ``(n, channels)``, or ``(n,)`` for one channel; it is converted to
        float32. The output is a new array, never a view of ``block``.

        Example::

            >>> StreamResampler(16000).process(np.ones(3, dtype=np.float32))
            array([1., 1., 1.], dtype=float32)
        """
        mono = self._downmix(block)
        if self._stream is None:
            # The identity path copies so that callers may keep the block (a ring buffer's
            # or PortAudio's memory) from being aliased by what we return.
            return mono.copy()
        if mono.size == 0:
            return np.zeros(0, dtype=np.float32)
        out = self._stream.resample_chunk(mono)
        return np.ascontiguousarray(out, dtype=np.float32)

    def flush(self) -> AudioArray:
        """Return the samples held back by the filter, and start a new stream.

        Call it at the end of the input; the next :meth:`process` starts afresh.

        Example::

            >>> r = StreamResampler(48000)
            >>> n = len(r.process(np.zeros(4800, dtype=np.float32))) + len(r.flush())
            >>> n
            1600
        """
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream = self._new_stream()
        return np.ascontiguousarray(tail, dtype=np.float32)

    def _new_stream(self) -> soxr.ResampleStream | None:
        if self._in_rate == SAMPLE_RATE:
            return None
        return soxr.ResampleStream(self._in_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")

    def _downmix(self, block: npt.ArrayLike) -> AudioArray:
        array = np.asarray(block, dtype=np.float32)
        if array.ndim == 1 and self._channels == 1:
            return np.ascontiguousarray(array)
        if array.ndim != 2 or array.shape[1] != self._channels:
            raise AudioError(
                f"expected blocks of shape (n, {self._channels}), got shape {array.shape}"
            )
        if self._channels == 1:
            return np.ascontiguousarray(array[:, 0])
        return np.ascontiguousarray(array.mean(axis=1, dtype=np.float32))


def check_sample_rate(sample_rate: float) -> float:
    """Return ``sample_rate`` as a float, or raise :class:`AudioError` if it is not positive.

    Example::

        >>> check_sample_rate(44100)
        44100.0
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.number)):
        raise AudioError(f"sample rate must be a number, got {sample_rate!r}")
    rate = float(sample_rate)
    if not math.isfinite(rate) or rate <= 0:
        raise AudioError(f"sample rate must be a positive number of Hz, got {sample_rate!r}")
    return rate
