"""The streaming rules: what to decode next, what becomes final, and when.

No threads, no clock, no engine. :class:`StreamPolicy` takes the signals of the capture
stage and the decode results (with their cost) of one stream and answers with what to do:
a :class:`Decode` to run, a result to reuse, events to emit. The worker
(:mod:`livewhisper.transcriber`) owns the engine, the thread and the waiting, and carries
the answers out, so every rule here is tested in milliseconds on recorded decode results.
Every time is a stream time in seconds; wall-clock times come in as arguments.

* **Reuse.** A final reuses the last partial decode when that already heard the whole
  utterance (the early decode at a pause usually has), saving a decode when latency
  matters most.
* **Quick finals.** An early decode that ends a sentence with confidence
  (:attr:`StreamConfig.sentence_confidence`) becomes the final once the pause has held
  :attr:`StreamConfig.quick_final_after`; speech resuming before that withdraws it (it
  is then shown as a partial, never as a final). Only the order of the signals counts,
  not how long the decode took, so a busy machine gives the same finals.
* **Commits inside a long utterance** (:func:`commit_count`, :func:`cut_point`). A
  speaker who reads or dictates without pausing would otherwise get one final per 25 s
  utterance, decoded only at its end, with partials that grow ever dearer. Instead the
  words that successive partial decodes agree on (LocalAgreement-2, as in Macháček et
  al., *Turning Whisper into Real-Time Transcription System*, 2023, and its
  whisper_streaming code) become a final as soon as they close a sentence, or once the
  undecided window grows past :attr:`StreamConfig.commit_span`; the utterance is cut at
  the quietest point between the last committed word and the next, and later decodes
  hear only the audio after the cut.
* **Seams** (:func:`drop_repeated_start`): a word that straddles the cut can be heard
  on both sides of it; the repeat is dropped from the start of the next text.
* **Cancellation** (:meth:`StreamPolicy.supersedes`): a partial in flight is cancelled
  for a final it cannot stand in for, or for an early decode that hears
  :attr:`StreamConfig.early_cancel_after` more; else it finishes and is shown, without a
  say in agreement.
* **Partial cadence** (:func:`next_partial_due`): interim decodes keep within
  :attr:`StreamConfig.partial_budget` of real time, but never hold the next partial back
  more than :attr:`StreamConfig.max_partial_wait`: a busy machine gets sparser partials,
  never stale text nor a growing queue.

Example::

    n = commit_count(agreed, pending, window_start=12.0, heard=19.5, config=StreamConfig())
    if n:
        cut = cut_point(audio, audio_start=12.0, last=agreed[n - 1], following=next_word)
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from livewhisper.agreement import LocalAgreement
from livewhisper.events import Event, Final, Partial, Transcription, Word
from livewhisper.gate import FinalJob, Job, PartialJob, PauseHeld, SpeechResumed, StreamConfig
from livewhisper.guards import (
    drop_loops,
    ends_sentence,
    is_noise,
    is_phantom,
    is_repetitive,
    prompt_from_history,
    sentence_end_confidence,
    tidy,
    trails_off,
)
from livewhisper.options import DecodeOptions, audio_ctx_for
from livewhisper.segmenter import SAMPLE_RATE, quietest
from livewhisper.wer import normalize

__all__ = [
    "Commit",
    "Decode",
    "PolicyStats",
    "Reuse",
    "StreamPolicy",
    "WaitForPause",
    "commit_count",
    "cut_point",
    "drop_repeated_start",
    "is_pause",
    "next_partial_due",
]

# Where a clause ends: a forced commit prefers to cut there rather than mid-phrase.
_CLAUSE_ENDS = (",", ";", ":")
# The quiet point of a cut is searched from this long before the last word of a final to
# this long past the word after it, or this far past the last word when none follows,
# and never this close to the start of the audio (see cut_point).
_CUT_BEFORE = 1.5
_CUT_PAST = 1.0
_CUT_AFTER = 0.3
_CUT_FLOOR = 1.0
# A commit's decode hears this much past its cut (the rest of the quiet 0.1 s).
_CUT_TAIL = 0.05
# A pause between words (is_pause): 0.1 s at least 10 dB below the median 0.1 s.
_PAUSE_SPAN = 0.1
_PAUSE_RATIO = 0.1
# A commit waits for a cut point that is a pause until its window is this much longer
# than commit_span; then it cuts at the quietest point found.
_PAUSE_GRACE = 2.0
# Past commit_span, the newest decode's words this old are final even if no two decodes
# agreed on them: Whisper rarely rewrites words heard 2 s before the end of its audio.
_SETTLED_AGE = 2.0
# Later decodes hear this much audio before a cut: the cut is in the quietest gap found,
# and a window that starts right at a word's onset often loses that word. What they hear
# again of the final before the cut is dropped by its text (drop_repeated_start).
_SEAM_PAD = 0.3
# A commit whose decode trailed off is not tried again at a cut this close (s) to its own.
_REFUSED_SPAN = 0.5
# A repeat of one or two words is only a seam artefact when heard this close to the cut.
_SEAM = 1.0
# Longest run of words a seam can repeat.
_SEAM_WORDS = 10
# Signals kept to judge a slow early decode by: at most two per early decode.
_SIGNALS_KEPT = 64
# A reused partial must have heard this much beyond the end of speech.
_REUSE_MARGIN = 0.05
# Fast speech is about 5 tokens a second; a partial may use a few more, never a loop's worth.
_PARTIAL_TOKENS_BASE = 8
_PARTIAL_TOKENS_PER_SECOND = 7
# Partials hear a 5 s margin past their audio and no 15 s floor: 2-3x cheaper than a
# final's context (0.13 s against 0.52 s for 2 s of audio with tiny.en on 2 threads).
_PARTIAL_CTX_FLOOR = 256
_PARTIAL_CTX_MARGIN = 256


def commit_count(
    agreed: Sequence[Word],
    pending: Sequence[Word],
    *,
    window_start: float,
    heard: float,
    config: StreamConfig,
) -> int:
    """How many words of ``agreed + pending`` to make final now; 0 for none yet.

    ``agreed`` are the words of the open utterance that partial decodes agree on and that
    no final holds yet, in order; ``pending`` the newest decode's words after them;
    ``window_start`` where the undecided audio starts (the utterance's start or the last
    cut) and ``heard`` where the decoded audio ends. Rules, in order:

    * nothing before :attr:`StreamConfig.commit_after` seconds of window, so ordinary
      dictation with pauses keeps one final per utterance;
    * up to the last agreed word that ends a sentence and is followed by another word
      (a period on the newest word is often Whisper closing audio that was cut off);
    * once the window reaches :attr:`StreamConfig.commit_span`: the agreed words, and
      where decodes keep disagreeing (crosstalk, noise) the newest decode's words heard
      more than 2 s ago too, up to the last clause end (``,`` ``;`` ``:``) in their
      second half, else all of them. So no final waits for, and no decode hears, much
      more than that many seconds, which keeps partials cheap and frequent.

    Example: agreed " Ask" " not." " What" over a 4 s window give 2: "Ask not." is
    closed by " What", which stays undecided.
    """
    if heard - window_start < config.commit_after:
        return 0
    following = len(agreed) + len(pending)
    closed = [i + 1 for i, w in enumerate(agreed) if ends_sentence(w.word) and i + 1 < following]
    if closed:
        return closed[-1]
    if heard - window_start < config.commit_span:
        return 0
    settled = len(agreed)
    while settled < following and pending[settled - len(agreed)].end <= heard - _SETTLED_AGE:
        settled += 1
    words = [*agreed, *pending][:settled]
    clauses = [i + 1 for i, w in enumerate(words) if w.word.rstrip().endswith(_CLAUSE_ENDS)]
    late = [n for n in clauses if n > settled // 2]
    return late[-1] if late else settled


def cut_point(
    audio: npt.NDArray[np.float32],
    audio_start: float,
    last: Word,
    following: Word | None,
) -> float:
    """The stream time at which to cut ``audio`` (16 kHz mono float32 starting at stream
    time ``audio_start``) after word ``last``, before the word ``following`` it (None when
    the decode ended there): the centre of the quietest 0.1 s (:func:`quietest`) from
    1.5 s before ``last`` starts to 1 s past the end of ``following`` (0.3 s past ``last``
    without one), inside the audio and leaving at least 1 s before the cut.

    The search is that wide because whisper.cpp's word times drift by up to two seconds
    (most where a pause is, which is where sentences end), and what matters is that the
    cut falls between words: the final is decoded from the audio before it, the rest
    from the audio after it, so the cut need not be exactly after ``last``.

    Example: ``cut_point(audio, 12.0, Word(" you.", 14.1, 14.4, 0.9), Word(" Ask", 14.9,
    15.2, 0.9))`` is a time between 13.0 and 16.2, in the silence if there is one.
    """
    end = audio_start + len(audio) / SAMPLE_RATE
    lo = max(last.start - _CUT_BEFORE, audio_start + _CUT_FLOOR)
    hi = min(end, following.end + _CUT_PAST if following is not None else last.end + _CUT_AFTER)
    if hi <= lo:
        return min(max(last.end, audio_start), end)
    first = round((lo - audio_start) * SAMPLE_RATE)
    region = audio[first : round((hi - audio_start) * SAMPLE_RATE)]
    offset = quietest(region)
    if offset is None:
        return (lo + hi) / 2
    return audio_start + (first + offset) / SAMPLE_RATE


def is_pause(audio: npt.NDArray[np.float32], audio_start: float, at: float) -> bool:
    """Whether the 0.1 s of ``audio`` (16 kHz mono float32 from stream time
    ``audio_start``) centred at stream time ``at`` is a pause between words: at least
    10 dB below the median 0.1 s of the audio, the level of its speech. The quietest
    0.1 s of fluent speech without a pause is often a weak consonant inside a word.

    Example: the centre of 0.2 s of zeros between two tones is a pause; any point of a
    steady tone is not.
    """
    hop = round(_PAUSE_SPAN * SAMPLE_RATE)
    blocks = len(audio) // hop
    if blocks < 2:
        return False
    power = np.square(audio[: blocks * hop].astype(np.float64)).reshape(blocks, hop).mean(axis=1)
    centre = round((at - audio_start) * SAMPLE_RATE)
    window = audio[max(0, centre - hop // 2) : centre + hop // 2].astype(np.float64)
    if window.size == 0:
        return False
    return float(np.mean(np.square(window))) <= _PAUSE_RATIO * float(np.median(power))


def drop_repeated_start(words: Sequence[Word], said: Sequence[Word], cut: float) -> list[Word]:
    """``words`` (stream times, a decode of audio that starts :data:`_SEAM_PAD` before
    ``cut``) without what they hear again of ``said``, the words already final.

    The re-heard words are found by their text: the leading run of ``words`` that best
    repeats the end of ``said`` (up to 10 spoken words, their word edit distance at most
    :func:`_seam_mismatches`: a word on either side may be heard otherwise, missed or
    split in two); a run of one or two words only within a second of ``cut`` (further,
    it is a speaker's own repeat). Longer runs are found by their text alone: whisper.cpp
    times words up to two seconds off in a window that starts inside speech.

    Example: said " for you." and cut 14.3; words " you. Ask not" (" you." at 14.2) give
    " Ask not"; so do " do for you, Ask not".
    """
    keys = [normalize(w.word) for w in words]
    spoken = [i for i, k in enumerate(keys) if k]
    tail = [k for k in (normalize(w.word) for w in said) if k][-_SEAM_WORDS:]
    best, best_score = 0, 0
    for m in range(1, min(len(spoken), _SEAM_WORDS + 2) + 1):
        if m < 3 and words[spoken[m - 1]].start >= cut + _SEAM:
            continue  # one or two words far from the cut: a speaker's own repeat
        heard = [keys[i] for i in spoken[:m]]
        for n in range(1, len(tail) + 1):
            errors = word_edits(heard, tail[-n:])
            score = m - 2 * errors
            if errors <= _seam_mismatches(max(m, n)) and score >= best_score and score > 0:
                best, best_score = m, score
    if not best:
        return list(words)
    return _without_punctuation_start(words[spoken[best - 1] + 1 :])


def word_edits(a: Sequence[str], b: Sequence[str]) -> int:
    """The word edit distance (Levenshtein: substitutions, insertions, deletions) of
    ``a`` and ``b``. Example: ``word_edits(["i", "have", "a"], ["i", "have", "the"])``
    is 1."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def _seam_mismatches(n: int) -> int:
    """Edits allowed between a re-heard run of ``n`` words and the end of the final:
    none up to two words, one from three ("I have a" / "I have the"), two from seven."""
    return 0 if n < 3 else 1 if n < 7 else 2


def _without_punctuation_start(words: Sequence[Word]) -> list[Word]:
    """``words`` without leading punctuation-only words (the mark that closed a dropped
    word)."""
    first = 0
    while first < len(words) and not normalize(words[first].word):
        first += 1
    return list(words[first:])


def next_partial_due(
    end: float, cost: float, budget: float, not_before: float, max_wait: float
) -> float:
    """The stream time before which the next partial of an utterance waits, after an
    interim decode of audio ending at ``end`` that took ``cost`` wall seconds: ``cost /
    budget`` seconds of audio later but never more than ``max_wait``, and never sooner
    than ``not_before`` (the previous due time of the same utterance).

    The cap is what keeps text fresh on a slow or busy machine: there a decode costs
    more, and the budget alone would hold partials back for tens of seconds; past the cap
    partials take a larger share of the CPU instead.

    Example: ``next_partial_due(10.0, 0.25, 0.25, 0.0, 2.0)`` is 11.0; with a cost of 1.0
    it is 12.0, not 14.0.
    """
    return max(end + min(cost / budget, max_wait), not_before)


# -- the policy object ----------------------------------------------------------------------


@dataclass(frozen=True)
class Decode:
    """Decode ``job`` with ``options``; ``cancellable`` if later work may cancel it (the
    interim decodes: partials and early decodes)."""

    job: Job
    options: DecodeOptions
    cancellable: bool


@dataclass(frozen=True)
class Reuse:
    """Final job ``job`` needs no decode: ``result`` (the last partial's) already heard
    all of its speech. Hand it to :meth:`StreamPolicy.final_done`."""

    job: FinalJob
    result: Transcription


@dataclass(frozen=True)
class WaitForPause:
    """Early decode ``job`` ends a sentence: wait until :meth:`StreamPolicy.pause` tells
    whether a pause of ``silence`` seconds held, then call :meth:`StreamPolicy.after_pause`."""

    job: PartialJob
    result: Transcription
    silence: float


@dataclass(frozen=True)
class Commit:
    """Make the open utterance final up to stream time ``at``: emit ``shown`` (the partial
    of the decode that prompted the commit: the text keeps up while the commit decodes),
    run ``decode`` (its audio before ``at``, decoded as the early decode at a pause is),
    hand the result to :meth:`StreamPolicy.commit_done`; ``words`` are the partials' words
    that prompted it (stream times), ``rest`` the partial to show after that final;
    ``forced`` when the window grew 2 s past ``commit_span``: the cut is made whether or
    not it falls in a pause, and stands whatever its decode says."""

    decode: Decode
    at: float
    arrival: float
    words: tuple[Word, ...]
    rest: Partial | None
    shown: tuple[Event, ...] = ()
    forced: bool = False


@dataclass(frozen=True)
class PolicyStats:
    """Interim work not done or not used: partials held back by the budget, early decodes
    withdrawn by speech resuming (queued ones not decoded, done ones shown as partials),
    finals that reused a partial's decode, commits made inside long utterances, and
    commits not made because their decode trailed off."""

    over_budget: int
    withdrawn: int
    reused: int
    committed: int
    refused: int = 0


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


def _until(job: PartialJob, at: float) -> npt.NDArray[np.float32]:
    """The audio of ``job`` before stream time ``at``."""
    return job.audio[: max(0, min(len(job.audio), round((at - job.start) * SAMPLE_RATE)))]


def _after(job: Job, at: float) -> Job:
    """``job`` with the audio before stream time ``at`` removed."""
    skip = min(len(job.audio), max(0, round((at - job.start) * SAMPLE_RATE)))
    return replace(
        job, audio=np.ascontiguousarray(job.audio[skip:]), start=job.start + skip / SAMPLE_RATE
    )


class StreamPolicy:
    """The decisions of one stream's worker, as a state machine over signals and results.

    ``stream`` and ``decode`` are the stream's options; ``sized_finals`` whether the
    decodes that make finals get a sized context
    (:func:`~livewhisper.gate.sized_final_decodes`). The worker calls:

    * :meth:`signal` with every :class:`~livewhisper.gate.PauseHeld` and
      :class:`~livewhisper.gate.SpeechResumed`, and :meth:`queued` then :meth:`supersedes`
      with every new job, the latter to know whether the interim decode in flight has
      become useless (cancel it);
    * :meth:`plan` with each job it takes from the queue: a :class:`Decode`, a
      :class:`Reuse` or None (nothing to do);
    * :meth:`partial_done` / :meth:`final_done` with the decode's result, and after a
      :class:`WaitForPause` or a :class:`Commit`, :meth:`after_pause` /
      :meth:`commit_done`. Each returns the events to emit, in order.

    Example::

        policy = StreamPolicy(StreamConfig(), DecodeOptions(language="en"), sized_finals=True)
        step = policy.plan(job)
        if isinstance(step, Decode):
            result = engine.transcribe(step.job.audio, step.options)
    """

    def __init__(self, stream: StreamConfig, decode: DecodeOptions, *, sized_finals: bool) -> None:
        self.stream = stream
        self.decode = decode
        self.sized_finals = sized_finals
        history = stream.prompt_history
        self._history: collections.deque[str] = collections.deque(maxlen=max(history, 1))
        self._use_history = history > 0
        self._agreement = LocalAgreement()
        self._agreement_utterance = -1
        self._last_partial: _LastPartial | None = None
        self._cut: _Cut | None = None
        # Recent signals, oldest first: a slow decode is judged by the ones that followed
        # its own audio, however many came since.
        self._signals: collections.deque[PauseHeld | SpeechResumed] = collections.deque(
            maxlen=_SIGNALS_KEPT
        )
        self._next_partial = (-1, 0.0)  # (utterance, stream time) before which partials wait
        self._early_queued = (-1, 0.0)  # (utterance, audio end) of the latest early decode
        self._refused = (-1, 0.0)  # (utterance, stream time) of a cut found inside a word
        self._shown_until = 0.0
        self._final_until = 0.0
        self._over_budget = self._withdrawn_count = self._reused = self._committed = 0
        self._refused_count = 0

    # -- what the worker reads ---------------------------------------------------------
    @property
    def stats(self) -> PolicyStats:
        """Counters for monitoring and benchmarks."""
        return PolicyStats(
            self._over_budget,
            self._withdrawn_count,
            self._reused,
            self._committed,
            self._refused_count,
        )

    @property
    def shown_until(self) -> float:
        """The latest stream time that any text emitted so far reaches (0.0 before any)."""
        return self._shown_until

    @property
    def final_until(self) -> float:
        """The latest stream time that any final emitted so far reaches (0.0 before any)."""
        return self._final_until

    @property
    def settled(self) -> tuple[int, float] | None:
        """(utterance, stream time): the open utterance whose audio before that time is no
        longer needed (a commit or a quick final made it final, less a short pad later
        decodes hear again); None when there is none."""
        cut = self._cut
        return None if cut is None else (cut.utterance, cut.at - _SEAM_PAD)

    # -- signals -------------------------------------------------------------------------
    def signal(self, signal: PauseHeld | SpeechResumed) -> None:
        """Take a signal of the capture stage. An early decode in flight when speech
        resumes is not cancelled: it finishes, and is shown as a partial."""
        self._signals.append(signal)

    def queued(self, job: Job) -> None:
        """Take ``job``, just queued: a partial decode that an early decode hearing more
        was queued after is left to finish without a say in agreement."""
        if isinstance(job, PartialJob) and job.early:
            self._early_queued = (job.utterance, job.end)

    def supersedes(self, inflight: Job | None, incoming: Job) -> bool:
        """Whether ``incoming``, just queued, makes the partial decode ``inflight``
        useless: a final that it does not hear to its end (it cannot be reused), or an
        early decode that hears :attr:`StreamConfig.early_cancel_after` more. Early
        decodes themselves are never superseded."""
        if not isinstance(inflight, PartialJob) or inflight.early:
            return False
        if isinstance(incoming, FinalJob):
            return inflight.end < incoming.speech_end + _REUSE_MARGIN
        return incoming.early and (
            incoming.utterance != inflight.utterance
            or incoming.end - inflight.end >= self.stream.early_cancel_after
        )

    def pause(self, job: PartialJob, silence: float) -> bool | None:
        """For early decode ``job`` (a :class:`WaitForPause`): True once ``silence`` seconds
        of pause after it have held, False if speech came back first, None while neither
        is known.

        Only the order of the signals counts, never how long the decode took: a pause that
        held before speech resumed makes a quick final however late the decode ends, so a
        busy machine gives the same finals as an idle one.
        """
        first = self._first_after(job, silence)
        return None if first is None else first is PauseHeld

    # -- planning ------------------------------------------------------------------------
    def plan(self, job: Job) -> Decode | Reuse | None:
        """What to do with ``job``, taken from the queue: decode (the part of it not yet
        final), reuse a partial's result, or nothing (all final already, held back by the
        partial budget, or an early decode withdrawn before it ran)."""
        unfinished = self._unfinished(job)
        if unfinished is None:
            return None
        if isinstance(unfinished, FinalJob):
            last = self._last_partial
            if (
                last is not None
                and last.utterance == unfinished.utterance
                and last.end >= unfinished.speech_end + _REUSE_MARGIN
                and not unfinished.forced
            ):
                self._reused += 1
                return Reuse(unfinished, last.result)
            return Decode(unfinished, self.options(unfinished), cancellable=False)
        if not self._within_budget(unfinished):
            self._over_budget += 1
            return None
        if self._withdrawn(unfinished):
            self._withdrawn_count += 1
            self.charge(unfinished, 0.0)
            return None
        return Decode(unfinished, self.options(unfinished), cancellable=True)

    def options(self, job: Job) -> DecodeOptions:
        """The decode options of ``job``: quick and capped for interim work (and for the
        early decodes and commits of tiny models), a final's care otherwise: a context
        sized to the audio where that keeps accuracy (tiny,
        :func:`~livewhisper.gate.sized_final_decodes`), else the full context and the
        history prompt."""
        options = self.decode
        seconds = len(job.audio) / SAMPLE_RATE
        sized = audio_ctx_for(seconds, _PARTIAL_CTX_FLOOR, _PARTIAL_CTX_MARGIN)
        if isinstance(job, PartialJob) and (self.sized_finals or not job.early):
            # Partials and the early decode at a pause must be quick: no second decode at
            # a higher temperature, an encoder context sized to the audio (a 5 s margin,
            # 2-3x cheaper than the full 30 s), and a token cap so that a decoding loop
            # ("Okay. Okay. Okay...") costs no more than the audio. An early decode that
            # loops anyway is not reused: its final is decoded again with care.
            # No history prompt: with a sized context it made Whisper drop or lowercase
            # the start of the utterance (see StreamConfig.prompt_history).
            cap = _PARTIAL_TOKENS_BASE + math.ceil(_PARTIAL_TOKENS_PER_SECOND * seconds)
            return replace(
                options,
                temperature_increment=0.0,
                single_segment=True,
                max_tokens=cap,
                audio_ctx=sized if options.audio_ctx is None else options.audio_ctx,
            )
        if self.sized_finals and options.audio_ctx is None:
            return replace(options, audio_ctx=sized)  # no prompt, as for partials
        cut = self._cut
        continues = cut is not None and cut.utterance == job.utterance
        if self._use_history and not options.initial_prompt and not continues:
            # Not after a cut inside the same utterance: a prompt that ends with the words
            # just before the cut made Whisper skip audio that echoed them (JFK's "... can
            # do for you | ask what you can do for your country" lost "ask what you").
            options = replace(options, initial_prompt=prompt_from_history(list(self._history)))
        return options if options.audio_ctx is not None else replace(options, audio_ctx=0)

    def charge(self, job: PartialJob, cost: float) -> None:
        """Interim decode ``job`` took ``cost`` wall seconds (cancelled or not): the next
        partial of its utterance waits accordingly (:func:`next_partial_due`). An early
        decode that speech then withdraws costs partials, not more CPU."""
        utterance, not_before = self._next_partial
        self._next_partial = (
            job.utterance,
            next_partial_due(
                job.end,
                cost,
                self.stream.partial_budget,
                not_before if utterance == job.utterance else 0.0,
                self.stream.max_partial_wait,
            ),
        )

    # -- results -------------------------------------------------------------------------
    def partial_done(
        self, job: PartialJob, result: Transcription, cost: float, now: float
    ) -> list[Event] | WaitForPause | Commit:
        """Take the result of interim decode ``job`` (``cost`` wall seconds; ``now`` the
        wall-clock time): events to emit, or a quick-final candidate to wait for, or a
        commit to carry out first."""
        self.charge(job, cost)
        doubtful = self._doubtful(result, job.end - job.start)
        if job.early and not doubtful and not self._withdrawn(job):
            silence = self._final_after(result)
            if silence is not None:
                return WaitForPause(job, result, silence)
        return self._as_partial(job, result, now, doubtful)

    def after_pause(self, wait: WaitForPause, held: bool, now: float) -> list[Event] | Commit:
        """The pause after a :class:`WaitForPause` held (the early decode becomes the final
        of the utterance so far) or not (it is shown as a partial)."""
        job, result = wait.job, wait.result
        if held:
            speech_end = job.end - job.silence
            final = self._final(result, job.start, speech_end, job.arrival, job.utterance, now)
            if final is not None:
                self._cut = _Cut(job.utterance, job.end, final.words)
                self._last_partial = None
                self._agreement.reset()
                self._next_partial = (job.utterance, job.end)  # final work, not interim
                return [final]
        # A WaitForPause is made only of a decode that was not doubtful.
        return self._as_partial(job, result, now, doubtful=False)

    def commit_done(self, commit: Commit, result: Transcription, now: float) -> list[Event]:
        """The result of a :class:`Commit`'s decode (the audio before its cut): it becomes
        a final, then the rest is shown as a partial. A decode that trails off
        (:func:`~livewhisper.guards.trails_off`) says that the pause found for the cut
        was inside a word or phrase (a stop's closure passes for one): no commit there,
        nor again within 0.5 s of it, until the window is 2 s past ``commit_span``; a
        forced commit (:attr:`Commit.forced`) is made all the same, so that no final
        waits much longer."""
        job = commit.decode.job
        if not commit.forced and trails_off(tidy(result.text)):
            self._refused = (job.utterance, commit.at)
            self._refused_count += 1
            return []
        final = self._final(result, job.start, commit.at, commit.arrival, job.utterance, now)
        if final is None:
            return []  # nothing but noise before the cut: no commit
        self._committed += 1
        self._cut = _Cut(job.utterance, commit.at, final.words)
        self._last_partial = None
        self._agreement.reset()
        events: list[Event] = [final]
        if commit.rest is not None:
            events.append(replace(commit.rest, emitted_at=now))
            self._shown_until = max(self._shown_until, commit.rest.end)
        return events

    def final_done(self, job: FinalJob, result: Transcription, now: float) -> list[Event]:
        """The result (decoded or reused) of final job ``job``: the utterance's last final."""
        self._last_partial = None
        self._agreement.reset()
        final = self._final(result, job.start, job.speech_end, job.arrival, job.utterance, now)
        if self._cut is not None and self._cut.utterance == job.utterance:
            self._cut = None  # the utterance ends with this job
        return [] if final is None else [final]

    # -- inside ----------------------------------------------------------------------------
    def _unfinished(self, job: Job) -> Job | None:
        """What of ``job`` is not final yet: all of it, the part after a cut, or None."""
        cut = self._cut
        if cut is None or cut.utterance != job.utterance:
            return job
        if isinstance(job, FinalJob):
            if job.speech_end <= cut.at:
                self._cut = None  # the utterance ends with this job
                return None
        else:
            # A partial needs some speech after the cut; an early decode, anything new.
            needed = job.silence if job.early else self.stream.first_partial_after
            if job.end - cut.at <= needed:
                return None
        return _after(job, cut.at - _SEAM_PAD)

    def _within_budget(self, job: PartialJob) -> bool:
        utterance, not_before = self._next_partial
        return job.early or utterance != job.utterance or job.end >= not_before

    def _overtaken(self, job: PartialJob) -> bool:
        """Whether ``job`` is a partial (not early) decode that an early decode of its
        utterance, hearing more, was queued after (it was left to finish)."""
        utterance, end = self._early_queued
        return not job.early and utterance == job.utterance and end > job.end

    def _withdrawn(self, job: PartialJob) -> bool:
        """Whether ``job`` is an early decode that speech resumed after, before the pause
        had held."""
        return job.early and self._first_after(job) is SpeechResumed

    def _final_after(self, result: Transcription) -> float | None:
        """The pause (s) after which early decode ``result`` may become final: the quick
        final's when Whisper is sure that its sentence ends, the later
        :attr:`~livewhisper.gate.StreamConfig.sentence_final_after` when it is less sure,
        None when the text ends no sentence (the utterance's end decides)."""
        stream = self.stream
        if stream.sentence_confidence is None:
            return None
        confidence = sentence_end_confidence(result)
        if confidence >= stream.sentence_confidence:
            return stream.quick_final_after
        if confidence > 0 and stream.sentence_final_after is not None:
            return stream.sentence_final_after
        return None

    def _first_after(
        self, job: PartialJob, silence: float = 0.0
    ) -> type[PauseHeld] | type[SpeechResumed] | None:
        """Which came first after ``job``'s audio: a pause of ``silence`` seconds or more
        holding, speech resuming, or neither yet."""
        for signal in self._signals:
            if signal.utterance != job.utterance:
                continue
            if isinstance(signal, PauseHeld) and signal.at >= job.end and signal.silence >= silence:
                return PauseHeld
            if isinstance(signal, SpeechResumed) and signal.at > job.end:
                return SpeechResumed
        return None

    @staticmethod
    def _doubtful(result: Transcription, seconds: float) -> bool:
        """Whether the decode of ``seconds`` of audio looped (a phrase written more often
        than the audio holds, :func:`~livewhisper.guards.drop_loops`, or a long run of
        repeats): such a decode neither ends an utterance early, nor stands in for its
        final, nor prompts a commit. A speaker's own repeat ("against Trump. Trump is",
        "you can't have, you can't have") is not doubtful: counting every phrase said
        twice as a loop held 20 s utterances of a broadcast without a single commit."""
        words = result.words
        return is_repetitive(tidy(result.text)) or len(drop_loops(words, seconds)) < len(words)

    def _as_partial(
        self, job: PartialJob, result: Transcription, now: float, doubtful: bool
    ) -> list[Event] | Commit:
        """Interim decode ``job`` as a partial: agreement, then a commit or the partial.
        ``doubtful``: whether the decode looped (:meth:`_doubtful`, judged once)."""
        if self._withdrawn(job):
            # Speech resumed after the pause this decode ends at: it is neither final nor
            # reused, but it is the freshest reading of the utterance, so it is shown as
            # a partial and counts towards agreement, like any other.
            self._withdrawn_count += 1
        else:
            self._last_partial = None if doubtful else _LastPartial(job.utterance, job.end, result)
        if job.utterance != self._agreement_utterance:
            self._agreement.reset()
            self._agreement_utterance = job.utterance
        words = self._after_seam(job.utterance, [w.with_offset(job.start) for w in result.words])
        # A decoder loop is dropped as from finals (the audio's length bounds its speech),
        # so it is neither shown nor agreed on by the next decode.
        words = drop_loops(words, job.end - job.start)
        # A partial that an early decode hearing more was queued after keeps the text
        # fresh, but leaves agreement, and so the commits, to the decodes that follow.
        overtaken = self._overtaken(job)
        if not overtaken:
            self._agreement.update(words)
        text = tidy(result.text)
        if not text or is_phantom(text):
            return []
        if overtaken:
            after = self._agreement.after_committed(words)
            return self._shown(self._partial(self._agreement.committed, after, job, result), now)
        agreed, pending = self._agreement.committed, self._agreement.pending
        shown = self._shown(self._partial(agreed, pending, job, result), now)
        n = commit_count(agreed, pending, window_start=job.start, heard=job.end, config=self.stream)
        if not n or doubtful:
            return shown
        hypothesis = agreed + pending
        following = hypothesis[n] if len(hypothesis) > n else None
        at = cut_point(job.audio, job.start, hypothesis[n - 1], following)
        # Until the window is the grace past commit_span, a cut waits for a pause unlike
        # a refused one; then it is made wherever it falls (forced), so no final waits
        # much longer.
        forced = job.end - job.start - self.stream.commit_span >= _PAUSE_GRACE
        utterance, refused = self._refused
        near_refused = utterance == job.utterance and abs(at - refused) < _REFUSED_SPAN
        if not forced and (near_refused or not is_pause(job.audio, job.start, at)):
            return shown
        before = replace(job, audio=_until(job, at + _CUT_TAIL), early=True)
        decode = Decode(before, self.options(before), cancellable=False)
        rest = self._partial(agreed[n:], hypothesis[max(n, len(agreed)) :], job, result)
        return Commit(decode, at, job.arrival, hypothesis[:n], rest, tuple(shown), forced)

    def _shown(self, partial: Partial | None, now: float) -> list[Event]:
        """``partial`` emitted at wall-clock time ``now`` (nothing for None)."""
        if partial is None:
            return []
        self._shown_until = max(self._shown_until, partial.end)
        return [replace(partial, emitted_at=now)]

    @staticmethod
    def _partial(
        agreed: Sequence[Word], pending: Sequence[Word], job: PartialJob, result: Transcription
    ) -> Partial | None:
        # The agreed prefix never changes, so the text shown is that prefix plus the
        # newest hypothesis's words after it: no flicker in what was already shown.
        words = [*agreed, *pending]
        shown = tidy("".join(w.word for w in words))
        if not shown:
            return None
        stable = "".join(w.word for w in agreed).strip()
        return Partial(shown, words[0].start, job.end, stable, result.language, job.arrival)

    def _after_seam(self, utterance: int, words: list[Word]) -> list[Word]:
        """``words`` of ``utterance`` without what repeats the final before its cut, and
        timed no earlier than the cut (they are heard after it; the pad before it only
        keeps their onset whole), so finals never overlap."""
        cut = self._cut
        if cut is None or cut.utterance != utterance or not cut.said:
            return words
        kept = drop_repeated_start(words, cut.said, cut.at)
        return [
            w if w.start >= cut.at else replace(w, start=cut.at, end=max(w.end, cut.at))
            for w in kept
        ]

    def _final(
        self,
        result: Transcription,
        start: float,
        speech_end: float,
        arrival: float,
        utterance: int,
        now: float,
    ) -> Final | None:
        """``result`` (audio from stream time ``start``) as a final of ``utterance``;
        None for noise."""
        words = [w.with_offset(start) for w in result.words]
        kept = drop_loops(self._after_seam(utterance, words), speech_end - start)
        text = tidy(result.text if len(kept) == len(words) else "".join(w.word for w in kept))
        return self._final_of(kept, text, start, speech_end, arrival, result, now)

    def _final_of(
        self,
        words: Sequence[Word],
        text: str,
        start: float,
        speech_end: float,
        arrival: float,
        result: Transcription,
        now: float,
    ) -> Final | None:
        """A final of ``words`` (stream times) reading ``text``, for audio from ``start``
        to ``speech_end``; None when it is empty or noise."""
        if not text or is_noise(text, speech_end - start, [w.probability for w in words]):
            return None
        if self._use_history:
            self._history.append(text)
        first = words[0].start if words else start
        end = max(words[-1].end, first) if words else speech_end
        self._shown_until = max(self._shown_until, end)
        self._final_until = max(self._final_until, end)
        return Final(text, first, end, tuple(words), result.language, arrival, now)
