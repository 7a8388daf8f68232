"""The capture stage: audio blocks -> VAD frames -> utterances -> decode jobs.

Pure bookkeeping, no threads: :class:`SpeechGate` cuts incoming 16 kHz blocks into VAD
frames, feeds the :class:`~livewhisper.segmenter.Segmenter`, and says what to decode:
a :class:`FinalJob` for every utterance that ends (never dropped), and a
:class:`PartialJob` for the open utterance every ``partial_interval`` seconds of stream
time, plus one once the speaker pauses (:meth:`StreamConfig.early_decode_delay`), so
the final can often reuse it.
:class:`PauseHeld` says when that pause has lasted long enough for a quick final, and
:class:`SpeechResumed` when it was not the end after all.

Example::

    gate = SpeechGate()
    for job in gate.push(block, arrival=time.monotonic()):
        worker.submit(job)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from livewhisper.errors import ConfigError
from livewhisper.segmenter import (
    SAMPLE_RATE,
    Segmenter,
    SegmenterConfig,
    SegmenterEvent,
    UtteranceEnded,
    UtteranceStarted,
)
from livewhisper.vad import SpeechDetector, VadConfig

FINAL_CONTEXTS = ("auto", "sized", "full")
"""The values of :attr:`StreamConfig.final_context`."""
# The decodes that make finals get the partials' sized context on tiny models only (see
# StreamConfig.final_context).
_SIZED_FINALS_MAX_LAYERS = 4
# Where those decodes are cheap, the early decode starts at the first dip in speech.
_CHEAP_EARLY_DECODE_AFTER = 0.05


@dataclass(frozen=True)
class StreamConfig:
    """How often partial text is produced, and how much history prompts the next decode.

    * ``partials``: produce partial text at all (True).
    * ``partial_interval``: stream seconds between partial decodes of an open utterance (0.6).
    * ``first_partial_after``: utterance audio (pre-roll included) before the first partial
      (1.0: with less, Whisper mostly guesses).
    * ``early_decode_after``: silence after speech that starts a decode ahead of the
      final, which the final reuses when no speech follows (must be < the pause). Speech
      that resumes withdraws it. ``None``, the default, chooses by what that decode costs
      (:meth:`early_decode_delay`): 0.05 s where finals get a sized context (tiny), so
      the decode is done by the time a quick final may be made; ``quick_final_after``
      where they get the full 30 s context (base and larger), whose decode costs 1.8 s
      on 2 cores: started at every 0.05 s dip of running speech, those that speech then
      withdrew took 42 s of decoding in 279 s of long speech; waiting for 0.3 s of pause
      took base's caption lag p90 from 3.5-3.6 to 3.1-3.2 s in two runs each
      (benchmarks/streaming.py, docs/performance.md).
    * ``quick_final_after``: silence the speaker must have kept before the early decode
      may become a quick final (0.3, and never less than ``early_decode_after``). On
      tiny the decode starts sooner and, when done first, waits for it: the pause is confirmed
      while Whisper works, not before. Whether it held is decided by the order of the
      signals alone, never by how long the decode took, so a busy machine makes the
      same finals; 0.3 s passes over the pauses at commas (0.23-0.26 s in the shared
      clips, where Whisper may write a period) and still ends most sentences early.
    * ``sentence_final_after``: silence after which an early decode that ends a sentence
      becomes final whatever Whisper's confidence in its closing mark (``None``, the
      default, leaves such decodes to the pause; no effect unless shorter than the
      pause). Whisper gives whole sentences 0.38-0.69 as often as not on tiny.en ("...
      ill-disposed young man." 0.67): below ``sentence_confidence`` they wait the whole
      pause. 0.6 took end of speech -> final from 0.97 to 0.68 s (median, short clips)
      but split JFK at its pauses in a busy server test ("And so my fellow Americans. |
      I'm not. | ..."): a choice for dictation of whole sentences, not the default.
    * ``partial_budget``: share of real time the decoder may spend on the interim decodes
      of one utterance, partials and early decodes that do not become final (0.1): when
      one takes 0.25 s, the next partial waits 2.5 s of audio even if
      ``partial_interval`` is shorter. This bounds CPU whatever the model's speed (the
      first partial of an utterance and the early decodes are never held back).
    * ``max_partial_wait``: stream seconds the budget may hold the next partial back at
      most (1.2): on long speech, or a slow or busy machine, partials then take more of
      the CPU rather than leave the text stale (see
      :func:`livewhisper.policy.next_partial_due`). 1.2 against 2.0 took the caption lag
      p90 of long speech from 2.5 s to 1.8 s on tiny.en (benchmarks/streaming.py).
    * ``early_cancel_after``: how much more audio (s) an early decode must hear than the
      partial in flight to cancel it (0.6; 0 always cancels). The early decodes start at
      0.05 s dips, and a partial cancelled for one that hears only 0.2 s more, or that
      speech withdraws before it runs, left the longest waits for new text (3.1 s on a
      broadcast recording). A partial that finishes while such an early decode waits is
      shown, but does not count towards the agreement of the commits: letting it count
      made more, worse cuts (long speech 17.3% WER against 14.6%).
    * ``sentence_confidence``: when the early decode ends a sentence (``.``, ``?``, ``!``)
      and Whisper gave that closing mark and the word it closes at least this
      probability, the text is final once ``quick_final_after`` has held instead of after
      the whole pause (0.7; ``None`` waits every pause out, ``sentence_final_after``
      included: the better choice for rambling speech).
      Speech that follows becomes the next final. Whisper ends cut-off audio with a
      period too, but with less confidence (0.5-0.63 for JFK's "... for you." before "ask
      what you can do", 0.75-0.97 after most whole sentences): see benchmarks/streaming.py.
    * ``final_context``: the encoder context of the decodes that make finals: the early
      decode at a pause, the decode of a commit and the final after the pause.
      ``"sized"`` to the audio plus 5 s, as partials have it, 2-3x cheaper than the 30 s
      ``"full"`` context, which is what makes finals quick; ``"auto"`` (the default)
      sizes it for tiny models (4 encoder layers), whose accuracy it keeps (long speech,
      streamed WER 15.7% and 16.9% in two runs sized against 18.1% with full-context
      finals; early decodes alone: 11.5% against 14.4% on the shared English clips), and
      not for larger ones (base: 19.4% against 10.8%). Sized decodes go without the
      history prompt (see ``prompt_history``). Full-context finals also start the early
      decode later (``early_decode_after``), on tiny too.
    * ``commit_after``: seconds of an utterance still being spoken after which the words
      that partial decodes agree on become a final when they close a sentence (3.0), so
      a reader who never pauses gets a final every sentence (see
      :func:`livewhisper.policy.commit_count`).
    * ``commit_span``: seconds of undecided audio after which the agreed words become a
      final even without a sentence end (8.0): no final waits for, and no partial
      decodes, much more than this (plus the time to agree) however long the speaker
      goes on.
    * ``behind_after``: seconds of speech not yet covered by text from which the text
      counts as behind the speaker (3.0): a :class:`~livewhisper.events.Status` says so.
    * ``prompt_history``: recent finals used as the initial prompt of the final decodes
      with the full context (3; 0 disables): base's live WER 2.6% with it against 6.1% without.
      Quick decodes with a sized context go without: there a prompt made Whisper drop or
      lowercase the start of the utterance (tiny.en: 14.8% WER against 6.1%;
      benchmarks/streaming.py).

    Example: ``StreamConfig(partial_budget=0.3)`` for livelier partials at more CPU;
    ``StreamConfig(partials=False)`` for finals only, the least CPU.
    """

    partials: bool = True
    partial_interval: float = 0.6
    first_partial_after: float = 1.0
    early_decode_after: float | None = None
    quick_final_after: float = 0.3
    sentence_final_after: float | None = None
    partial_budget: float = 0.1
    max_partial_wait: float = 1.2
    early_cancel_after: float = 0.6
    sentence_confidence: float | None = 0.7
    final_context: str = "auto"
    commit_after: float = 3.0
    commit_span: float = 8.0
    behind_after: float = 3.0
    prompt_history: int = 3

    def __post_init__(self) -> None:
        for name in (
            "partial_interval",
            "first_partial_after",
            "quick_final_after",
            "partial_budget",
            "max_partial_wait",
            "commit_after",
            "commit_span",
            "behind_after",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"StreamConfig.{name} must be a positive number")
        confidence = self.sentence_confidence
        if confidence is not None and (
            not isinstance(confidence, (int, float)) or not 0 < confidence <= 1
        ):
            raise ConfigError(
                "StreamConfig.sentence_confidence must be a probability in (0, 1], or None"
            )
        if self.final_context not in FINAL_CONTEXTS:
            raise ConfigError(
                "StreamConfig.final_context must be one of "
                + ", ".join(repr(c) for c in FINAL_CONTEXTS)
            )
        early = self.early_decode_after
        if early is not None and (
            not isinstance(early, (int, float)) or not math.isfinite(early) or early <= 0
        ):
            raise ConfigError("StreamConfig.early_decode_after must be a positive number, or None")
        later = self.sentence_final_after
        if later is not None and (
            not isinstance(later, (int, float))
            or not math.isfinite(later)
            or later < self.quick_final_after
        ):
            raise ConfigError(
                "StreamConfig.sentence_final_after must be a number of seconds no shorter "
                "than quick_final_after, or None"
            )
        margin = self.early_cancel_after
        if not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
            raise ConfigError("StreamConfig.early_cancel_after must be a number of seconds >= 0")
        if self.commit_span < self.commit_after:
            raise ConfigError("StreamConfig.commit_span must be at least commit_after")
        if self.partial_budget > 1:
            raise ConfigError("StreamConfig.partial_budget is a share of real time: at most 1")
        if not isinstance(self.prompt_history, int) or self.prompt_history < 0:
            raise ConfigError("StreamConfig.prompt_history must be a whole number >= 0")

    def early_decode_delay(self, sized_finals: bool) -> float:
        """Seconds of silence after speech before the early decode starts
        (:attr:`early_decode_after`; for ``None``, chosen by whether the decodes that make
        finals get a sized context, :func:`sized_final_decodes`).

        Example::

            >>> StreamConfig().early_decode_delay(sized_finals=True)
            0.05
            >>> StreamConfig().early_decode_delay(sized_finals=False)
            0.3
        """
        if self.early_decode_after is not None:
            return self.early_decode_after
        cheap = _CHEAP_EARLY_DECODE_AFTER
        return cheap if sized_finals else max(self.quick_final_after, cheap)


def sized_final_decodes(stream: StreamConfig, encoder_layers: int) -> bool:
    """Whether the decodes that make finals, for a model with ``encoder_layers``, get the
    partials' sized context (:attr:`StreamConfig.final_context`). Example: ``True`` for
    tiny (4)."""
    context = stream.final_context
    return context == "sized" or (context == "auto" and encoder_layers <= _SIZED_FINALS_MAX_LAYERS)


@dataclass(frozen=True)
class PartialJob:
    """Decode the open utterance ``utterance`` as it stands: ``audio`` starts at ``start``.

    ``early`` marks the decode made when the speaker pauses: the final will reuse it if
    no speech follows, so it is decoded with a final's care. ``silence``: seconds of
    silence at the end of its audio (the pause heard so far, for an early decode).
    """

    utterance: int
    audio: npt.NDArray[np.float32] = field(repr=False)
    start: float
    arrival: float
    early: bool = False
    silence: float = 0.0

    @property
    def end(self) -> float:
        """Stream time of the last sample."""
        return self.start + len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class FinalJob:
    """Decode the whole of utterance ``utterance``; ``speech_end`` is where its speech stops."""

    utterance: int
    audio: npt.NDArray[np.float32] = field(repr=False)
    start: float
    speech_end: float
    arrival: float
    forced: bool = False


@dataclass(frozen=True)
class PauseHeld:
    """The speaker of utterance ``utterance`` has been silent for ``silence`` seconds after
    its early decode, as heard by stream time ``at``: that decode may now become a quick
    final. Sent at :attr:`StreamConfig.quick_final_after` and again at
    :attr:`StreamConfig.sentence_final_after` (:func:`pause_levels`)."""

    utterance: int
    at: float
    silence: float


@dataclass(frozen=True)
class SpeechResumed:
    """Speech came back in utterance ``utterance`` after its early decode, as heard by
    stream time ``at``: the early decodes of audio ending before then are withdrawn."""

    utterance: int
    at: float


def pause_levels(
    stream: StreamConfig, pause: float, *, sized_finals: bool = True
) -> tuple[float, ...]:
    """The silences (s) after an early decode at which :class:`PauseHeld` is sent, in
    order: the quick final's (never before the early decode itself, which starts as
    :meth:`StreamConfig.early_decode_delay` says for ``sized_finals``) and, when shorter
    than the ``pause`` that ends the utterance, :attr:`StreamConfig.sentence_final_after`.

    Example::

        >>> pause_levels(StreamConfig(sentence_final_after=0.6), pause=1.0)
        (0.3, 0.6)
        >>> pause_levels(StreamConfig(sentence_final_after=0.6), pause=0.5)
        (0.3,)
    """
    quick = max(stream.quick_final_after, stream.early_decode_delay(sized_finals))
    later = stream.sentence_final_after
    return (quick,) if later is None or not quick < later < pause else (quick, later)


Job = PartialJob | FinalJob
Signal = Job | PauseHeld | SpeechResumed


class SpeechGate:
    """VAD + segmenter + the schedule of partial decodes, for one stream.

    ``push`` takes blocks of any length; ``arrival`` is the wall-clock time
    (``time.monotonic()``) the block arrived, carried into jobs to measure latency.
    ``sized_finals``: whether the worker decodes finals with a sized context
    (:func:`sized_final_decodes`), which sets when the early decode starts
    (:meth:`StreamConfig.early_decode_delay`).
    """

    def __init__(
        self,
        vad: VadConfig | None = None,
        segmenter: SegmenterConfig | None = None,
        stream: StreamConfig | None = None,
        *,
        sized_finals: bool = True,
    ) -> None:
        self.detector = SpeechDetector(vad or VadConfig())
        self.segmenter = Segmenter(segmenter or SegmenterConfig())
        self.stream = stream or StreamConfig()
        pause = self.segmenter.config.pause
        self._early_after = self.stream.early_decode_delay(sized_finals)
        for name, value in (
            ("quick_final_after", self.stream.quick_final_after),
            ("early_decode_after", self._early_after),
        ):
            if value >= pause:
                raise ConfigError(f"StreamConfig.{name} must be shorter than the pause")
        self._holds = pause_levels(self.stream, pause, sized_finals=sized_finals)
        self._frame = self.detector.frame_samples
        self._pending = np.zeros(0, dtype=np.float32)
        self._utterance = 0
        self._open = False
        self._last_partial = 0.0  # stream time of the audio end of the last partial job
        self._last_speech = 0.0
        self._early_done = False
        self._held = 0  # how many PauseHeld were sent for the current early decode

    @property
    def time(self) -> float:
        """Stream time in seconds of everything pushed so far."""
        return self.segmenter.time

    @property
    def early_decode_after(self) -> float:
        """Seconds of silence after speech at which the early decode starts
        (:meth:`StreamConfig.early_decode_delay`)."""
        return self._early_after

    @property
    def in_utterance(self) -> bool:
        """Whether an utterance is open (speech heard, its final not yet due)."""
        return self._open

    @property
    def utterances(self) -> int:
        """How many utterances have started so far."""
        return self._utterance

    @property
    def last_speech(self) -> float:
        """Stream time (s) where the last frame the VAD heard as speech ends; 0.0 before any."""
        return self._last_speech

    def push(self, block: npt.NDArray[np.float32], arrival: float) -> list[Signal]:
        """Take the next block of 16 kHz mono audio; return the jobs it makes due."""
        data = np.concatenate((self._pending, block)) if self._pending.size else block
        n_frames = len(data) // self._frame
        jobs: list[Signal] = []
        for i in range(n_frames):
            frame = data[i * self._frame : (i + 1) * self._frame]
            speech = self.detector.is_speech(frame)
            if speech:
                self._last_speech = self.segmenter.time + self._frame / SAMPLE_RATE
            if speech and self._early_done:
                # The first speech frame withdraws the early decode: waiting for three let
                # a decode finishing in those 60 ms become a quick final and cut "... the
                # wizard. | who would vanish ..." under load. A click in the pause costs
                # one early decode more instead.
                self._early_done = False
                if self._open:
                    jobs.append(SpeechResumed(self._utterance, self._last_speech))
            self._handle(self.segmenter.push(frame, speech), arrival, jobs)
            # Decided frame by frame, so the signals and their order do not depend on how
            # the audio was blocked (a capture thread that fell behind reads big blocks).
            if self._open and self.stream.partials:
                self._schedule_partial(arrival, jobs)
        self._pending = data[n_frames * self._frame :].copy()
        return jobs

    def settle(self, utterance: int, until: float) -> None:
        """Utterance ``utterance`` is final up to stream time ``until``: if it is still
        open, its later jobs carry only the audio after that (:meth:`Segmenter.settle`).

        Example: ``gate.settle(*worker.settled)`` after each block.
        """
        if self._open and utterance == self._utterance:
            self.segmenter.settle(until)

    def flush(self, arrival: float) -> list[Signal]:
        """End of stream: the open utterance, if any, becomes a final job."""
        jobs: list[Signal] = []
        self._handle(self.segmenter.flush(), arrival, jobs)
        return jobs

    def _handle(self, events: list[SegmenterEvent], arrival: float, jobs: list[Signal]) -> None:
        for event in events:
            if isinstance(event, UtteranceStarted):
                self._utterance += 1
                self._open = True
                self._last_partial = event.start
                self._early_done = False
            elif isinstance(event, UtteranceEnded):
                jobs.append(
                    FinalJob(
                        self._utterance, event.audio, event.start, event.end, arrival, event.forced
                    )
                )
                self._open = False  # after a forced cut, an UtteranceStarted may follow

    def _schedule_partial(self, arrival: float, jobs: list[Signal]) -> None:
        start = self.segmenter.current_start
        if start is None:
            return
        now = self.time
        silent_for = now - self._last_speech
        speaking = silent_for < self._early_after
        # While speech goes on, a partial every interval; once the speaker pauses, one
        # early decode (which the final can reuse) and nothing more until speech resumes.
        due = speaking and now - self._last_partial >= self.stream.partial_interval
        early = not speaking and not self._early_done
        if now - start >= self.stream.first_partial_after and (due or early):
            if early:
                self._early_done = True
                self._held = 0
            self._last_partial = now
            audio = self.segmenter.current_audio()
            jobs.append(PartialJob(self._utterance, audio, start, arrival, early, silent_for))
        holds = self._holds
        if self._early_done and self._held < len(holds) and silent_for >= holds[self._held]:
            self._held += 1
            jobs.append(PauseHeld(self._utterance, now, silent_for))
