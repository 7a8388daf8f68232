"""The inference worker: decode jobs in, :class:`Partial` and :class:`Final` events out.

One worker thread per whisper.cpp context, fed by :class:`JobQueue`: final jobs wait in a
bounded FIFO and are never dropped; partial jobs share a single slot, so when inference
falls behind only the newest partial is kept and the rest are skipped (and counted).
Finals go first. A final reuses the last partial's decode when that already covered all
of the utterance's speech, which saves a whole decode at the moment latency matters; and
when the quick decode made at a short pause ends a sentence with confidence, it becomes
the final as soon as the pause has lasted :attr:`StreamConfig.quick_final_after`
(:attr:`StreamConfig.sentence_confidence`): the rest of the utterance, if speech resumes,
is decoded on its own. Partials and early decodes together keep within
:attr:`StreamConfig.partial_budget`. While a long utterance goes on, the words its
partials agree on become finals at sentence ends (:mod:`livewhisper.policy`), and the
utterance is settled up to that cut (:attr:`Transcriber.settled`), so decodes stay short
and text keeps up with a speaker who never pauses.

Example::

    worker = Transcriber(engine, DecodeOptions(language="en"), emit=print)
    worker.start()
    worker.queue.put(job)
    worker.stop()
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from livewhisper.engine import DecodeOptions, SpeechModel
from livewhisper.errors import DecodeCancelled
from livewhisper.events import Event, Transcription
from livewhisper.gate import (
    FinalJob,
    Job,
    PartialJob,
    PauseHeld,
    Signal,
    SpeechResumed,
    StreamConfig,
    sized_final_decodes,
)
from livewhisper.policy import (
    Commit,
    Decode,
    Reuse,
    StreamPolicy,
    WaitForPause,
)
from livewhisper.segmenter import SAMPLE_RATE

log = logging.getLogger("livewhisper")


class JobQueue:
    """Finals in a bounded FIFO (``put`` waits when full), partials in a one-job slot."""

    def __init__(self, max_finals: int = 32) -> None:
        self._finals: collections.deque[FinalJob] = collections.deque()
        self._partial: PartialJob | None = None
        self._max = max_finals
        self._cond = threading.Condition()
        self._closed = False
        self.skipped_partials = 0

    def put(self, job: Job, timeout: float | None = None) -> bool:
        """Queue ``job``; False only if a final found the queue full for ``timeout`` s."""
        with self._cond:
            if isinstance(job, PartialJob):
                if self._partial is not None:
                    self.skipped_partials += 1
                self._partial = job
            else:
                if not self._cond.wait_for(lambda: len(self._finals) < self._max, timeout):
                    return False
                if self._partial is not None and self._partial.utterance <= job.utterance:
                    self._partial = None  # the final supersedes it
                    self.skipped_partials += 1
                self._finals.append(job)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Job | None:
        """The next job, finals first; None after ``timeout`` s or once closed and empty."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._finals or self._partial is not None or self._closed, timeout
            )
            if self._finals:
                job: Job = self._finals.popleft()
            elif self._partial is not None:
                job, self._partial = self._partial, None
            else:
                return None
            self._cond.notify_all()
            return job

    def has_final(self, utterance: int) -> bool:
        """Whether a final job of ``utterance`` waits in the queue."""
        with self._cond:
            return any(job.utterance == utterance for job in self._finals)

    @property
    def backlog(self) -> int:
        """Final jobs waiting for the worker."""
        with self._cond:
            return len(self._finals)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self, *, discard: bool = False) -> None:
        """Wake the worker so that it exits once the queue is empty (now, if ``discard``)."""
        with self._cond:
            self._closed = True
            if discard:
                self._finals.clear()
                self._partial = None
            self._cond.notify_all()


@dataclass(frozen=True)
class WorkerStats:
    """What the worker has done: decodes run, partials skipped or cancelled (early decodes
    withdrawn by speech resuming count as cancelled), finals reused, finals committed
    inside long utterances, final jobs waiting, and seconds spent decoding."""

    decodes: int
    skipped_partials: int
    cancelled_partials: int
    reused_finals: int
    backlog: int
    busy_seconds: float
    committed_finals: int = 0


class Transcriber:
    """Runs decode jobs on one thread with one whisper.cpp context, and emits events.

    The decisions are :class:`~livewhisper.policy.StreamPolicy`'s; this class owns the
    thread, the engine, cancellation and the waiting. ``emit`` receives every
    :class:`Partial` and :class:`Final`; ``on_error`` any exception a decode raised (the
    worker carries on with the next job).
    """

    def __init__(
        self,
        engine: SpeechModel,
        decode: DecodeOptions,
        emit: Callable[[Event], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        stream: StreamConfig | None = None,
        name: str = "livewhisper-transcriber",
    ) -> None:
        self.engine = engine
        self.stream = stream or StreamConfig()
        self.policy = StreamPolicy(
            self.stream,
            decode,
            sized_finals=sized_final_decodes(self.stream, engine.encoder_layers),
        )
        self.queue = JobQueue()
        self._emit = emit
        self._on_error = on_error
        self._signalled = threading.Condition()  # woken by every submit and by stop
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._inflight: Job | None = None
        self._cancel = threading.Event()
        self._decodes = self._cancelled = 0
        self._busy = 0.0

    @property
    def decode(self) -> DecodeOptions:
        """The stream's decode options."""
        return self.policy.decode

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def submit(self, job: Signal, timeout: float | None = None) -> bool:
        """Queue ``job`` (see :meth:`JobQueue.put`).

        A final interrupts the partial decode in flight unless that partial already
        hears the utterance to its end (then the final reuses it), and so does the early
        decode at a pause: neither waits behind interim work. :class:`SpeechResumed`
        withdraws the early decodes it follows unless their pause had already held: a
        queued one is dropped, one in flight or just done is shown as a partial but
        neither becomes final nor is reused; :class:`PauseHeld` lets the one it follows
        become a quick final.
        """
        try:
            if isinstance(job, PauseHeld | SpeechResumed):
                self.policy.signal(job)
                return True
            inflight = self._inflight
            if not self.queue.put(job, timeout):
                return False
            self.policy.queued(job)
            if self.policy.supersedes(inflight, job):
                self._cancel.set()
            return True
        finally:
            with self._signalled:
                self._signalled.notify_all()

    def stop(self, timeout: float = 2.0) -> bool:
        """Finish the queued jobs and stop; True if the thread ended within ``timeout``.

        Jobs still queued at the deadline are discarded, so the thread ends right after
        the decode in progress, if any.
        """
        self.queue.close()
        with self._signalled:
            self._signalled.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self.queue.close(discard=True)
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end after :meth:`stop` or a closed queue."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def stats(self) -> WorkerStats:
        """Counters for monitoring and benchmarks."""
        policy = self.policy.stats
        return WorkerStats(
            decodes=self._decodes,
            skipped_partials=self.queue.skipped_partials + policy.over_budget,
            cancelled_partials=self._cancelled + policy.withdrawn,
            reused_finals=policy.reused,
            backlog=self.queue.backlog,
            busy_seconds=self._busy,
            committed_finals=policy.committed,
        )

    @property
    def shown_until(self) -> float:
        """The latest stream time that any text emitted so far reaches (0.0 before any)."""
        return self.policy.shown_until

    @property
    def final_until(self) -> float:
        """The latest stream time that any final emitted so far reaches (0.0 before any)."""
        return self.policy.final_until

    @property
    def finals_pending(self) -> bool:
        """Whether a final job waits in the queue or is being decoded."""
        return self.queue.backlog > 0 or isinstance(self._inflight, FinalJob)

    @property
    def settled(self) -> tuple[int, float] | None:
        """(utterance, stream time): the open utterance whose text is final up to that
        time, after a commit or a quick final; None when there is none. Read from any
        thread (the capture thread hands it to :meth:`SpeechGate.settle`)."""
        return self.policy.settled

    def _run(self) -> None:
        while True:
            job = self.queue.get(timeout=0.5)
            if job is None:
                if self.queue.closed:
                    return
                continue
            try:
                self._handle(job)
            except DecodeCancelled:  # the engine was closed under us: the stream is ending
                log.debug("a final's decode was cancelled: the engine is closed")
            except Exception as exc:  # a failed decode must not end the stream
                log.exception("decode failed")
                if self._on_error is not None:
                    self._on_error(exc)

    def _handle(self, job: Job) -> None:
        step = self.policy.plan(job)
        if step is None:
            return
        if isinstance(step, Reuse):
            self._send(self.policy.final_done(step.job, step.result, time.monotonic()))
            return
        started = time.perf_counter()
        try:
            result = self._transcribe(step)
        except DecodeCancelled:
            self._cancelled += 1
            if isinstance(step.job, PartialJob):  # interim work costs partials, done or not
                self.policy.charge(step.job, time.perf_counter() - started)
            return
        if isinstance(step.job, FinalJob):
            self._send(self.policy.final_done(step.job, result, time.monotonic()))
            return
        cost = time.perf_counter() - started
        outcome = self.policy.partial_done(step.job, result, cost, time.monotonic())
        if isinstance(outcome, WaitForPause):
            held = self._pause_held(outcome)
            outcome = self.policy.after_pause(outcome, held, time.monotonic())
        if isinstance(outcome, Commit):
            self._send(list(outcome.shown))
            result = self._transcribe(outcome.decode)
            outcome = self.policy.commit_done(outcome, result, time.monotonic())
        self._send(outcome)

    def _transcribe(self, step: Decode) -> Transcription:
        """Run ``step``, cancellable through :meth:`submit` if it is interim work."""
        started = time.perf_counter()
        self._inflight = step.job
        outcome = "failed"
        try:
            cancel = self._cancel if step.cancellable else None
            result = self.engine.transcribe(step.job.audio, step.options, cancel=cancel)
            outcome = "done"
            return result
        except DecodeCancelled:
            outcome = "cancelled"
            raise
        finally:
            self._inflight = None
            self._cancel.clear()
            cost = time.perf_counter() - started
            self._busy += cost
            self._decodes += 1
            log.debug(
                "decode %s: utterance %d, %.2f s of audio from %.2f s, %s in %.3f s",
                _kind(step),
                step.job.utterance,
                len(step.job.audio) / SAMPLE_RATE,
                step.job.start,
                outcome,
                cost,
            )

    def _pause_held(self, wait: WaitForPause) -> bool:
        """Wait until the policy knows whether the pause after ``wait``'s early decode
        held: False too if the utterance ended anyway (its final will reuse the decode) or
        the worker stops."""
        job = wait.job
        with self._signalled:
            while True:
                held = self.policy.pause(job, wait.silence)
                if held is not None:
                    return held
                if self.queue.closed or self.queue.has_final(job.utterance):
                    return False
                self._signalled.wait(0.1)

    def _send(self, events: list[Event]) -> None:
        for event in events:
            self._emit(event)


def _kind(step: Decode) -> str:
    """What ``step`` decodes, for the debug log: final, commit, early or partial."""
    job = step.job
    if isinstance(job, FinalJob):
        return "final"
    if not step.cancellable:
        return "commit"
    return "early" if job.early else "partial"
