"""Audio in the one form the rest of livewhisper uses: mono float32 at 16 kHz.

:func:`decode_audio` streams any file FFmpeg reads (through PyAV: wav in every PCM and
float format, flac, mp3, m4a/aac, mp4, mov, mkv, webm and ogg with opus or vorbis...) block
by block, so memory stays flat however long the file; :func:`load_audio` and
:func:`read_audio` gather those blocks into one array; :func:`probe` reads the header only.
:func:`as_mono_float32` validates and converts an array handed to us by a caller. All raise
:class:`~livewhisper.errors.AudioError` with a message that names the file and the problem.

Example::

    from livewhisper.audio import SAMPLE_RATE, load_audio

    audio = load_audio("meeting.flac")
    print(f"{len(audio) / SAMPLE_RATE:.1f} s")
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from livewhisper.audio.resample import (
    SAMPLE_RATE,
    AudioArray,
    StreamResampler,
    check_sample_rate,
)
from livewhisper.errors import AudioError, DecodeCancelled

__all__ = [
    "SAMPLE_RATE",
    "STDIN",
    "AudioArray",
    "AudioFile",
    "AudioInfo",
    "as_mono_float32",
    "audio_duration",
    "check_sample_rate",
    "decode_audio",
    "display_name",
    "g711_to_pcm16",
    "implausible",
    "load_audio",
    "probe",
    "read_audio",
    "to_mono_float32",
    "wav_data_size",
]

log = logging.getLogger("livewhisper")

# Integer PCM is scaled by the magnitude of its most negative value, the convention of
# soundfile and of WAV readers in general, so that full scale maps to [-1, 1).
_INT_SCALES = {np.dtype(np.int16): 1.0 / 32768.0, np.dtype(np.int32): 1.0 / 2147483648.0}
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# No real recording has more channels than this; a wider array is almost always a
# channels-first (channels, n) array passed by mistake.
_MAX_CHANNELS = 64
# decode_audio hands on about this many seconds at a time (at 16 kHz: 64 kB a block).
_BLOCK_SECONDS = 1.0

MIN_SAMPLE_RATE = 4000
"""The lowest sample rate a file may declare, in Hz: below it no speech survives (and
resampling a damaged header's 4 Hz to 16 kHz would make 4000 samples of every one)."""
MAX_SAMPLE_RATE = 768_000
"""The highest sample rate a file may declare, in Hz (the fastest studio rate)."""
# A decoded length this far from what the header declares is worth a warning (seconds,
# or this share of the declared length if larger: durations estimated from a bit rate
# are a little off).
_LENGTH_SLACK_SECONDS = 1.0
_LENGTH_SLACK_SHARE = 0.02
# How much of a WAV file's head is searched for its data chunk.
_WAV_HEAD_BYTES = 1 << 16

AudioFile: TypeAlias = "str | os.PathLike[str] | IO[bytes]"
"""A path, ``"-"`` for standard input, or an open binary file (read from where it is)."""

STDIN = "-"
"""The name that means standard input, as on the command line."""

_READS = (
    "it reads what FFmpeg reads: wav, flac, mp3, m4a/aac, ogg and webm (opus, vorbis), "
    "mp4, mov, mkv and more"
)


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says, from :func:`probe`: nothing decoded.

    ``duration`` is in seconds, or None when the container does not say (a stream on
    standard input, some webm); ``bit_rate`` is in bits per second (0 if unknown).

    Example: ``AudioInfo("wav", "pcm_s16le", 16000, 1, 11.0, 256000)``.
    """

    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float | None
    bit_rate: int = 0

    @property
    def uncompressed(self) -> bool:
        """Whether the samples are stored as they are (PCM), so size follows duration."""
        return self.codec.startswith("pcm_") and self.codec not in ("pcm_bluray", "pcm_dvd")


def display_name(file: AudioFile) -> str:
    """How messages name ``file``: its path, ``standard input``, or the open file's name,
    printable on one line whatever bytes the name holds (see :func:`_printable`).

    Example::

        >>> display_name("-")
        'standard input'
    """
    if isinstance(file, (str, os.PathLike)):
        return "standard input" if os.fspath(file) == STDIN else _printable(os.fspath(file))
    name = getattr(file, "name", None)
    return _printable(name) if isinstance(name, str) and name else "the audio"


def _printable(name: str) -> str:
    r"""``name`` on one line whatever bytes it holds: bytes that are not UTF-8 (which the
    file system hands Python as surrogates) as ``\xe9``, control characters (a newline
    in a file name) as ``\n`` or ``\x1b``, every other character as it is.

    Example: ``_printable("caf\udce9\n.wav")`` is ``r"caf\xe9\n.wav"``.
    """
    try:
        raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a surrogate the file system did not make
        raw = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in raw)


@contextlib.contextmanager
def _open(file: AudioFile, name: str) -> Iterator[tuple[Any, Any]]:
    """The container and its first audio stream, or :class:`AudioError` naming ``name``."""
    import av  # PyAV loads FFmpeg's libraries: only once a file is opened

    source: Any = file
    if isinstance(file, (str, os.PathLike)):
        if os.fspath(file) == STDIN:
            source = _stdin()
        else:
            path = Path(file)
            if not path.exists():
                raise AudioError(f"audio file not found: {name}")
            if path.is_dir():
                raise AudioError(f"{name} is a directory, not an audio file")
            source = str(path)
    try:
        container = av.open(source, "r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise AudioError(
            f"{name} is not audio that livewhisper can read ({_why(exc)}); {_READS}"
        ) from None
    except OSError as exc:
        raise AudioError(f"cannot open {name}: {exc.strerror or exc}") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{name} has no audio track")
        yield container, container.streams.audio[0]


def _stdin() -> IO[bytes] | io.RawIOBase:
    """Standard input for FFmpeg: streamed as it comes, except an mp4/m4a/mov, whose index
    (the moov atom) is usually at the end: that is spooled to a temporary file on disk."""
    stdin = sys.stdin.buffer
    if stdin.seekable():
        return stdin
    head = stdin.read(12)
    if head[4:8] != b"ftyp":
        return _Prefixed(head, stdin)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (the caller reads it; unlinked already)
    spool.write(head)
    shutil.copyfileobj(stdin, spool, 1 << 20)
    spool.seek(0)
    return spool


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: bytes already read, put back."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def _why(exc: BaseException) -> str:
    # FFmpeg's message, without the errno and the file name PyAV adds to it.
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__


def probe(file: AudioFile) -> AudioInfo:
    """What the header of ``file`` says (container, codec, rate, channels, duration).

    Reads the header only; an open file is read from where it is, and left where the
    header ends. Raises :class:`AudioError` for a file that is missing, not audio, or has
    no audio track.

    Example::

        >>> info = probe("examples/jfk.wav")
        >>> info.codec, info.sample_rate, info.channels, info.duration
        ('pcm_s16le', 16000, 1, 11.0)
    """
    with _open(file, display_name(file)) as (container, stream):
        return _info(container, stream)


def _info(container: Any, stream: Any) -> AudioInfo:
    codec = stream.codec_context
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    layout = codec.layout
    return AudioInfo(
        container=str(container.format.name),
        codec=str(codec.name),
        sample_rate=int(codec.sample_rate or 0),
        channels=int(layout.nb_channels if layout is not None else 0),
        duration=duration,
        bit_rate=int(codec.bit_rate or container.bit_rate or 0),
    )


def implausible(info: AudioInfo) -> str | None:
    """What in ``info`` no recording can have, or None: a sample rate outside
    :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`, no channels or more than 64, a
    negative or infinite length. A value the header leaves unsaid (0, None) passes,
    except channels of uncompressed audio, whose header is all there is.

    Example::

        >>> implausible(AudioInfo("wav", "pcm_s16le", 16000, 0, 11.0))
        'declares 0 channels (audio has 1 to 64): its header is damaged'
    """
    damaged = "its header is damaged"
    rate, channels = info.sample_rate, info.channels
    if rate and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return (
            f"declares a sample rate of {rate} Hz, which no recording has "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz): {damaged}"
        )
    if channels > _MAX_CHANNELS or (channels == 0 and info.uncompressed):
        return f"declares {channels} channels (audio has 1 to {_MAX_CHANNELS}): {damaged}"
    if info.duration is not None and not 0 <= info.duration < math.inf:
        return f"declares a length of {info.duration} s: {damaged}"
    return None


def decode_audio(
    file: AudioFile,
    *,
    cancel: threading.Event | None = None,
    block_seconds: float = _BLOCK_SECONDS,
) -> Iterator[AudioArray]:
    """Stream ``file`` as blocks of 16 kHz mono float32, decoded as they are read.

    Any container and codec FFmpeg knows, through PyAV; the first audio track of a video.
    Each frame's channels are averaged and the result resampled to 16 kHz by
    :class:`~livewhisper.audio.StreamResampler` (soxr), the very resampler of live and
    pushed audio, so a file and a stream of the same samples give the model the same
    input. Only one block is ever held: memory is flat for an hour of audio. ``file`` is
    a path, ``"-"`` for standard input, or an open binary file. Raises
    :class:`AudioError` naming the file when it is missing, not audio, has no audio
    track, is damaged, holds NaN or no samples at all; :class:`DecodeCancelled` once
    ``cancel`` is set.

    Example::

        >>> blocks = list(decode_audio("examples/jfk.wav"))
        >>> sum(len(b) for b in blocks) / SAMPLE_RATE
        11.0
    """
    import av

    name = display_name(file)
    target = max(1, int(block_seconds * SAMPLE_RATE))
    total = 0
    broken = ""  # why the decode stopped before the end of the file, if it did
    with _open(file, name) as (container, stream):
        info = _info(container, stream)
        problem = implausible(info)
        if problem:
            raise AudioError(f"{name} {problem}")
        header = _wav_header_note(file, info)
        if header:
            log.warning("warning: %s %s", name, header)
        converter: Any = None  # FFmpeg's, to packed float32 at the frame's own rate
        resampler = StreamResampler(SAMPLE_RATE)  # replaced at the first frame
        shape: tuple[Any, ...] | None = None
        pending: list[AudioArray] = []
        size = 0
        try:
            for frame in container.decode(stream):
                if cancel is not None and cancel.is_set():
                    raise DecodeCancelled("the decode was cancelled")
                frame.pts = None  # resample on sample counts; gaps in pts are not ours to fill
                kind = (frame.format.name, frame.layout.name, frame.sample_rate)
                if kind != shape:  # a chained ogg or a stream that changes rate mid-way
                    problem = implausible(
                        replace(
                            info, sample_rate=frame.sample_rate, channels=frame.layout.nb_channels
                        )
                    )
                    if problem:
                        raise AudioError(f"{name} {problem}")
                    if converter is not None:
                        pending.extend(_drained(converter, resampler))
                    # Packed float: one plane whatever the channels (PyAV misreads the
                    # planes of a planar frame past 8 channels, and crashes on them).
                    converter = av.AudioResampler("flt", frame.layout, frame.sample_rate)
                    resampler = StreamResampler(frame.sample_rate)
                    shape = kind
                for out in converter.resample(frame):
                    piece = resampler.process(_mono(out))
                    pending.append(piece)
                    size += len(piece)
                if size >= target:
                    block = _checked(np.concatenate(pending), name, total)
                    pending, size = [], 0
                    total += len(block)
                    yield block
        except av.FFmpegError as exc:
            if total + size == 0:
                raise AudioError(
                    f"{name} is damaged: no audio can be decoded ({_why(exc)})"
                ) from None
            broken = _why(exc)
        if converter is not None:
            with contextlib.suppress(av.FFmpegError):
                pending.extend(_drained(converter, resampler))
        if pending:
            block = _checked(np.concatenate(pending), name, total)
            total += len(block)
            if len(block):
                yield block
    if total == 0:
        raise AudioError(f"{name} contains no audio samples")
    note = _length_note(total / SAMPLE_RATE, None if header else info.duration, broken)
    if note:
        log.warning("warning: %s %s", name, note)


def _length_note(decoded: float, declared: float | None, broken: str) -> str | None:
    """The warning for a decode that ended early (``broken``: FFmpeg's reason) or far
    from the ``declared`` length, or None."""
    said = f" of the {declared:.1f} s its header declares" if declared else ""
    if broken:
        return (
            f"is damaged after {decoded:.1f} s{said} ({broken}): transcribing the "
            f"{decoded:.1f} s before it"
        )
    if declared is None:
        return None
    if abs(decoded - declared) <= max(_LENGTH_SLACK_SECONDS, _LENGTH_SLACK_SHARE * declared):
        return None
    if decoded < declared:
        return f"ends after {decoded:.1f} s{said}: it was cut off; transcribing what is there"
    return f"holds {decoded:.1f} s of audio, more than the {declared:.1f} s its header declares"


def wav_data_size(head: bytes) -> tuple[int, int, int] | None:
    """``(declared bytes, where they start, bytes per second)`` of a WAV file's data
    chunk, from the first bytes of the file (``head``); None when ``head`` is not a RIFF
    WAVE file or holds no data chunk.

    A recorder writes the data chunk's size when it stops: one that crashed leaves 0
    there (or 0xFFFFFFFF, which also means "unknown" to a writer that cannot seek).

    Example::

        >>> wav_data_size(open("examples/jfk.wav", "rb").read(4096))
        (352000, 44, 32000)
    """
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(head):
        chunk, size = (
            head[offset : offset + 4],
            int.from_bytes(head[offset + 4 : offset + 8], "little"),
        )
        if chunk == b"fmt " and offset + 20 <= len(head):
            byte_rate = int.from_bytes(head[offset + 16 : offset + 20], "little")
        if chunk == b"data":
            return size, offset + 8, byte_rate
        offset += 8 + size + (size & 1)
    return None


def _wav_header_note(file: AudioFile, info: AudioInfo) -> str | None:
    """The warning for a WAV file whose header gives its samples a length the file does
    not have (a recorder that crashed before writing it, a file cut short), or None.
    FFmpeg reads such a file to its end: this only says so."""
    if info.container != "wav" or not info.uncompressed:
        return None
    try:
        if isinstance(file, (str, os.PathLike)):
            if os.fspath(file) == STDIN:
                return None
            with open(file, "rb") as handle:
                head, length = handle.read(_WAV_HEAD_BYTES), os.fstat(handle.fileno()).st_size
        elif file.seekable():
            at = file.tell()
            file.seek(0)
            head = file.read(_WAV_HEAD_BYTES)
            length = file.seek(0, os.SEEK_END)
            file.seek(at)
        else:
            return None
    except OSError:
        return None
    found = wav_data_size(head)
    if found is None or found[2] <= 0:
        return None
    declared, start, byte_rate = found
    held = max(0, length - start) / byte_rate
    if declared in (0, 0xFFFFFFFF):
        if held == 0:  # an empty file, rightly declared: the error that it holds nothing says so
            return None
        return (
            f"has a header that gives no length (a recording that was not closed "
            f"properly?): transcribing the {held:.1f} s the file holds"
        )
    said = declared / byte_rate
    if said - held > _LENGTH_SLACK_SECONDS:
        return (
            f"ends after {held:.1f} s of the {said:.1f} s its header declares: it was cut "
            "off; transcribing what is there"
        )
    return None


def _drained(converter: Any, resampler: StreamResampler) -> list[AudioArray]:
    """What ``converter`` (FFmpeg's) and then ``resampler`` still hold, at 16 kHz."""
    held = [resampler.process(_mono(frame)) for frame in converter.resample(None)]
    return [*held, resampler.flush()]


def _mono(frame: Any) -> AudioArray:
    channels = frame.layout.nb_channels
    packed = frame.to_ndarray().reshape(-1)  # interleaved float32: the resampler's flt
    if channels == 1:
        return np.ascontiguousarray(packed, dtype=np.float32)
    # Averaged, not FFmpeg's downmix, which scales stereo by sqrt(2) and may clip.
    return np.ascontiguousarray(packed.reshape(-1, channels).mean(axis=1, dtype=np.float32))


def _checked(block: AudioArray, name: str, offset: int) -> AudioArray:
    finite = np.isfinite(block)
    if not finite.all():
        first = offset + int(np.argmin(finite))
        raise AudioError(
            f"{name}: audio contains NaN or infinite samples (the first at index {first})"
        )
    return block


G711_CODECS = {"mulaw": "pcm_mulaw", "alaw": "pcm_alaw"}
"""FFmpeg's decoders of the two G.711 laws (ITU-T G.711: North America and Japan use
mu-law, the rest of the world A-law), by law."""


def g711_to_pcm16(data: bytes, law: str) -> npt.NDArray[np.int16]:
    """G.711 audio (one 8-bit code per sample, telephone audio at 8 kHz) as 16-bit PCM,
    shape ``(len(data),)``, dtype int16, decoded by FFmpeg's ``pcm_mulaw`` / ``pcm_alaw``.

    ``law``: ``"mulaw"`` or ``"alaw"`` (:data:`G711_CODECS`); raises ValueError otherwise.

    Example (the laws' codes for silence and for their largest positive values)::

        >>> g711_to_pcm16(bytes([0xFF, 0x80]), "mulaw").tolist()
        [0, 32124]
        >>> g711_to_pcm16(bytes([0xD5, 0xAA]), "alaw").tolist()
        [8, 32256]
    """
    import av

    if law not in G711_CODECS:
        raise ValueError(f"unknown G.711 law {law!r}: use 'mulaw' or 'alaw'")
    if not data:
        return np.zeros(0, np.int16)
    codec = av.CodecContext.create(G711_CODECS[law], "r")
    codec.sample_rate = 8000  # type: ignore[attr-defined]
    codec.layout = "mono"  # type: ignore[attr-defined]
    frames = codec.decode(av.Packet(data))  # type: ignore[attr-defined]
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def load_audio(path: AudioFile) -> AudioArray:
    """Read an audio file (wav, flac, mp3, m4a, ogg, webm, a video's sound...) as mono
    float32 samples at 16 kHz.

    The blocks of :func:`decode_audio` in one array: channels averaged, resampled when the
    file is at another rate. ``"-"`` reads standard input. Raises :class:`AudioError`
    naming the file when it is missing, is not audio, is damaged, or holds no samples.

    Example::

        >>> audio = load_audio("examples/jfk.wav")
        >>> audio.dtype, audio.ndim, round(len(audio) / SAMPLE_RATE, 1)
        (dtype('float32'), 1, 11.0)
    """
    return read_audio(path)


def as_mono_float32(samples: npt.ArrayLike, sample_rate: float = SAMPLE_RATE) -> AudioArray:
    """Validate ``samples`` and return them as contiguous mono float32 at 16 kHz.

    Accepts float32, float64, int16 and int32 arrays of shape ``(n,)`` or
    ``(n, channels)``. Integers are scaled to [-1, 1) (int16 by 1/32768), channels are
    averaged and the audio resampled when ``sample_rate`` is not 16000. Raises
    :class:`AudioError` for NaN or infinite values, another number of dimensions, a
    non-numeric dtype or a sample rate that is not a positive number. The result may be
    ``samples`` itself when no conversion is needed: copy it before changing it.

    Resampling is :class:`~livewhisper.audio.StreamResampler`'s (soxr), as for every
    stream and file; for a stream of blocks use it directly, with no seams between them.

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
    resampler = StreamResampler(rate)
    return np.concatenate([resampler.process(mono), resampler.flush()])


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


def audio_duration(file: AudioFile) -> float:
    """The length of an audio file in seconds, from its header alone.

    ``file`` is a path or an open binary file (read from its start). Raises
    :class:`AudioError` when it is not audio, holds no samples or does not say its length.

    Example: ``audio_duration("examples/jfk.wav")`` is ``11.0``.
    """
    if not isinstance(file, (str, os.PathLike)):
        file.seek(0)
    info = probe(file)
    if info.duration is None:
        raise AudioError(f"{display_name(file)} does not say how long it is")
    if info.duration <= 0 or info.sample_rate <= 0:
        raise AudioError(f"{display_name(file)} holds no audio samples")
    return info.duration


def read_audio(
    file: AudioFile,
    *,
    max_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> AudioArray:
    """A file as one 16 kHz mono float32 array, decoded block by block.

    Never holds more than one block of the original beside the result: an hour of 48 kHz
    stereo needs 230 MB at 16 kHz mono, not 1.4 GB more. ``file`` is a path, ``"-"`` or an
    open binary file (read from its start when it can seek). Raises :class:`AudioError`
    as :func:`decode_audio` does, and for audio longer than ``max_seconds``;
    :class:`DecodeCancelled` once ``cancel`` is set.

    Example::

        audio = read_audio("interview.mp3", max_seconds=7200)
    """
    if not isinstance(file, (str, os.PathLike)) and file.seekable():
        file.seek(0)
    out = np.empty(30 * SAMPLE_RATE, np.float32)
    size = 0
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE
    for block in decode_audio(file, cancel=cancel):
        out, size = _append(out, size, block)
        if limit is not None and size > limit:
            raise AudioError(f"the audio is longer than {max_seconds:g} s")
    return out[:size].copy() if size < len(out) // 2 else out[:size]


def _append(out: AudioArray, size: int, piece: AudioArray) -> tuple[AudioArray, int]:
    if size + len(piece) > len(out):
        grown = np.empty(max(2 * len(out), size + len(piece)), dtype=np.float32)
        grown[:size] = out[:size]
        out = grown
    out[size : size + len(piece)] = piece
    return out, size + len(piece)
