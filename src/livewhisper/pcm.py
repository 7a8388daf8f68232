"""16-bit PCM, the sample format of WebRTC's VAD and of every wire protocol livewhisper
speaks: numpy only, so the pure rules can use it without loading any audio library."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["to_pcm16"]


def to_pcm16(samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
    """Float samples (-1..1, any shape) as 16-bit PCM of the same shape, little-endian:
    clipped first (an out-of-range float would wrap around to the opposite sign), then
    scaled by 32767 and rounded to the nearest step (truncating would bias every sample
    toward zero by half a step).

    Example:
        >>> to_pcm16([0.0, 0.5, -1.5, 1.0]).tolist()
        [0, 16384, -32767, 32767]
    """
    scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * np.float32(32767.0)
    pcm: npt.NDArray[np.int16] = np.rint(scaled).astype("<i2")
    return pcm
