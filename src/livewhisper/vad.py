"""Voice activity detection: one frame of 16 kHz audio in, speech or not out.

A thin, typed wrapper around WebRTC's VAD (``webrtcvad``). It decides frame by frame and
keeps no memory of its own beyond WebRTC's internal noise estimate; smoothing those
decisions into utterances is the job of :mod:`livewhisper.segmenter`.

Example::

    detector = SpeechDetector(VadConfig(aggressiveness=2, frame_ms=30))
    n = detector.frame_samples  # 480
    flags = [detector.is_speech(audio[i : i + n]) for i in range(0, len(audio) - n + 1, n)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

from livewhisper.errors import AudioError, ConfigError

__all__ = ["SAMPLE_RATE", "SpeechDetector", "VadConfig"]

SAMPLE_RATE = 16_000
"""The only sample rate livewhisper's VAD accepts (Whisper's own rate)."""

_FRAME_MS = (10, 20, 30)


@dataclass(frozen=True)
class VadConfig:
    """How eager the voice activity detector is, and how long its frames are.

    ``aggressiveness`` is WebRTC's mode, 0 (lets most sounds count as speech) to 3
    (strict about what counts as speech). The default 3 hears the end of speech soonest:
    at 2, breath and reverb after the last word counted as speech for up to 0.65 s more
    on the shared clips, which delays every final by as much. Soft onsets it misses are
    kept by the segmenter's pre-roll.
    ``frame_ms`` is the frame length WebRTC supports: 10, 20 or 30 ms; 30 ms gives the
    steadiest decisions for the least CPU.

    Example::

        VadConfig()                   # aggressiveness=3, frame_ms=30
        VadConfig(aggressiveness=2)   # a quiet speaker in a quiet room
        VadConfig(frame_ms=25)        # raises ConfigError
    """

    aggressiveness: int = 3
    frame_ms: int = 30

    def __post_init__(self) -> None:
        # bool is an int subclass; True as an aggressiveness is a bug, not a mode.
        if (
            isinstance(self.aggressiveness, bool)
            or not isinstance(self.aggressiveness, int)
            or not 0 <= self.aggressiveness <= 3
        ):
            raise ConfigError(
                f"VadConfig.aggressiveness must be an integer from 0 (lenient) to 3 (strict), "
                f"got {self.aggressiveness!r}"
            )
        if isinstance(self.frame_ms, bool) or self.frame_ms not in _FRAME_MS:
            raise ConfigError(
                f"VadConfig.frame_ms must be 10, 20 or 30 (the frame lengths WebRTC VAD "
                f"supports), got {self.frame_ms!r}"
            )

    @property
    def frame_samples(self) -> int:
        """Samples in one frame at 16 kHz: 160, 320 or 480."""
        return SAMPLE_RATE * self.frame_ms // 1000


class SpeechDetector:
    """Classifies single frames of 16 kHz mono float audio as speech or not.

    Frames must be exactly :attr:`frame_samples` long, float samples in [-1, 1] (values
    beyond are clipped). One detector per stream: WebRTC adapts to the stream's noise
    floor, so sharing a detector between streams blurs both.

    Example::

        detector = SpeechDetector()
        silence = np.zeros(detector.frame_samples, dtype=np.float32)
        detector.is_speech(silence)  # False
    """

    def __init__(self, config: VadConfig | None = None) -> None:
        self._config = config if config is not None else VadConfig()
        self._vad = webrtcvad.Vad(self._config.aggressiveness)

    @property
    def config(self) -> VadConfig:
        """The configuration this detector was made with."""
        return self._config

    @property
    def frame_samples(self) -> int:
        """The number of samples :meth:`is_speech` expects in a frame (480 for 30 ms)."""
        return self._config.frame_samples

    def is_speech(self, frame: npt.ArrayLike) -> bool:
        """Whether this frame of float32 16 kHz mono samples contains speech.

        Raises :class:`~livewhisper.errors.AudioError` if the frame is not one-dimensional,
        not :attr:`frame_samples` long, or contains NaN or infinity.

        Example::

            detector.is_speech(audio[0:480])  # True or False
        """
        samples = np.asarray(frame, dtype=np.float32)
        n = self.frame_samples
        if samples.ndim != 1 or samples.shape[0] != n:
            raise AudioError(
                f"a VAD frame must be {n} mono samples ({self._config.frame_ms} ms at "
                f"{SAMPLE_RATE} Hz), got an array of shape {samples.shape}"
            )
        if not np.isfinite(samples).all():
            raise AudioError("a VAD frame contains NaN or infinite samples")
        return bool(self._vad.is_speech(_to_pcm16(samples), SAMPLE_RATE))


def _to_pcm16(samples: npt.NDArray[np.float32]) -> bytes:
    # Clip first: out-of-range floats would wrap around in int16 and turn a loud
    # frame into noise bursts of the opposite sign.
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    pcm: bytes = np.rint(scaled).astype("<i2").tobytes()
    return pcm
