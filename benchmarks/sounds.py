"""Sounds that are not speech, made with numpy, and short spoken replies from espeak-ng.

What users' recordings hold between and instead of words: fans and rumble (brown noise),
hiss (white), the 1/f noise of rooms and tape (pink), mains hum, keyboards, and music.
Each maker returns 16 kHz mono float32 at an RMS level in dBFS, seeded, so a test and a
benchmark hear the same sound every run.

Example::

    from benchmarks.sounds import NOISE_KINDS, noise
    audio = noise("brown", seconds=30.0, level=-14.0)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

SAMPLE_RATE = 16_000

Audio = npt.NDArray[np.float32]

REPLIES = (
    "Thank you.",
    "Thanks.",
    "Bye.",
    "Thank you very much.",
    "Yes.",
    "Okay.",
    "No, thanks.",
    "Bye-bye.",
)
"""Short replies people say and Whisper also writes over silence (issue 19, item 6)."""


def at_level(audio: npt.ArrayLike, level: float) -> Audio:
    """``audio`` scaled to an RMS of ``level`` dBFS (full scale = 1.0), clipped to [-1, 1]."""
    samples = np.asarray(audio, dtype=np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    scaled = samples * (10 ** (level / 20) / rms)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def gain(audio: npt.ArrayLike, db: float) -> Audio:
    """``audio`` made ``db`` decibels louder (negative: quieter), as ``sox gain`` does."""
    scaled = np.asarray(audio, dtype=np.float64) * 10 ** (db / 20)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def _coloured(seconds: float, exponent: float, rng: np.random.Generator) -> Audio:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown) above 20 Hz
    and is flat below (a fan or a room, not a drifting DC offset)."""
    n = round(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    spectrum *= freqs ** (-exponent / 2)
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n).astype(np.float32)


def hum(seconds: float, rng: np.random.Generator, mains: float = 50.0) -> Audio:
    """Mains hum: ``mains`` Hz and its harmonics up to 1 kHz, odd ones strongest (a
    transformer or a ground loop), with a little hiss."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = np.zeros_like(t)
    for k in range(1, int(1000 / mains) + 1):
        weight = (1.0 if k % 2 else 0.4) / k
        out += weight * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    out += 0.01 * rng.standard_normal(t.size)
    return out.astype(np.float32)


def clicks(seconds: float, rng: np.random.Generator) -> Audio:
    """Typing: key clicks (a few ms of decaying filtered noise) at 4 to 10 per second,
    in bursts, with the thud of the key bottoming out."""
    n = round(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    t = 0.2
    while t < seconds - 0.1:
        start = round(t * SAMPLE_RATE)
        length = rng.integers(80, 400)
        click = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5))
        thud = np.sin(2 * np.pi * rng.uniform(120, 300) * np.arange(480) / SAMPLE_RATE)
        thud *= np.exp(-np.arange(480) / 80) * 0.5
        out[start : start + length] += click * rng.uniform(0.5, 1.0)
        out[start : start + 480] += thud[: min(480, n - start)]
        # Words of a few keys, then a gap between words or sentences.
        t += rng.uniform(0.08, 0.25) if rng.random() < 0.8 else rng.uniform(0.4, 1.5)
    return out.astype(np.float32)


def music(seconds: float, rng: np.random.Generator) -> Audio:
    """Instrumental music: a chord progression in a piano-like voice (harmonics with
    decaying envelopes), a bass line and a melody of eighth notes, at 100 to 130 bpm."""
    n = round(seconds * SAMPLE_RATE)
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(100, 130)
    root = 220.0 * 2 ** (rng.integers(-5, 5) / 12)
    # I-V-vi-IV and friends, in semitones above the root.
    chords = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12), (2, 5, 9)]
    scale = (0, 2, 4, 5, 7, 9, 11, 12)

    def note(freq: float, at: float, length: float, loud: float, bright: int) -> None:
        a = round(at * SAMPLE_RATE)
        m = min(round(length * SAMPLE_RATE), n - a)
        if m <= 0:
            return
        t = np.arange(m) / SAMPLE_RATE
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / (0.3 * length + 0.05))
        tone = (
            sum(np.sin(2 * np.pi * freq * h * t) / h**1.5 for h in range(1, bright + 1)) * envelope
        )
        out[a : a + m] += loud * tone

    t = 0.0
    while t < seconds:
        chord = chords[rng.integers(len(chords))]
        for semitone in chord:
            note(root * 2 ** (semitone / 12), t, 4 * beat, 0.3, 6)
        note(root / 2 * 2 ** (chord[0] / 12), t, 2 * beat, 0.5, 4)
        note(root / 2 * 2 ** (chord[0] / 12), t + 2 * beat, 2 * beat, 0.5, 4)
        for eighth in range(8):
            if rng.random() < 0.8:
                pitch = 12 + scale[rng.integers(len(scale))]
                note(root * 2 ** (pitch / 12), t + eighth * beat / 2, beat / 2, 0.25, 8)
        t += 4 * beat
    return out.astype(np.float32)


_MAKERS: dict[str, Callable[[float, np.random.Generator], Audio]] = {
    "white": lambda s, rng: _coloured(s, 0.0, rng),
    "pink": lambda s, rng: _coloured(s, 1.0, rng),
    "brown": lambda s, rng: _coloured(s, 2.0, rng),
    "hum50": lambda s, rng: hum(s, rng, 50.0),
    "hum60": lambda s, rng: hum(s, rng, 60.0),
    "keyboard": clicks,
    "music": music,
}

NOISE_KINDS = tuple(_MAKERS)
"""The kinds :func:`noise` makes."""


def noise(kind: str, seconds: float = 20.0, level: float = -20.0, seed: int = 19) -> Audio:
    """``seconds`` of non-speech sound ``kind`` (one of :data:`NOISE_KINDS`) at an RMS of
    ``level`` dBFS. Raises ValueError for an unknown kind.

    Example: ``noise("hum60", 10.0, level=-30.0)``.
    """
    if kind not in _MAKERS:
        raise ValueError(f"unknown noise kind {kind!r}; known: {', '.join(NOISE_KINDS)}")
    return at_level(_MAKERS[kind](seconds, np.random.default_rng(seed)), level)


def spoken(text: str, voice: str = "en-us", speed: int = 150) -> Audio:
    """``text`` spoken by espeak-ng, 16 kHz mono float32. Raises RuntimeError when
    espeak-ng is not installed (``apt-get install espeak-ng``)."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is needed to speak test phrases: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory(prefix="livewhisper-speak-") as folder:
        path = Path(folder) / "spoken.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        data, rate = soundfile.read(str(path), dtype="float32")
    if data.ndim > 1:
        data = data.mean(axis=1)
    return np.ascontiguousarray(soxr.resample(data, rate, SAMPLE_RATE), dtype=np.float32)
