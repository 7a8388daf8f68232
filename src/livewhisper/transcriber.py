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
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from livewhisper.agreement import LocalAgreement
from livewhisper.engine import DecodeOptions, SpeechModel, audio_ctx_for
from livewhisper.errors import DecodeCancelled
from livewhisper.events import Event, Final, Partial, Transcription, Word
from livewhisper.gate import (
    FinalJob,
    Job,
    PartialJob,
    PauseHeld,
    Signal,
    SpeechResumed,
    StreamConfig,
)
from livewhisper.guards import (
    is_noise,
    is_phantom,
    is_repetitive,
    prompt_from_history,
    sentence_end_confidence,
    tidy,
)
from livewhisper.policy import (
    commit_count,
    cut_point,
    drop_repeated_start,
    next_partial_due,
    words_before,
)

log = logging.getLogger("livewhisper")

# A reused partial must have heard this much beyond the end of speech.
_REUSE_MARGIN = 0.05
_SAMPLE_RATE = 16000
# Fast speech is about 5 tokens a second; a partial may use a few more, never a loop's worth.
_PARTIAL_TOKENS_BASE = 8
_PARTIAL_TOKENS_PER_SECOND = 7
# Partials hear a 5 s margin past their audio and no 15 s floor: 2-3x cheaper than a
# final's context (0.13 s against 0.52 s for 2 s of audio with tiny.en on 2 threads).
_PARTIAL_CTX_FLOOR = 256
_PARTIAL_CTX_MARGIN = 256
# The early decode gets the partials' sized context on tiny models only (see StreamConfig).
_SIZED_EARLY_MAX_LAYERS = 4


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


@dataclass
class _LastPartial:
    utterance: int
    end: float
    result: Transcription


@dataclass(frozen=True)
class _Cut:
    """Utterance ``utterance`` is final up to stream time ``at``, where the final ``said``
    ends (a sentence ended there, or its agreed words were committed)."""

    utterance: int
    at: float
    said: tuple[Word, ...] = ()


def _after(job: Job, at: float) -> Job:
    """``job`` with the audio before stream time ``at`` removed."""
    skip = min(len(job.audio), max(0, round((at - job.start) * _SAMPLE_RATE)))
    return replace(
        job, audio=np.ascontiguousarray(job.audio[skip:]), start=job.start + skip / _SAMPLE_RATE
    )


@dataclass(frozen=True)
class WorkerStats:
    """What the worker has done: decodes run, partials skipped or cancelled, finals reused."""

    decodes: int
    skipped_partials: int
    cancelled_partials: int
    reused_finals: int
    backlog: int
    busy_seconds: float
    committed_finals: int = 0


class Transcriber:
    """Runs decode jobs on one thread with one whisper.cpp context, and emits events.

    ``emit`` receives every :class:`Partial` and :class:`Final`; ``on_error`` any
    exception a decode raised (the worker carries on with the next job).
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
        self.decode = decode
        self.stream = stream or StreamConfig()
        self.queue = JobQueue()
        self._emit = emit
        self._on_error = on_error
        history = self.stream.prompt_history
        self._history: collections.deque[str] = collections.deque(maxlen=max(history, 1))
        self._use_history = history > 0
        context = self.stream.early_decode_context
        self._sized_early = context == "sized" or (
            context == "auto" and engine.encoder_layers <= _SIZED_EARLY_MAX_LAYERS
        )
        self._agreement = LocalAgreement()
        self._agreement_utterance = -1
        self._last_partial: _LastPartial | None = None
        self._cut: _Cut | None = None
        self._resumed: SpeechResumed | None = None
        self._held: PauseHeld | None = None
        self._signalled = threading.Condition()  # woken by every submit and by stop
        self._next_partial = (-1, 0.0)  # (utterance, stream time) before which partials wait
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._inflight: Job | None = None
        self._cancel = threading.Event()
        self._decodes = self._reused = self._cancelled = self._over_budget = self._committed = 0
        self._shown_until = 0.0
        self.behind = False
        """Set while the text is behind the speaker: finals then get a sized context."""
        self._busy = 0.0
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def submit(self, job: Signal, timeout: float | None = None) -> bool:
        """Queue ``job`` (see :meth:`JobQueue.put`).

        A final interrupts the partial decode in flight unless that partial already
        hears the utterance to its end (then the final reuses it), and so does the early
        decode at a pause: neither waits behind interim work. :class:`SpeechResumed`
        withdraws the early decodes it follows: a queued one is dropped, one in flight or
        just done is shown as a partial but neither becomes final nor is reused;
        :class:`PauseHeld` lets the one it follows become a quick final.
        """
        try:
            return self._submit(job, timeout)
        finally:
            with self._signalled:
                self._signalled.notify_all()

    def _submit(self, job: Signal, timeout: float | None) -> bool:
        inflight = self._inflight
        if isinstance(job, PauseHeld):
            self._held = job
            return True
        if isinstance(job, SpeechResumed):
            # An early decode in flight is not cancelled: it finishes as a partial.
            self._resumed = job
            return True
        if not self.queue.put(job, timeout):
            return False
        if isinstance(inflight, PartialJob) and not inflight.early:
            if isinstance(job, FinalJob):
                useless = inflight.end < job.speech_end + _REUSE_MARGIN
            else:
                useless = job.early
            if useless:
                self._cancel.set()
        return True

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
        return WorkerStats(
            decodes=self._decodes,
            skipped_partials=self.queue.skipped_partials + self._over_budget,
            cancelled_partials=self._cancelled,
            reused_finals=self._reused,
            backlog=self.queue.backlog,
            busy_seconds=self._busy,
            committed_finals=self._committed,
        )

    def _run(self) -> None:
        while True:
            job = self.queue.get(timeout=0.5)
            if job is None:
                if self.queue.closed:
                    return
                continue
            try:
                job = self._unfinished(job)
                if isinstance(job, FinalJob):
                    self._final(job)
                elif job is not None:
                    self._partial(job)
            except DecodeCancelled:
                self._cancelled += 1
            except Exception as exc:  # a failed decode must not end the stream
                log.exception("decode failed")
                if self._on_error is not None:
                    self._on_error(exc)

    def _unfinished(self, job: Job) -> Job | None:
        """What of ``job`` is not final yet: all of it, the part after a sentence's end, or None."""
        cut = self._cut
        if cut is None or cut.utterance != job.utterance:
            return job
        if isinstance(job, FinalJob):
            if job.speech_end <= cut.at:
                self._cut = None  # the utterance ends with this job
                return None
        else:
            # A partial needs some speech after the cut; an early decode, anything new.
            needed = (
                self.stream.early_decode_after if job.early else self.stream.first_partial_after
            )
            if job.end - cut.at <= needed:
                return None
        return _after(job, cut.at)

    def _options(self, job: Job) -> DecodeOptions:
        options = self.decode
        if isinstance(job, PartialJob) and (self._sized_early or not job.early):
            # Partials and the early decode at a pause must be quick: no second decode at
            # a higher temperature, an encoder context sized to the audio (a 5 s margin,
            # 2-3x cheaper than the full 30 s), and a token cap so that a decoding loop
            # ("Okay. Okay. Okay...") costs no more than the audio. An early decode that
            # loops anyway is not reused: its final is decoded again with full care.
            # No history prompt: with a sized context it made Whisper drop or lowercase
            # the start of the utterance (see StreamConfig.prompt_history).
            seconds = len(job.audio) / _SAMPLE_RATE
            cap = _PARTIAL_TOKENS_BASE + math.ceil(_PARTIAL_TOKENS_PER_SECOND * seconds)
            return replace(
                options,
                temperature_increment=0.0,
                single_segment=True,
                max_tokens=cap,
                audio_ctx=audio_ctx_for(seconds, _PARTIAL_CTX_FLOOR, _PARTIAL_CTX_MARGIN)
                if options.audio_ctx is None
                else options.audio_ctx,
            )
        if self._use_history and not options.initial_prompt:
            options = replace(options, initial_prompt=prompt_from_history(list(self._history)))
        if options.audio_ctx is None and self.behind:
            # Behind the speaker: a final's context sized to its audio, as a partial's,
            # catches up at some accuracy (base: 19.4% WER against 10.8%, see StreamConfig).
            seconds = len(job.audio) / _SAMPLE_RATE
            return replace(
                options, audio_ctx=audio_ctx_for(seconds, _PARTIAL_CTX_FLOOR, _PARTIAL_CTX_MARGIN)
            )
        if options.audio_ctx is None:
            # Finals decoded after the pause, and the early decode of models larger than
            # tiny, get the full 30 s encoder context.
            return replace(options, audio_ctx=0)
        return options

    def _transcribe(self, job: Job, *, cancellable: bool = True) -> Transcription:
        """Decode ``job``; interim work (a partial or early decode) can be cancelled."""
        started = time.perf_counter()
        self._inflight = job
        try:
            if isinstance(job, PartialJob) and cancellable:
                return self.engine.transcribe(job.audio, self._options(job), cancel=self._cancel)
            return self.engine.transcribe(job.audio, self._options(job))
        finally:
            self._inflight = None
            self._cancel.clear()
            self._busy += time.perf_counter() - started
            self._decodes += 1

    def _within_budget(self, job: PartialJob) -> bool:
        utterance, not_before = self._next_partial
        return job.early or utterance != job.utterance or job.end >= not_before

    def _withdrawn(self, job: PartialJob) -> bool:
        """Whether ``job`` is an early decode that speech resumed after."""
        resumed = self._resumed
        return (
            job.early
            and resumed is not None
            and resumed.utterance == job.utterance
            and job.end < resumed.at
        )

    def _pause_held(self, job: PartialJob) -> bool:
        """Wait until the pause after early decode ``job`` has lasted
        :attr:`StreamConfig.quick_final_after`: True then, False if speech came back
        first, the utterance ended anyway (its final will reuse ``job``) or the worker stops.
        """
        with self._signalled:
            while True:
                held = self._held
                if self._withdrawn(job):
                    return False
                if held is not None and held.utterance == job.utterance and held.at >= job.end:
                    return True
                if self.queue.closed or self.queue.has_final(job.utterance):
                    return False
                self._signalled.wait(0.1)

    def _partial(self, job: PartialJob) -> None:
        if not self._within_budget(job):
            self._over_budget += 1
            return
        busy = self._busy
        try:
            result = None if self._withdrawn(job) else self._transcribe(job)
        finally:
            # Interim work, cancelled or not, holds back the next partial: an early
            # decode that speech then withdraws costs partials, not more CPU.
            utterance, not_before = self._next_partial
            self._next_partial = (
                job.utterance,
                next_partial_due(
                    job.end,
                    self._busy - busy,
                    self.stream.partial_budget,
                    not_before if utterance == job.utterance else 0.0,
                ),
            )
        # A phrase said twice in a row is more often a decoding loop than speech: such a
        # decode neither ends an utterance early nor stands in for its final.
        text = "" if result is None else tidy(result.text)
        doubtful = is_repetitive(text, max_repeats=1)
        if result is not None and job.early and not doubtful and self._quick_final(job, result):
            self._next_partial = (job.utterance, job.end)  # final work, not interim
            return
        if result is None:
            self._cancelled += 1  # withdrawn while it waited in the queue
            return
        if self._withdrawn(job):
            # Speech resumed after the pause this decode ends at: it is neither final nor
            # reused, but it is the freshest reading of the utterance, so it is shown as
            # a partial and counts towards agreement, like any other.
            self._cancelled += 1
        else:
            self._last_partial = None if doubtful else _LastPartial(job.utterance, job.end, result)
        if job.utterance != self._agreement_utterance:
            self._agreement.reset()
            self._agreement_utterance = job.utterance
        words = self._after_seam(job.utterance, [w.with_offset(job.start) for w in result.words])
        self._agreement.update(words)
        if not text or is_phantom(text):
            return
        agreed, pending = self._agreement.committed, self._agreement.pending
        n = commit_count(agreed, pending, window_start=job.start, heard=job.end, config=self.stream)
        if n and not doubtful and self._commit(job, agreed, pending, n):
            agreed = agreed[n:]
        # The agreed prefix never changes, so the text shown is that prefix plus the
        # newest hypothesis's words after it: no flicker in what was already shown.
        stable = "".join(w.word for w in agreed).strip()
        shown = tidy("".join(w.word for w in agreed + pending))
        if not shown:
            return
        self._send(
            Partial(
                shown,
                (agreed + pending)[0].start,
                job.end,
                stable,
                result.language,
                job.arrival,
                time.monotonic(),
            )
        )

    def _after_seam(self, utterance: int, words: list[Word]) -> list[Word]:
        """``words`` of ``utterance`` without what repeats the final before its cut."""
        cut = self._cut
        if cut is None or cut.utterance != utterance or not cut.said:
            return words
        return drop_repeated_start(words, cut.said, cut.at)

    def _commit(
        self, job: PartialJob, agreed: tuple[Word, ...], pending: tuple[Word, ...], n: int
    ) -> bool:
        """Make the first ``n`` agreed words of open utterance ``job`` final: decode its
        audio again with a final's care (that of the early decode), so the words before
        the cut are heard with what follows them, emit those, and let later decodes hear
        only what follows the cut. True if a final came."""
        following = (agreed + pending)[n] if len(agreed) + len(pending) > n else None
        at = cut_point(job.audio, job.start, agreed[n - 1], following)
        result = self._transcribe(replace(job, early=True), cancellable=False)
        final = self._finish(result, job.start, at, job.arrival, job.utterance, until=at)
        if final is None:
            return False
        self._committed += 1
        self._cut = _Cut(job.utterance, at, final.words)
        self._last_partial = None
        self._agreement.reset()
        return True

    def _quick_final(self, job: PartialJob, result: Transcription) -> bool:
        """Emit early decode ``job`` as the final of its utterance so far, if it ends a
        sentence with confidence and the pause holds; True if it did."""
        threshold = self.stream.sentence_confidence
        if (
            threshold is None
            or sentence_end_confidence(result) < threshold
            or not self._pause_held(job)
        ):
            return False
        final = self._finish(
            result, job.start, job.end - self.stream.early_decode_after, job.arrival, job.utterance
        )
        if final is None:
            return False
        self._cut = _Cut(job.utterance, job.end, final.words)
        self._last_partial = None
        self._agreement.reset()
        return True

    def _final(self, job: FinalJob) -> None:
        last = self._last_partial
        if (
            last is not None
            and last.utterance == job.utterance
            and last.end >= job.speech_end + _REUSE_MARGIN
            and not job.forced
        ):
            result = last.result
            self._reused += 1
        else:
            result = self._transcribe(job)
        self._last_partial = None
        self._agreement.reset()
        self._finish(result, job.start, job.speech_end, job.arrival, job.utterance)
        if self._cut is not None and self._cut.utterance == job.utterance:
            self._cut = None  # the utterance ends with this job

    def _finish(
        self,
        result: Transcription,
        start: float,
        speech_end: float,
        arrival: float,
        utterance: int,
        *,
        until: float | None = None,
    ) -> Final | None:
        """Emit ``result`` (audio from stream time ``start``) as a final of ``utterance``,
        only its words centred before stream time ``until`` if given, unless it is noise;
        the final, or None."""
        words = tuple(w.with_offset(start) for w in result.words)
        text = tidy(result.text)
        kept = self._after_seam(utterance, list(words))
        if until is not None:
            kept = words_before(kept, until)
        if len(kept) < len(words):
            words, text = tuple(kept), tidy("".join(w.word for w in kept))
        if not text or is_noise(text, speech_end - start, [w.probability for w in words]):
            return None
        if self._use_history:
            self._history.append(text)
        first = words[0].start if words else start
        end = max(words[-1].end, first) if words else speech_end
        final = Final(text, first, end, words, result.language, arrival, time.monotonic())
        self._send(final)
        return final

    def _send(self, event: Event) -> None:
        self._shown_until = max(self._shown_until, event.end)
        self._emit(event)

    @property
    def finals_pending(self) -> bool:
        """Whether a final job waits in the queue or is being decoded."""
        return self.queue.backlog > 0 or isinstance(self._inflight, FinalJob)

    @property
    def settled(self) -> tuple[int, float] | None:
        """(utterance, stream time): the open utterance whose text is final up to that
        time, after a commit or a quick final; None when there is none. Read from any
        thread (the capture thread hands it to :meth:`SpeechGate.settle`)."""
        cut = self._cut
        return None if cut is None else (cut.utterance, cut.at)

    @property
    def shown_until(self) -> float:
        """The latest stream time that any text emitted so far reaches (0.0 before any)."""
        return self._shown_until
