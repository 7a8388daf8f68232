"""Live dictation: an audio source in, :class:`Partial` and :class:`Final` events out.

:class:`Dictation` wires the pipeline: a capture thread reads the source and runs the
:class:`~livewhisper.gate.SpeechGate` (VAD, segmenter, partial schedule); a
:class:`~livewhisper.transcriber.Transcriber` thread decodes; events reach callbacks,
blocking iterators and async iterators.

Example::

    import livewhisper

    with livewhisper.Dictation(language="en", on_final=lambda f: print(f.text)) as d:
        input("Speak; press Enter to stop.\\n")

    # or: iterate over a file played as if it were a microphone
    for event in livewhisper.Dictation(source="talk.wav"):
        if isinstance(event, livewhisper.Final):
            print(event.text)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livewhisper.audio.sources import AudioSource, FileSource, Microphone, PushSource
from livewhisper.engine import DecodeOptions, Engine, SpeechModel, check_options
from livewhisper.errors import ClosedError, LiveWhisperError
from livewhisper.events import Event, Final, Partial, Status
from livewhisper.gate import Signal, SpeechGate, StreamConfig
from livewhisper.lag import LagMonitor
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.segmenter import SegmenterConfig
from livewhisper.transcriber import Transcriber, WorkerStats
from livewhisper.vad import VadConfig

_READ_TIMEOUT = 0.1
_IDLE_WAKE = 5.0  # a paused capture thread wakes for resume() or stop(): this is a bound
_MAX_QUEUED_PARTIALS = 8


@dataclass(frozen=True)
class DictationStats:
    """A snapshot of a running dictation: stream time, losses, work done.

    ``stream_seconds`` is the stream time reached, in seconds of audio;
    ``overflow_samples`` the audio the source dropped because capture fell behind, in
    16 kHz samples whatever the source (``/ 16000`` for seconds); ``worker`` the
    transcriber's counters.

    Example: ``lost = d.stats.overflow_samples / 16000  # seconds``.
    """

    stream_seconds: float
    overflow_samples: int
    worker: WorkerStats


@dataclass(frozen=True)
class Progress:
    """Where a running dictation's text stands against the speech, in stream seconds.

    ``heard``: stream time of all the audio taken so far; ``speech_until``: where the last
    frame the VAD heard as speech ends (0.0 before any); ``shown_until`` /
    ``final_until``: the latest stream time that any text / any final emitted so far
    reaches; ``utterances``: utterances started so far; ``speaking``: one is open (its
    final not yet due); ``finals_pending``: a final waits in the queue or is decoding.

    Example: ``owed = p.speech_until - p.final_until  # speech no final covers yet``.
    """

    heard: float
    speech_until: float
    shown_until: float
    final_until: float
    utterances: int
    speaking: bool
    finals_pending: bool


class _Subscriber:
    """One iterator's events (None: the end), and how to wake an async iterator."""

    def __init__(self, wake: Callable[[], None] | None) -> None:
        self.events: collections.deque[Event | None] = collections.deque()
        self.wake = wake


class _Subscribers:
    """Fan events out to iterators; a slow iterator loses partials, never finals.

    An iterator unsubscribes when it ends, so a loop left early holds nothing.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._subscribers: list[_Subscriber] = []
        self._ended = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._subscribers)

    def add(self, wake: Callable[[], None] | None = None) -> _Subscriber:
        subscriber = _Subscriber(wake)
        with self._cond:
            if self._ended:
                subscriber.events.append(None)
            self._subscribers.append(subscriber)
        return subscriber

    def remove(self, subscriber: _Subscriber) -> None:
        with self._cond:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            subscriber.events.clear()

    def publish(self, event: Event | None) -> None:
        with self._cond:
            if event is None:
                self._ended = True
            for subscriber in self._subscribers:
                if isinstance(event, Partial):
                    partials = sum(isinstance(e, Partial) for e in subscriber.events)
                    if partials >= _MAX_QUEUED_PARTIALS:
                        continue
                subscriber.events.append(event)
                if subscriber.wake is not None:
                    subscriber.wake()
            self._cond.notify_all()

    def take(self, subscriber: _Subscriber) -> Event | None:
        """The next event, waiting for it."""
        with self._cond:
            self._cond.wait_for(lambda: bool(subscriber.events))
            return subscriber.events.popleft()

    def drain(self, subscriber: _Subscriber) -> list[Event | None]:
        """The events queued so far, without waiting."""
        with self._cond:
            events = list(subscriber.events)
            subscriber.events.clear()
            return events


class Dictation:
    """Live speech-to-text from a microphone, a file or pushed audio.

    * ``model``: a model name, path, or a ready :class:`~livewhisper.engine.Engine` (any
      :class:`~livewhisper.engine.SpeechModel`), which the caller keeps and closes.
    * ``source``: an :class:`~livewhisper.audio.sources.AudioSource`; a file path (played
      in real time, as if spoken); ``"push"`` to :meth:`feed` audio yourself; or None
      for the default microphone.
    * ``on_status``: called with a :class:`~livewhisper.events.Status` when the text falls
      more than :attr:`StreamConfig.behind_after` seconds behind the speaker, every second
      while it stays behind, and when it has caught up (run on the capture thread).
    * ``on_partial`` / ``on_final`` / ``on_error``: callbacks, run on the worker thread
      (keep them quick).
    * ``decode``, ``vad``, ``segmenter``, ``stream``: the options of each stage;
      ``language`` overrides ``decode.language``.

    Use :meth:`start`/:meth:`stop` or a ``with`` block; iterate (``for event in d``,
    ``async for event in d``) to receive events until the source ends. A dictation runs
    once: after :meth:`stop`, starting, feeding or iterating raises
    :class:`~livewhisper.errors.ClosedError`. :meth:`pause` and :meth:`resume` switch the
    listening off and on (a hotkey, push-to-talk): while paused nothing is recorded or
    decoded.

    Example::

        d = Dictation(source="push", language="en", on_final=print).start()
        d.feed(samples, sample_rate=48000)
        d.finish()
        d.wait()
    """

    def __init__(
        self,
        model: str | Path | SpeechModel = DEFAULT_MODEL,
        *,
        language: str | None = None,
        source: AudioSource | str | Path | None = None,
        on_partial: Callable[[Partial], None] | None = None,
        on_final: Callable[[Final], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        decode: DecodeOptions | None = None,
        vad: VadConfig | None = None,
        segmenter: SegmenterConfig | None = None,
        stream: StreamConfig | None = None,
        threads: int | None = None,
    ) -> None:
        decode = decode or DecodeOptions()
        if language is not None:
            decode = replace(decode, language=language)
        self.stream_config = stream or StreamConfig()
        self.source = _make_source(source)
        self._own_engine = isinstance(model, (str, Path))
        self.engine: SpeechModel = (
            Engine(model, threads=threads) if isinstance(model, (str, Path)) else model
        )
        try:
            check_options(decode, self.engine.model_name, self.engine.multilingual)
            self.transcriber = Transcriber(
                self.engine,
                decode,
                self._dispatch,
                on_error=self._error,
                stream=self.stream_config,
            )
            # The early decode starts by what the worker's finals cost (sized or full).
            sized = self.transcriber.policy.sized_finals
            self.gate = SpeechGate(vad, segmenter, self.stream_config, sized_finals=sized)
        except BaseException:
            self._close_engine()
            raise
        self._on_partial, self._on_final, self._on_error = on_partial, on_final, on_error
        self._on_status = on_status
        self._lag = LagMonitor(
            self.stream_config.behind_after, partials=self.stream_config.partials
        )
        self._subscribers = _Subscribers()
        self._capture = threading.Thread(
            target=self._capture_loop, name="livewhisper-capture", daemon=True
        )
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._listening.set()
        self._wake_capture = threading.Event()  # resume() or stop() while paused
        self._done = threading.Event()
        self._released = threading.Event()  # stopped, threads ended, engine closed if ours
        self._release_lock = threading.Lock()
        self._started = False
        self.error: BaseException | None = None

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> Dictation:
        """Open the source and start the threads; returns ``self``.

        Raises :class:`~livewhisper.errors.ClosedError` after :meth:`stop`.
        """
        if self._stopping.is_set():
            raise ClosedError("this Dictation is stopped: create a new one")
        if self._started:
            return self
        self._started = True
        try:
            self.source.open()
        except BaseException:
            self._close_engine()
            raise
        if not self._listening.is_set():
            self.source.pause()  # pause() came before there was a source to pause
        self.transcriber.start()
        self._capture.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening, finish the utterance in progress if time allows, release all.

        Returns within about ``timeout`` seconds whatever the state; an engine the
        dictation created is closed then, or once the decode in flight ends. Idempotent.
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake_capture.set()
        self.source.close()
        if self._capture.ident is not None:  # started, and the source opened
            self._capture.join(max(0.0, deadline - time.monotonic()))
            self.transcriber.stop(max(0.0, deadline - time.monotonic()))
        self._finish_events()
        self._release_if_finished()

    @property
    def listening(self) -> bool:
        """False between :meth:`pause` and :meth:`resume`."""
        return self._listening.is_set()

    def pause(self) -> None:
        """Stop listening until :meth:`resume`; returns at once.

        The source stops recording at once (:meth:`AudioSource.pause
        <livewhisper.audio.sources.AudioSource.pause>`), the audio it had captured is
        heard and the utterance in progress finished (its final still comes), then
        nothing more is decoded: what is said while paused is never heard, and costs no
        CPU. Callable before :meth:`start` (the dictation then starts paused) and from
        any thread.

        Example::

            d.pause()      # push-to-talk key released
            d.resume()     # pressed again
        """
        self._listening.clear()
        self.source.pause()

    def resume(self) -> None:
        """Listen again after :meth:`pause`; returns at once.

        Raises :class:`~livewhisper.errors.DeviceError` if a microphone cannot restart.
        """
        self.source.resume()
        self._listening.set()
        self._wake_capture.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source has ended and every final is out; True if it has."""
        return self._done.wait(timeout)

    def __enter__(self) -> Dictation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- push interface ----------------------------------------------------------------
    def feed(self, samples: npt.ArrayLike, sample_rate: float | None = None) -> None:
        """Push audio (``source="push"`` only): any rate, mono or multi-channel."""
        self._push_source().feed(samples, sample_rate)

    def finish(self) -> None:
        """End the pushed stream: the last utterance is finalized, then iteration ends."""
        self._push_source().finish()

    def _push_source(self) -> PushSource:
        if not isinstance(self.source, PushSource):
            raise LiveWhisperError("feed() and finish() need Dictation(source='push')")
        if self._stopping.is_set():
            raise ClosedError("this Dictation is stopped: it takes no more audio")
        return self.source

    # -- events ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        """Events until the source ends (starts the dictation if need be).

        An iteration that starts the dictation owns it: when the loop ends, is left
        (``break``, an exception) or is dropped, the dictation stops and closes the
        engine it created. Leaving a loop over a dictation started elsewhere only stops
        that loop's events. Raises :class:`~livewhisper.errors.ClosedError` after
        :meth:`stop`.

        Example::

            for event in Dictation(source="talk.wav"):   # stopped and closed after the loop
                print(event.text)
        """
        owner = not self._started
        subscriber = self._subscribers.add()
        try:
            self.start()
            while (event := self._subscribers.take(subscriber)) is not None:
                yield event
        finally:
            self._subscribers.remove(subscriber)
            if owner:
                self.stop()

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events until the source ends, for ``async for``; owns what it starts, as
        ``for`` does (the stop runs off the event loop).

        Example::

            async for event in Dictation(source="push"):
                print(event.text)
        """
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to wake
                loop.call_soon_threadsafe(arrived.set)

        owner = not self._started
        subscriber = self._subscribers.add(wake)
        try:
            self.start()
            while True:
                arrived.clear()
                events = self._subscribers.drain(subscriber)
                if not events:
                    await arrived.wait()
                for event in events:
                    if event is None:
                        return
                    yield event
        finally:
            self._subscribers.remove(subscriber)
            if owner:
                await asyncio.to_thread(self.stop)

    @property
    def stats(self) -> DictationStats:
        """Stream time, audio lost to overflow, and the worker's counters."""
        return DictationStats(self.gate.time, self.source.overflow_samples, self.transcriber.stats)

    @property
    def progress(self) -> Progress:
        """Where the text stands against the speech, as of the last block taken."""
        gate, worker = self.gate, self.transcriber
        return Progress(
            heard=gate.time,
            speech_until=gate.last_speech,
            shown_until=worker.shown_until,
            final_until=worker.final_until,
            utterances=gate.utterances,
            speaking=gate.in_utterance,
            finals_pending=worker.finals_pending,
        )

    # -- internals -----------------------------------------------------------------
    def _capture_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self._listening.is_set() and not self._hold():
                    break
                block = self.source.read(_READ_TIMEOUT)
                if block is None:
                    break
                if block.size:
                    self._push(block)
            for job in self.gate.flush(time.monotonic()):
                self._submit(job)
        except BaseException as exc:
            self._error(exc)
        finally:
            self.transcriber.queue.close()
            threading.Thread(
                target=self._await_worker, name="livewhisper-finish", daemon=True
            ).start()

    def _push(self, block: npt.NDArray[np.float32]) -> None:
        settled = self.transcriber.settled
        if settled is not None:
            self.gate.settle(*settled)
        for job in self.gate.push(block, time.monotonic()):
            self._submit(job)
        self._track_lag()

    def _hold(self) -> bool:
        """Paused (the source too): finish the utterance heard so far, sleep until
        resumed; False if the stream ended meanwhile."""
        while True:
            # What the source captured while listening was said to be heard: hear it,
            # even from a resume() and pause() that came and went while this slept.
            while (block := self.source.read(0.0)) is not None and block.size:
                self._push(block)
            if block is None:
                return False
            for job in self.gate.flush(time.monotonic()):
                self._submit(job)
            if self._listening.is_set() or self._stopping.is_set():
                return True
            self._wake_capture.wait(_IDLE_WAKE)
            self._wake_capture.clear()

    def _submit(self, job: Signal) -> None:
        while not self.transcriber.submit(job, timeout=0.5):
            if self._stopping.is_set():
                return

    def _await_worker(self) -> None:
        self.transcriber.join()
        self._finish_events()
        self._capture.join()
        self._release_if_finished()  # a stop() that returned before the worker ended

    def _finish_events(self) -> None:
        if not self._done.is_set() and not self.transcriber.join(0) and not self._stopping.is_set():
            return
        if not self._done.is_set():
            self._done.set()
            self._subscribers.publish(None)

    def _track_lag(self) -> None:
        now = self.progress
        status = self._lag.update(
            now.heard, now.shown_until, now.speaking, now.finals_pending, time.monotonic()
        )
        if status is not None and self._on_status is not None:
            try:
                self._on_status(status)
            except Exception as exc:
                self._error(exc)

    @property
    def lag(self) -> float:
        """Seconds of speech heard but not yet covered by any text, as of the last block
        (see :class:`~livewhisper.lag.LagMonitor`)."""
        return self._lag.lag

    def _dispatch(self, event: Event) -> None:
        callback = self._on_final if isinstance(event, Final) else self._on_partial
        if callback is not None:
            try:
                callback(event)  # type: ignore[arg-type]
            except Exception as exc:
                self._error(exc)
        self._subscribers.publish(event)

    def _error(self, exc: BaseException) -> None:
        self.error = exc
        if self._on_error is not None:
            self._on_error(exc)

    def _release_if_finished(self) -> None:
        with self._release_lock:
            if self._released.is_set() or not self._stopping.is_set():
                return
            if self._capture.is_alive() or not self.transcriber.join(0):
                return  # the worker ends within one decode; _await_worker comes back
            self._close_engine()
            self._released.set()

    def _close_engine(self) -> None:
        if self._own_engine:
            self.engine.close()


def _make_source(source: AudioSource | str | Path | None) -> AudioSource:
    if source is None:
        return Microphone()
    if isinstance(source, AudioSource):
        return source
    if str(source) == "push":
        return PushSource()
    return FileSource(Path(source), realtime=True)
