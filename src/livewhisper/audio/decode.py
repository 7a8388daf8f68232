"""Audio in the one form the rest of livewhisper uses: mono float32 at 16 kHz.

:func:`load_audio` reads a file; :func:`as_mono_float32` validates and converts an array
handed to us by a caller. Both raise :class:`~livewhisper.errors.AudioError` with a message
that names the problem.

Example::

    from livewhisper.audio import SAMPLE_RATE, load_audio

    audio = load_audio("meeting.flac")
    print(f"{len(audio) / SAMPLE_RATE:.1f} s")
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from livewhisper.errors import AudioError, DecodeCancelled

__all__ = [
    "SAMPLE_RATE",
    "AudioArray",
    "as_mono_float32",
    "audio_duration",
    "check_sample_rate",
    "load_audio",
    "read_audio",
    "to_mono_float32",
]

SAMPLE_RATE = 16000
"""The sample rate Whisper works at, and so of every array livewhisper hands on."""

AudioArray: TypeAlias = npt.NDArray[np.float32]
"""A 1-D float32 array of samples, nominally in [-1, 1]."""

# Integer PCM is scaled by the magnitude of its most negative value, the convention of
# soundfile and of WAV readers in general, so that full scale maps to [-1, 1).
_INT_SCALES = {np.dtype(np.int16): 1.0 / 32768.0, np.dtype(np.int32): 1.0 / 2147483648.0}
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# No real recording has more channels than this; a wider array is almost always a
# channels-first (channels, n) array passed by mistake.
_MAX_CHANNELS = 64
# read_audio decodes this many seconds of the original at a time.
_BLOCK_SECONDS = 30

AudioFile: TypeAlias = "str | os.PathLike[str] | IO[bytes]"


def load_audio(path: str | os.PathLike[str]) -> AudioArray:
    """Read an audio file (wav, flac, ogg, mp3, ...) as mono float32 samples at 16 kHz.

    Channels are averaged and the audio resampled with soxr when the file is at another
    rate. Raises :class:`AudioError` naming the file when it is missing, is not audio
    that libsndfile can read, or holds no samples.

    Example::

        >>> audio = load_audio("examples/jfk.wav")
        >>> audio.dtype, audio.ndim, round(len(audio) / SAMPLE_RATE, 1)
        (dtype('float32'), 1, 11.0)
    """
    file = Path(path)
    if not file.exists():
        raise AudioError(f"audio file not found: {file}")
    if file.is_dir():
        raise AudioError(f"{file} is a directory, not an audio file")
    try:
        data, rate = soundfile.read(file, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise AudioError(
            f"cannot read {file} as audio ({exc}); supported formats are those of libsndfile "
            "(wav, flac, ogg, mp3, ...): convert others first, e.g. "
            f"`ffmpeg -i '{file}' -ar 16000 -ac 1 out.wav`"
        ) from exc
    except OSError as exc:
        raise AudioError(f"cannot open {file}: {exc.strerror or exc}") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{file} contains no audio samples")
    try:
        return as_mono_float32(data, rate)
    except AudioError as exc:
        raise AudioError(f"{file}: {exc}") from exc


def as_mono_float32(samples: npt.ArrayLike, sample_rate: float = SAMPLE_RATE) -> AudioArray:
    """Validate ``samples`` and return them as contiguous mono float32 at 16 kHz.

    Accepts float32, float64, int16 and int32 arrays of shape ``(n,)`` or
    ``(n, channels)``. Integers are scaled to [-1, 1) (int16 by 1/32768), channels are
    averaged and the audio resampled when ``sample_rate`` is not 16000. Raises
    :class:`AudioError` for NaN or infinite values, another number of dimensions, a
    non-numeric dtype or a sample rate that is not a positive number. The result may be
    ``samples`` itself when no conversion is needed: copy it before changing it.

    This resamples the whole array at once; for a stream of blocks use
    :class:`~livewhisper.audio.StreamResampler`, which has no seams between blocks.

    Example::

        >>> pcm = np.array([0, 16384, -32768], dtype=np.int16)
        >>> as_mono_float32(pcm)
        array([ 0. ,  0.5, -1. ], dtype=float32)
        >>> len(as_mono_float32(np.zeros((44100, 2)), 44100))
        16000
    """
    rate = check_sample_rate(sample_rate)
    mono = to_mono_float32(samples)
    if rate == SAMPLE_RATE or mono.size == 0:
        return mono
    resampled = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(resampled, dtype=np.float32)


def to_mono_float32(samples: npt.ArrayLike) -> AudioArray:
    """The validation and conversion of :func:`as_mono_float32`, without resampling.

    For callers that resample a stream themselves (push sources). Same rules, same
    errors; an empty array is returned as an empty array.

    Example::

        >>> to_mono_float32(np.array([[0.5, -0.5], [1.0, 0.0]]))
        array([0. , 0.5], dtype=float32)
    """
    array = np.asarray(samples)
    if array.dtype not in _FLOAT_DTYPES and array.dtype not in _INT_SCALES:
        raise AudioError(
            f"unsupported sample type {array.dtype}: pass float32, float64, int16 or int32"
        )
    if array.ndim not in (1, 2):
        raise AudioError(
            f"audio must have shape (n,) or (n, channels), got {array.ndim}-d shape {array.shape}"
        )
    if array.ndim == 2 and array.shape[1] > _MAX_CHANNELS:
        raise AudioError(
            f"audio of shape {array.shape} has {array.shape[1]} channels: pass "
            "(n, channels), e.g. samples.T if yours is (channels, n)"
        )
    if array.ndim == 2 and array.shape[1] == 0:
        raise AudioError(f"audio of shape {array.shape} has no channels")
    # float64 input stays float64 until the final cast, so averaging loses nothing.
    work: npt.NDArray[np.floating[Any]] = array.astype(
        np.float64 if array.dtype == np.float64 else np.float32, copy=False
    )
    scale = _INT_SCALES.get(array.dtype)
    if scale is not None:
        work = work * scale  # a Python float keeps the array dtype
    if work.ndim == 2:
        work = work.mean(axis=1) if work.shape[1] > 1 else work[:, 0]
    with np.errstate(over="ignore"):  # an overflow to inf is reported just below
        mono = np.ascontiguousarray(work, dtype=np.float32)
    # Checked after the cast so float64 values too large for float32 are caught as well.
    finite = np.isfinite(mono)
    if not finite.all():
        first = int(np.argmin(finite))
        raise AudioError(f"audio contains NaN or infinite samples (the first at index {first})")
    return mono


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


def audio_duration(file: AudioFile) -> float:
    """The length of an audio file in seconds, from its header alone.

    ``file`` is a path or an open binary file (read from its start). Raises
    :class:`AudioError` when libsndfile cannot read it or it holds no samples.

    Example: ``audio_duration("examples/jfk.wav")`` is ``11.0``.
    """
    if not isinstance(file, (str, os.PathLike)):
        file.seek(0)
    try:
        with soundfile.SoundFile(file) as sound:
            frames, rate = sound.frames, sound.samplerate
    except (soundfile.SoundFileError, RuntimeError, OSError) as exc:
        # libsndfile repeats the path in its message: keep the reason only.
        why = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".") or type(exc).__name__
        raise AudioError(
            f"not audio that livewhisper can read ({why}); it reads wav, flac, ogg (vorbis, "
            "opus) and mp3: convert other files first, e.g. `ffmpeg -i talk.m4a talk.flac`"
        ) from None
    if frames <= 0 or rate <= 0:
        raise AudioError("the file holds no audio samples")
    return float(frames) / float(rate)


def read_audio(
    file: AudioFile,
    *,
    max_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> AudioArray:
    """A file as 16 kHz mono float32, decoded and resampled 30 s at a time.

    Unlike :func:`load_audio`, which decodes the whole file at its own rate and channel
    count first, this never holds more than one block of the original: an hour of 48 kHz
    stereo needs 230 MB at 16 kHz mono, not 1.4 GB more. ``file`` is a path or an open
    binary file. Raises :class:`AudioError` for a file that cannot be decoded, holds NaN,
    or is longer than ``max_seconds``; :class:`DecodeCancelled` once ``cancel`` is set.

    Example::

        audio = read_audio("interview.mp3", max_seconds=7200)
    """
    from livewhisper.audio.resample import StreamResampler  # it imports this module

    if not isinstance(file, (str, os.PathLike)):
        file.seek(0)
    try:
        with soundfile.SoundFile(file) as sound:
            rate = sound.samplerate
            resampler = StreamResampler(rate, sound.channels)
            # mp3 frame counts are estimates: the array grows if the estimate was short.
            out = np.empty(max(int(sound.frames * SAMPLE_RATE / rate), 0) + SAMPLE_RATE, np.float32)
            size = 0
            limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE
            blocks = sound.blocks(blocksize=rate * _BLOCK_SECONDS, dtype="float32", always_2d=True)
            for block in blocks:
                if cancel is not None and cancel.is_set():
                    raise DecodeCancelled("the decode was cancelled")
                out, size = _append(out, size, resampler.process(block))
                if limit is not None and size > limit:
                    raise AudioError(f"the audio is longer than {max_seconds:g} s")
            out, size = _append(out, size, resampler.flush())
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise AudioError(f"the audio cannot be decoded: {exc}") from exc
    audio = out[:size]
    if not np.isfinite(audio).all():
        raise AudioError("the audio contains NaN or infinite samples")
    return audio


def _append(out: AudioArray, size: int, piece: AudioArray) -> tuple[AudioArray, int]:
    if size + len(piece) > len(out):
        grown = np.empty(max(2 * len(out), size + len(piece)), dtype=np.float32)
        grown[:size] = out[:size]
        out = grown
    out[size : size + len(piece)] = piece
    return out, size + len(piece)
