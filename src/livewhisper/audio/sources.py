"""Where audio comes from: a microphone, a file, an array, or blocks pushed by the caller.

Every source hands out the same thing, 1-D float32 blocks at 16 kHz, through one pull
interface: :meth:`AudioSource.read` returns the next block, an empty array when nothing
arrived within the timeout, or ``None`` at the end of the stream. :meth:`AudioSource.pause`
stops the recording (a microphone's stream is stopped: no audio, no CPU) until
:meth:`AudioSource.resume`.

Example::

    from livewhisper.audio import Microphone

    with Microphone() as mic:
        while (block := mic.read(timeout=0.5)) is not None:
            handle(block)          # len(block) / 16000 seconds of audio
"""

from __future__ import annotations

import abc
import enum
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from livewhisper.audio.decode import (
    SAMPLE_RATE,
    AudioArray,
    as_mono_float32,
    check_sample_rate,
    load_audio,
    to_mono_float32,
)
from livewhisper.audio.devices import (
    InputDevice,
    describe_input_devices,
    find_input_device,
    import_sounddevice,
)
from livewhisper.audio.resample import StreamResampler
from livewhisper.audio.ring import RingBuffer
from livewhisper.errors import AudioError, ClosedError, ConfigError, DeviceError

__all__ = ["ArraySource", "AudioSource", "FileSource", "Microphone", "PushSource"]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="AudioSource")


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def _empty() -> AudioArray:
    return np.zeros(0, dtype=np.float32)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class AudioSource(abc.ABC):
    """A stream of 16 kHz mono float32 blocks, used once: open, read until ``None``, close.

    :meth:`read` is meant for one consumer thread; :meth:`close` may be called from any
    thread and wakes a blocked :meth:`read`, which then returns ``None``: to a reader,
    closing a source ends its stream. Anything else after :meth:`close` (opening it again,
    feeding a :class:`PushSource`) raises :class:`~livewhisper.errors.ClosedError`. A
    source is a context manager (``with`` opens and closes it) and an iterator over its
    non-empty blocks. :meth:`pause` and :meth:`resume` switch the recording off and on.

    Example::

        with FileSource("talk.wav", realtime=False) as source:
            audio = np.concatenate(list(source))
    """

    sample_rate: int = SAMPLE_RATE
    """The rate of every block a source returns."""

    def __init__(self) -> None:
        self._state = _State.NEW
        self._state_lock = threading.Lock()
        self._paused = False

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short description for status lines, e.g. ``"file jfk.wav"``."""

    @property
    def overflow_samples(self) -> int:
        """Audio lost because the reader fell behind, in 16 kHz samples (divide by
        :attr:`sample_rate` for seconds) whatever the input's own rate; 0 for sources
        that wait for their reader."""
        return 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state is _State.CLOSED

    def open(self: _S) -> _S:
        """Start the source (open the device, load the file) and return it.

        Opening an open source does nothing; a closed source cannot be reopened
        (:class:`~livewhisper.errors.ClosedError`).

        Example::

            mic = Microphone().open()
        """
        with self._state_lock:
            if self._state is _State.OPEN:
                return self
            if self._state is _State.CLOSED:
                raise ClosedError(f"{self.name} is closed: create a new source to read again")
            self._open()
            self._state = _State.OPEN
        return self

    def read(self, timeout: float) -> AudioArray | None:
        """The next block of 16 kHz mono float32 samples.

        Waits up to ``timeout`` seconds; returns an empty array if nothing arrived by
        then, and ``None`` at the end of the stream or once the source is closed (a
        close from another thread must end a reader's loop, not raise in it). Raises
        :class:`~livewhisper.errors.AudioError` before :meth:`open`.

        Example::

            block = source.read(timeout=0.5)
            if block is None:
                ...                # finished
            elif block.size:
                ...                # len(block) new samples
        """
        if timeout < 0 or math.isnan(timeout):
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
        state = self._state
        if state is _State.NEW:
            raise AudioError(f"{self.name} is not open: call open() or use it in a with block")
        if state is _State.CLOSED:
            return None
        return self._read(timeout)

    @property
    def paused(self) -> bool:
        """Whether the recording is switched off (:meth:`pause`)."""
        return self._paused

    def pause(self) -> None:
        """Stop recording until :meth:`resume`, as a microphone switched off would.

        Audio already captured stays readable; after it :meth:`read` returns empty blocks,
        and what would have arrived in between is lost (a file played in real time plays
        on, unheard; audio fed to a :class:`PushSource` is dropped). A microphone's
        stream is stopped: no audio callbacks, no CPU. Pausing a paused source, or one
        that is not open, does nothing.

        Example::

            mic.pause()     # the hotkey was released
            mic.resume()    # and pressed again
        """
        with self._state_lock:
            if self._paused or self._state is not _State.OPEN:
                return
            self._paused = True
            self._pause()

    def resume(self) -> None:
        """Record again after :meth:`pause`; does nothing if not paused or not open.

        Example::

            source.resume()
        """
        with self._state_lock:
            if not self._paused or self._state is not _State.OPEN:
                return
            self._paused = False
            self._resume()

    def close(self) -> None:
        """Stop the source and release what it holds. Idempotent, safe from any thread.

        Example::

            threading.Timer(10, mic.close).start()   # stop recording after 10 s
        """
        with self._state_lock:
            was_open = self._state is _State.OPEN
            self._state = _State.CLOSED
        self._wake()
        if was_open:
            self._close()

    def __enter__(self: _S) -> _S:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[AudioArray]:
        """Yield the non-empty blocks until the end of the stream (or :meth:`close`)."""
        while (block := self.read(timeout=0.5)) is not None:
            if block.size:
                yield block

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._state.value}>"

    @abc.abstractmethod
    def _open(self) -> None:
        """Acquire resources; called once, under the state lock."""

    @abc.abstractmethod
    def _read(self, timeout: float) -> AudioArray | None:
        """Return the next block; only called while open."""

    def _wake(self) -> None:  # noqa: B027  (an optional hook, not an abstract method)
        """Wake a blocked :meth:`_read` at close (before :meth:`_close`); default: nothing."""

    def _close(self) -> None:  # noqa: B027  (an optional hook, not an abstract method)
        """Release resources; called once, only if the source was opened."""

    def _pause(self) -> None:  # noqa: B027  (an optional hook, not an abstract method)
        """Stop capturing (under the state lock, while open); default: nothing."""

    def _resume(self) -> None:  # noqa: B027  (an optional hook, not an abstract method)
        """Capture again (under the state lock, while open); default: nothing."""


class Microphone(AudioSource):
    """Record from an audio input device through PortAudio (the sounddevice package).

    The device runs at its own default rate with up to two channels; the audio callback
    only copies each block into a :class:`RingBuffer` of ``buffer_seconds``, and
    :meth:`read` downmixes and resamples to 16 kHz in the reader's thread. If the reader
    falls more than ``buffer_seconds`` behind, new audio is dropped and counted in
    :attr:`overflow_samples` (in 16 kHz samples, as for every source). ``device`` is an
    index, a name (see :func:`list_input_devices`) or ``None`` for the default input.

    Raises :class:`DependencyError` at :meth:`open` when PortAudio is not installed and
    :class:`DeviceError` when there is no such input device or it cannot be opened.

    Example::

        with Microphone(block_seconds=0.02) as mic:
            print("listening on", mic.name)
            for block in mic:
                level = float(np.sqrt(np.mean(block**2)))
    """

    # abort() returns at once on sane back ends; the helper thread bounds the rare hang
    # (an ALSA device that stopped delivering) so close() never blocks the caller for long.
    close_timeout: float = 2.0

    def __init__(
        self,
        device: int | str | None = None,
        block_seconds: float = 0.02,
        buffer_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self._device = device
        self._block_seconds = _positive("block_seconds", block_seconds)
        self._buffer_seconds = _positive("buffer_seconds", buffer_seconds)
        if self._buffer_seconds < self._block_seconds:
            raise ConfigError(
                f"buffer_seconds ({buffer_seconds}) must be at least block_seconds "
                f"({block_seconds})"
            )
        self._info: InputDevice | None = None
        self._ring: RingBuffer | None = None
        self._resampler: StreamResampler | None = None
        self._stream: Any = None
        self._input_overflows = 0
        self._flushed = False
        self._stopping_for_pause = False

    @property
    def name(self) -> str:
        """``"microphone 'pulse' (44100 Hz, 2 ch)"`` once open."""
        info = self._info
        if info is None:
            return f"microphone {self._device!r}" if self._device is not None else "microphone"
        return f"microphone {info.name!r} ({info.default_sample_rate:g} Hz, {self.channels} ch)"

    @property
    def device(self) -> InputDevice | None:
        """The device being recorded, once open."""
        return self._info

    @property
    def device_sample_rate(self) -> float | None:
        """The rate the device runs at, once open (audio is resampled from it)."""
        return None if self._info is None else self._info.default_sample_rate

    @property
    def channels(self) -> int:
        """Channels recorded from the device (averaged to mono), once open; else 0."""
        return 0 if self._ring is None else self._ring.channels

    @property
    def overflow_samples(self) -> int:
        """Audio dropped because the ring buffer was full, in 16 kHz samples (the ring
        holds device-rate frames: the count is converted)."""
        ring, info = self._ring, self._info
        if ring is None or info is None:
            return 0
        return round(ring.overflow_frames * SAMPLE_RATE / info.default_sample_rate)

    @property
    def input_overflows(self) -> int:
        """Times PortAudio reported an input overflow (audio lost before our callback)."""
        return self._input_overflows

    def _open(self) -> None:
        sd = import_sounddevice()
        info = find_input_device(self._device)
        rate = info.default_sample_rate
        # Stereo is the most a voice needs; more channels (a "default" ALSA device offers
        # 32) would only cost copying before the downmix.
        channels = min(2, info.channels)
        ring = RingBuffer(max(1, math.ceil(self._buffer_seconds * rate)), channels)
        self._ring = ring
        self._resampler = StreamResampler(rate, channels)
        self._info = info
        stream = None
        try:
            stream = sd.InputStream(
                device=info.index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=max(1, round(self._block_seconds * rate)),
                callback=self._callback,
                # A stream that ends on its own (device unplugged) ends the source too.
                finished_callback=self._stream_finished,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            ring.close()
            if stream is not None:
                stream.close(ignore_errors=True)
            raise DeviceError(
                f"cannot open audio input {info} at {rate:g} Hz with {channels} channel(s): "
                f"{exc}. {describe_input_devices()}"
            ) from exc
        self._stream = stream

    def _callback(
        self, indata: npt.NDArray[np.float32], frames: int, time_info: Any, status: Any
    ) -> None:
        # Runs on PortAudio's thread: copy and return, nothing that can block or be slow.
        if status.input_overflow:
            self._input_overflows += 1
        ring = self._ring
        if ring is not None:
            ring.write(indata)

    def _stream_finished(self) -> None:
        # PortAudio also calls this when pause() stops the stream: that is no end.
        if not self._stopping_for_pause and self._ring is not None:
            self._ring.close()

    def _pause(self) -> None:
        stream = self._stream
        if stream is not None:
            self._stopping_for_pause = True
            # abort() rather than stop(): the blocks PortAudio still holds are not needed.
            stream.abort(ignore_errors=True)

    def _resume(self) -> None:
        stream = self._stream
        if stream is not None:
            sd = import_sounddevice()
            try:
                stream.start()
            except sd.PortAudioError as exc:
                raise DeviceError(f"cannot restart the recording from {self.name}: {exc}") from exc
            finally:
                self._stopping_for_pause = False

    def _read(self, timeout: float) -> AudioArray | None:
        ring, resampler = self._ring, self._resampler
        assert ring is not None and resampler is not None
        block = ring.read(ring.capacity, timeout)
        if block is None:
            # The stream ended by itself: hand out the resampler's last few samples once.
            if not self._flushed:
                self._flushed = True
                tail = resampler.flush()
                if tail.size:
                    return tail
            return None
        if block.size == 0:
            return _empty()
        return resampler.process(block)

    def _wake(self) -> None:
        if self._ring is not None:
            self._ring.close()

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        done = threading.Event()

        def stop() -> None:
            try:
                # abort() rather than stop(): no need to wait for buffers we would discard.
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:
                logger.exception("error while closing %s", self.name)
            finally:
                done.set()

        threading.Thread(target=stop, name="livewhisper-mic-close", daemon=True).start()
        if not done.wait(self.close_timeout):
            logger.warning(
                "%s did not stop within %.1f s; leaving it to a background thread",
                self.name,
                self.close_timeout,
            )


class ArraySource(AudioSource):
    """Serve an array as a stream, as fast as it is read or paced like a live recording.

    ``samples`` at ``sample_rate`` are validated and converted like
    :func:`as_mono_float32`. With ``realtime=False`` each :meth:`read` returns the next
    ``block_seconds`` at once. With ``realtime=True`` audio becomes available as if it
    were being recorded from :meth:`open` on, ``speed`` times faster than real time;
    :meth:`read` returns all the whole blocks that are due (like a microphone's buffer
    after a slow reader) or waits for the next one, and :meth:`close` interrupts the wait.

    Example::

        source = ArraySource(np.zeros(32000, dtype=np.float32), realtime=True, speed=2.0)
        with source:
            blocks = list(source)      # takes about 1 s: 2 s of audio at twice the speed
    """

    def __init__(
        self,
        samples: npt.ArrayLike,
        sample_rate: float = SAMPLE_RATE,
        *,
        realtime: bool = False,
        speed: float = 1.0,
        block_seconds: float = 0.02,
        name: str = "array",
    ) -> None:
        super().__init__()
        self._speed = _positive("speed", speed)
        self._block = max(1, round(_positive("block_seconds", block_seconds) * SAMPLE_RATE))
        self._realtime = bool(realtime)
        self._name = name
        self._audio: AudioArray = as_mono_float32(samples, sample_rate)
        self._pos = 0
        self._t0 = 0.0
        self._paused_at: float | None = None
        self._stop = threading.Event()

    @property
    def name(self) -> str:
        """The name given at construction (``"file <name>"`` for files)."""
        return self._name

    @property
    def duration(self) -> float:
        """Seconds of audio in the source (0 for a file not opened yet)."""
        return len(self._audio) / SAMPLE_RATE

    @property
    def position(self) -> float:
        """Seconds of audio already returned by :meth:`read`."""
        return self._pos / SAMPLE_RATE

    def _open(self) -> None:
        self._t0 = time.monotonic()

    def _read(self, timeout: float) -> AudioArray | None:
        total = len(self._audio)
        if self._pos >= total:
            return None
        if not self._realtime:
            if self._paused:  # no clock: nothing is lost, nothing is due
                return None if self._stop.wait(timeout) else _empty()
            end = min(self._pos + self._block, total)
            return self._take(end)
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            paused_at = self._paused_at
            due = self._due(now if paused_at is None else paused_at)
            if due > self._pos:
                return self._take(due)
            if now >= deadline:
                return _empty()
            if paused_at is not None:
                return None if self._stop.wait(deadline - now) else _empty()
            rate = SAMPLE_RATE * self._speed
            next_due = min(self._pos + self._block, total)
            # Half a millisecond late, so that rounding never finds the block not quite due.
            wake_at = min(deadline, self._t0 + next_due / rate + 0.0005)
            # Event.wait rather than time.sleep so that close() cuts the wait short.
            if self._stop.wait(max(0.0, wake_at - now)):
                return None

    def _due(self, now: float) -> int:
        """The samples "captured" by ``now``, in whole blocks (all at the end)."""
        total = len(self._audio)
        recorded = int((now - self._t0) * SAMPLE_RATE * self._speed)
        return total if recorded >= total else recorded - recorded % self._block

    def _pause(self) -> None:
        self._paused_at = time.monotonic()

    def _resume(self) -> None:
        if self._realtime:
            # What played while paused was not heard: skip it, as a microphone would.
            self._pos = max(self._pos, self._due(time.monotonic()))
        self._paused_at = None

    def _take(self, end: int) -> AudioArray:
        block = self._audio[self._pos : end].copy()
        self._pos = end
        return block

    def _wake(self) -> None:
        self._stop.set()


class FileSource(ArraySource):
    """Stream an audio file, by default at the pace of a live recording.

    The file is read with :func:`load_audio` at :meth:`open` (which raises
    :class:`AudioError` if it is missing or unreadable); the pacing is that of
    :class:`ArraySource`: ``realtime=False`` serves it as fast as it is read, and
    ``speed=2.0`` plays it twice as fast as real time.

    Example::

        with FileSource("examples/jfk.wav", speed=4.0) as source:   # 11 s in about 3 s
            for block in source:
                print(f"{len(block)} samples")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        realtime: bool = True,
        speed: float = 1.0,
        block_seconds: float = 0.02,
    ) -> None:
        self._path = Path(path)
        super().__init__(
            _empty(),
            realtime=realtime,
            speed=speed,
            block_seconds=block_seconds,
            name=f"file {self._path.name}",
        )

    @property
    def path(self) -> Path:
        """The file being streamed."""
        return self._path

    def _open(self) -> None:
        self._audio = load_audio(self._path)
        super()._open()


class PushSource(AudioSource):
    """A source the caller feeds: audio from a socket, a browser, another library.

    :meth:`feed` accepts arrays at any rate (``sample_rate`` here or per call), validates
    them like :func:`as_mono_float32`, resamples them to 16 kHz with no seams between
    calls and queues them; :meth:`finish` marks the end, after which :meth:`read` drains
    the queue and returns ``None``. :meth:`feed` never blocks: audio beyond
    ``buffer_seconds`` of unread backlog is dropped and counted in
    :attr:`overflow_samples`.

    Example::

        source = PushSource(sample_rate=48000).open()
        source.feed(pcm_int16_block)                 # from a WebSocket, say
        source.finish()
        audio = np.concatenate(list(source))         # at 16 kHz
    """

    def __init__(self, sample_rate: float = SAMPLE_RATE, buffer_seconds: float = 60.0) -> None:
        super().__init__()
        self._rate = check_sample_rate(sample_rate)
        capacity = math.ceil(_positive("buffer_seconds", buffer_seconds) * SAMPLE_RATE)
        self._ring = RingBuffer(capacity)
        self._resampler = StreamResampler(self._rate)
        self._finished = False
        # feed() and finish() may come from different threads; the resampler is stateful.
        self._feed_lock = threading.Lock()

    @property
    def name(self) -> str:
        """``"push"``, with the input rate when it is not 16 kHz."""
        return "push" if self._rate == SAMPLE_RATE else f"push ({self._rate:g} Hz)"

    @property
    def overflow_samples(self) -> int:
        """16 kHz samples dropped because the backlog was full."""
        return self._ring.overflow_frames  # the ring holds 16 kHz mono: frames are samples

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` (or :meth:`close`) was called."""
        return self._finished

    def feed(self, samples: npt.ArrayLike, sample_rate: float | None = None) -> int:
        """Queue ``samples`` (``(n,)`` or ``(n, channels)``, float or int16/int32 PCM).

        ``sample_rate`` defaults to the source's; a different rate from the previous call
        starts a new resampling stream. Returns the number of 16 kHz samples queued (0
        while :meth:`paused <AudioSource.pause>`: that audio is dropped).
        Raises :class:`AudioError` for invalid audio and after :meth:`finish`, and
        :class:`~livewhisper.errors.ClosedError` after :meth:`close`.

        Example::

            source.feed(np.frombuffer(message, dtype=np.int16), sample_rate=44100)
        """
        rate = self._rate if sample_rate is None else check_sample_rate(sample_rate)
        mono = to_mono_float32(samples)
        with self._feed_lock:
            if self.closed:
                raise ClosedError(f"{self.name} is closed: it takes no more audio")
            if self._finished:
                raise AudioError("cannot feed a PushSource after finish()")
            if self.paused:
                return 0  # not heard: not an overflow either
            stored = 0
            if rate != self._resampler.in_rate:
                stored += self._ring.write(self._resampler.flush())
                self._resampler = StreamResampler(rate)
                self._rate = rate
            stored += self._ring.write(self._resampler.process(mono))
            return stored

    def finish(self) -> None:
        """Mark the end of the audio: readers get what is queued, then ``None``.

        Idempotent.

        Example::

            source.finish()
        """
        with self._feed_lock:
            if self._finished:
                return
            self._finished = True
            self._ring.write(self._resampler.flush())
            self._ring.close()

    def _open(self) -> None:
        pass

    def _read(self, timeout: float) -> AudioArray | None:
        return self._ring.read(self._ring.capacity, timeout)

    def _wake(self) -> None:
        with self._feed_lock:
            self._finished = True
        self._ring.close()
