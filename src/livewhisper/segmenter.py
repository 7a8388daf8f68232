"""Cutting a stream of VAD-labelled frames into utterances at pauses.

Pure bookkeeping over arrays: no threads, no clock, no VAD of its own. Feed it every frame
of a 16 kHz mono stream with the speech decision for that frame (from
:class:`livewhisper.vad.SpeechDetector` or anything else) and it tells you when an
utterance opens, lets you read the open utterance's audio at any time, and hands you the
whole utterance when it ends.

Stream time is the number of samples pushed so far divided by 16000, so every time this
module reports is a position in the audio, not a wall-clock reading.

How frames become utterances:

* **Onset.** An utterance candidate opens when at least :attr:`SegmenterConfig.onset`
  seconds of the last :attr:`SegmenterConfig.onset_window` seconds are speech (by default
  3 of the last 5 frames of 30 ms), so a lone speech frame in silence opens nothing. Its
  audio starts :attr:`SegmenterConfig.pre_roll` seconds before the first speech frame, so
  soft onsets that the VAD missed are still there for Whisper.
* **Confirmation.** The candidate becomes an utterance (:class:`UtteranceStarted`) once it
  holds :attr:`SegmenterConfig.min_speech` seconds of speech frames. Candidates that never
  get there (clicks, coughs, a door) are dropped with :class:`UtteranceDiscarded`.
* **End.** It ends (:class:`UtteranceEnded`) after :attr:`SegmenterConfig.pause` seconds
  without confirmed speech, where confirmed means a speech frame that itself satisfies the
  onset rule, so a single non-speech frame never ends speech and a single speech frame
  never prolongs it. Speech frames not yet confirmed hold the decision back by at most
  ``onset_window``, so that speech resuming just before the pause runs out continues the
  utterance. The audio keeps :attr:`SegmenterConfig.tail` seconds after the last
  confirmed speech frame; ``end`` is the end of that frame.
* **Length cap.** An utterance that would grow past :attr:`SegmenterConfig.max_utterance`
  seconds (Whisper sees at most 30 s at once) is cut at the quietest 0.1 s in the last
  :attr:`SegmenterConfig.split_window` seconds before the cap, ended with ``forced=True``,
  and the rest of its audio starts the next utterance.

Example::

    detector = SpeechDetector()
    segmenter = Segmenter()
    for frame in frames:  # each detector.frame_samples long
        for event in segmenter.push(frame, detector.is_speech(frame)):
            if isinstance(event, UtteranceEnded):
                print(f"utterance {event.start:.2f}-{event.end:.2f} s")
    for event in segmenter.flush():
        ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from livewhisper.errors import AudioError, ConfigError

__all__ = [
    "SAMPLE_RATE",
    "Segmenter",
    "SegmenterConfig",
    "SegmenterEvent",
    "UtteranceDiscarded",
    "UtteranceEnded",
    "UtteranceStarted",
    "join_utterances",
    "pack_utterances",
    "quietest",
]

SAMPLE_RATE = 16_000
"""Samples per second of the stream the segmenter expects."""

_WHISPER_WINDOW = 30.0
# The quiet point of a forced split is searched in energies of 10 ms hops averaged over
# 0.1 s: a single quiet hop is often the closure of a stop consonant inside a word, while
# 0.1 s of quiet is nearly always a gap between words.
_HOP = SAMPLE_RATE // 100
_QUIET_HOPS = 10


@dataclass(frozen=True)
class SegmenterConfig:
    """When an utterance starts and ends; every value in seconds.

    * ``pause``: silence after speech that ends an utterance (1.0). Live, a sentence that
      Whisper ends with confidence is final sooner (``StreamConfig.quick_final_after``),
      so the pause is what the other ends of speech wait for. 0.8 took end of speech ->
      final p90 from 1.45 to 1.15 s on long speech (tiny.en, benchmarks/streaming.py) but
      cut phrases that Whisper only reads right with what follows: JFK's 0.7-0.9 s stops
      split "And so my fellow Americans", which tiny.en then reads alone as "And so am I
      fellow Americans" whatever its context (tests/data/en/jfk.flac). Speakers who stop
      for longer inside a sentence can raise it.
    * ``pre_roll``: audio kept before the first speech frame (0.3).
    * ``min_speech``: speech an utterance needs; shorter blips are dropped (0.25).
    * ``max_utterance``: longest utterance, under Whisper's 30 s window (25.0).
    * ``tail``: audio kept after the last speech frame, at most ``pause`` (0.2).
    * ``onset`` of ``onset_window``: speech in the latest frames that opens an utterance
      or counts as confirmed speech within one (0.09 of 0.15: 3 of 5 frames of 30 ms).
    * ``split_window``: how far before ``max_utterance`` a forced split looks for the
      quietest point (3.0).

    Example::

        SegmenterConfig(pause=1.2)            # long pauses inside sentences
        SegmenterConfig(max_utterance=31.0)   # raises ConfigError
    """

    pause: float = 1.0
    pre_roll: float = 0.3
    min_speech: float = 0.25
    max_utterance: float = 25.0
    tail: float = 0.2
    onset: float = 0.09
    onset_window: float = 0.15
    split_window: float = 3.0

    def __post_init__(self) -> None:
        for name in (
            "pause",
            "pre_roll",
            "min_speech",
            "max_utterance",
            "tail",
            "onset",
            "onset_window",
            "split_window",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"SegmenterConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"SegmenterConfig.{name} must be a finite number of seconds >= 0, got {value!r}"
                )
        if self.pause <= 0:
            raise ConfigError(f"SegmenterConfig.pause must be > 0 seconds, got {self.pause!r}")
        if self.onset <= 0:
            raise ConfigError(f"SegmenterConfig.onset must be > 0 seconds, got {self.onset!r}")
        if self.onset_window < self.onset:
            raise ConfigError(
                f"SegmenterConfig.onset_window ({self.onset_window!r}) must be at least "
                f"onset ({self.onset!r}): it is the window that onset seconds of speech fill"
            )
        if self.tail > self.pause:
            raise ConfigError(
                f"SegmenterConfig.tail ({self.tail!r}) must not exceed pause "
                f"({self.pause!r}): the tail is kept from the pause that ends an utterance"
            )
        if not self.max_utterance < _WHISPER_WINDOW:
            raise ConfigError(
                f"SegmenterConfig.max_utterance must be under {_WHISPER_WINDOW:g} s, "
                f"Whisper's window, got {self.max_utterance!r}"
            )
        if self.split_window < 2 * _QUIET_HOPS * _HOP / SAMPLE_RATE:
            raise ConfigError(
                f"SegmenterConfig.split_window must be at least 0.2 s, got {self.split_window!r}"
            )
        if self.split_window > self.max_utterance / 2:
            raise ConfigError(
                f"SegmenterConfig.split_window ({self.split_window!r}) must be at most half "
                f"of max_utterance ({self.max_utterance!r}), so that a forced cut never "
                f"leaves a first part shorter than half the limit"
            )


@dataclass(frozen=True)
class UtteranceStarted:
    """An utterance opened: it holds enough speech to be worth transcribing.

    ``start`` is the stream time of the first sample of its audio (pre-roll included);
    ``speech_start`` the start of its first speech frame. From now until it ends,
    :meth:`Segmenter.current_audio` returns its audio so far.

    Example: ``UtteranceStarted(start=1.2, speech_start=1.5)``.
    """

    start: float
    speech_start: float


@dataclass(frozen=True)
class UtteranceEnded:
    """An utterance is complete; ``audio`` is all of it, ready to transcribe.

    ``audio[0]`` is at stream time ``start`` (pre-roll included), so a time ``t`` within
    the audio is at ``start + t`` in the stream. ``end`` is the end of its last speech
    frame, or the cut point when ``forced``; the audio runs up to ``tail`` seconds beyond.
    ``forced`` is true when the utterance was cut at ``max_utterance`` and speech
    continues in the next one.

    Example: ``UtteranceEnded(audio, start=1.2, end=4.05, forced=False, speech_start=1.5)``.
    """

    audio: npt.NDArray[np.float32] = field(repr=False, compare=False)
    start: float
    end: float
    forced: bool
    speech_start: float

    @property
    def duration(self) -> float:
        """Seconds of audio in the utterance: ``len(audio) / 16000``."""
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class UtteranceDiscarded:
    """A candidate that never held ``min_speech`` of speech (a click, a cough) was dropped.

    No :class:`UtteranceStarted` preceded it; it is reported so that logs and tests can
    see what the VAD heard. ``start`` and ``end`` bound its speech frames.

    Example: ``UtteranceDiscarded(start=3.0, end=3.09)``.
    """

    start: float
    end: float


SegmenterEvent = UtteranceStarted | UtteranceEnded | UtteranceDiscarded
"""What :meth:`Segmenter.push` and :meth:`Segmenter.flush` return."""


class _State(Enum):
    IDLE = "idle"
    CANDIDATE = "candidate"
    OPEN = "open"


class _Audio:
    """Samples addressed by absolute stream index, dropping what is no longer needed."""

    def __init__(self, capacity: int) -> None:
        self._data = np.zeros(capacity, dtype=np.float32)
        self._head = 0  # offset in _data of the sample at stream index `first`
        self._size = 0
        self.first = 0

    @property
    def end(self) -> int:
        return self.first + self._size

    def append(self, samples: npt.NDArray[np.float32]) -> None:
        n = len(samples)
        if self._head + self._size + n > len(self._data):
            # Compact before growing: usually the dropped prefix frees enough room, so
            # the buffer stays at its first size for a whole stream.
            kept = self._data[self._head : self._head + self._size]
            if self._size + n > len(self._data):
                grown = np.zeros(max(2 * len(self._data), self._size + n), dtype=np.float32)
                grown[: self._size] = kept
                self._data = grown
            else:
                self._data[: self._size] = kept
            self._head = 0
        self._data[self._head + self._size : self._head + self._size + n] = samples
        self._size += n

    def drop_before(self, index: int) -> None:
        cut = min(max(index - self.first, 0), self._size)
        self._head += cut
        self._size -= cut
        self.first += cut

    def view(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        a = max(start, self.first) - self.first
        b = min(stop, self.end) - self.first
        return self._data[self._head + a : self._head + max(a, b)]


@dataclass
class _Frame:
    start: int
    stop: int
    speech: bool


class Segmenter:
    """Turns per-frame speech decisions into utterances; see the module docs for the rules.

    Frames may be of any length but are normally the VAD's (480 samples for 30 ms); the
    smoothing works in seconds, so 10, 20 or 30 ms frames behave alike.

    Example::

        segmenter = Segmenter(SegmenterConfig(pause=0.6))
        events = segmenter.push(frame, is_speech=True)
        if segmenter.current_start is not None:
            partial_audio = segmenter.current_audio()
    """

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self._config = c = config if config is not None else SegmenterConfig()
        self._pause = _samples(c.pause)
        self._pre_roll = _samples(c.pre_roll)
        self._min_speech = _samples(c.min_speech)
        self._max = _samples(c.max_utterance)
        self._tail = _samples(c.tail)
        self._onset = _samples(c.onset)
        self._onset_window = _samples(c.onset_window)
        self._split_window = _samples(c.split_window)
        # Room for the longest utterance plus the pre-roll history and a few frames, so
        # the buffer never needs to grow for frames of ordinary size.
        self._audio = _Audio(self._max + _samples(2.0))
        self._recent: list[_Frame] = []  # frames within the onset window
        self._frames: list[_Frame] = []  # frames of the open candidate or utterance
        self._pushed = 0
        self._state = _State.IDLE
        self._floor = 0  # no pre-roll reaches back before the previous utterance's audio
        self._start = 0
        self._speech_start = 0
        self._last_speech_end = 0
        self._speech = 0

    @property
    def config(self) -> SegmenterConfig:
        """The configuration this segmenter was made with."""
        return self._config

    @property
    def time(self) -> float:
        """Stream time in seconds: samples pushed so far / 16000."""
        return self._pushed / SAMPLE_RATE

    @property
    def current_start(self) -> float | None:
        """Stream time of the open utterance's first sample, or ``None`` if none is open.

        Example::

            if segmenter.current_start is not None:
                words = [w.with_offset(segmenter.current_start) for w in decoded_words]
        """
        if self._state is not _State.OPEN:
            return None
        return self._start / SAMPLE_RATE

    def current_audio(self) -> npt.NDArray[np.float32]:
        """A copy of the open utterance's audio so far (empty if none is open).

        It starts at :attr:`current_start` and grows with every frame pushed, so a
        transcriber can decode the whole utterance again for each partial result.

        Example::

            audio = segmenter.current_audio()
            seconds = len(audio) / 16000
        """
        if self._state is not _State.OPEN:
            return np.zeros(0, dtype=np.float32)
        return self._audio.view(self._start, self._pushed).copy()

    def settle(self, until: float) -> None:
        """The open utterance's audio before stream time ``until`` has become final text:
        drop it, so that the utterance's audio, its length cap and its final start there.

        Nothing happens when no utterance is open or ``until`` is not inside it. A
        transcriber that commits the words of a long utterance while it goes on calls
        this, so a reader who never pauses is not cut at :attr:`SegmenterConfig.max_utterance`.

        Example: ``segmenter.settle(12.4)`` after a final that ends at 12.4 s.
        """
        if self._state is not _State.OPEN:
            return
        at = min(round(until * SAMPLE_RATE), self._pushed)
        if at <= self._start:
            return
        self._start = at
        self._floor = max(self._floor, at)
        self._speech_start = max(self._speech_start, at)
        self._audio.drop_before(at)

    def push(self, frame: npt.ArrayLike, is_speech: bool) -> list[SegmenterEvent]:
        """Add the next frame of the stream and its speech decision; return what happened.

        Returns zero, one or (at a forced split) two events, in stream order.
        Raises :class:`~livewhisper.errors.AudioError` if ``frame`` is not a non-empty
        one-dimensional array.

        Example::

            for event in segmenter.push(frame, detector.is_speech(frame)):
                print(event)
        """
        samples = np.asarray(frame, dtype=np.float32)
        if samples.ndim != 1 or samples.shape[0] == 0:
            raise AudioError(
                f"a segmenter frame must be a non-empty 1-D array of mono samples, "
                f"got shape {samples.shape}"
            )
        start, stop = self._pushed, self._pushed + samples.shape[0]
        self._audio.append(samples)
        self._pushed = stop
        record = _Frame(start, stop, bool(is_speech))
        self._recent.append(record)
        self._recent = [f for f in self._recent if f.stop > stop - self._onset_window]
        recent_speech = sum(f.stop - f.start for f in self._recent if f.speech)
        confirmed = record.speech and recent_speech >= self._onset

        events: list[SegmenterEvent] = []
        if self._state is _State.IDLE:
            if confirmed:
                self._open_candidate(stop)
                self._promote_if_enough(events)
            else:
                # Keep a second more than pre-roll needs: the onset frame may start before
                # the onset window, and trimming by whole seconds copies less often.
                self._audio.drop_before(stop - self._onset_window - self._pre_roll - SAMPLE_RATE)
            return events

        self._frames.append(record)
        if record.speech:
            self._speech += record.stop - record.start
        if confirmed:
            self._last_speech_end = stop
        self._promote_if_enough(events)
        gap = stop - self._last_speech_end
        # Speech that resumes is confirmed only a few frames late; while such frames are
        # in the onset window, wait (at most one window) before calling it a pause.
        resuming = recent_speech > 0 and gap < self._pause + self._onset_window
        if gap >= self._pause and not resuming:
            self._close(events)
        else:
            # A loop, not an if: one long frame may hold more than one cut's worth.
            while stop - self._start > self._max:
                self._split(events)
        return events

    def flush(self) -> list[SegmenterEvent]:
        """End of stream: close the open utterance (or discard the candidate) now.

        Pushing may continue afterwards; stream time keeps counting from where it was.

        Example::

            events = segmenter.flush()  # [UtteranceEnded(...)] if one was open
        """
        events: list[SegmenterEvent] = []
        if self._state is not _State.IDLE:
            self._close(events)
        return events

    def _open_candidate(self, stop: int) -> None:
        speech_frames = [f for f in self._recent if f.speech]
        onset = speech_frames[0].start
        self._state = _State.CANDIDATE
        self._speech_start = onset
        self._start = max(onset - self._pre_roll, self._floor, self._audio.first)
        self._last_speech_end = stop
        self._frames = list(self._recent)
        self._speech = sum(f.stop - f.start for f in speech_frames)
        self._audio.drop_before(self._start)

    def _promote_if_enough(self, events: list[SegmenterEvent]) -> None:
        if self._state is _State.CANDIDATE and self._speech >= self._min_speech:
            self._state = _State.OPEN
            events.append(
                UtteranceStarted(self._start / SAMPLE_RATE, self._speech_start / SAMPLE_RATE)
            )

    def _close(self, events: list[SegmenterEvent]) -> None:
        if self._state is _State.OPEN:
            stop = min(self._pushed, self._last_speech_end + self._tail)
            events.append(
                UtteranceEnded(
                    audio=self._audio.view(self._start, stop).copy(),
                    start=self._start / SAMPLE_RATE,
                    end=self._last_speech_end / SAMPLE_RATE,
                    forced=False,
                    speech_start=self._speech_start / SAMPLE_RATE,
                )
            )
            self._floor = stop
        else:
            events.append(
                UtteranceDiscarded(
                    self._speech_start / SAMPLE_RATE, self._last_speech_end / SAMPLE_RATE
                )
            )
        self._state = _State.IDLE
        self._frames = []
        self._speech = 0

    def _split(self, events: list[SegmenterEvent]) -> None:
        # A candidate this long has spoken for many seconds; open it so it can be cut.
        self._promote_if_enough(events)
        if self._state is _State.CANDIDATE:
            self._state = _State.OPEN
            events.append(
                UtteranceStarted(self._start / SAMPLE_RATE, self._speech_start / SAMPLE_RATE)
            )
        cap = self._start + self._max
        cut = self._quietest(max(cap - self._split_window, self._start + _HOP), cap)
        events.append(
            UtteranceEnded(
                audio=self._audio.view(self._start, cut).copy(),
                start=self._start / SAMPLE_RATE,
                end=cut / SAMPLE_RATE,
                forced=True,
                speech_start=self._speech_start / SAMPLE_RATE,
            )
        )
        self._floor = cut
        self._start = cut
        self._audio.drop_before(cut)
        self._frames = [f for f in self._frames if f.stop > cut]
        self._speech = sum(f.stop - max(f.start, cut) for f in self._frames if f.speech)
        first_speech = next((f for f in self._frames if f.speech), None)
        self._speech_start = cut if first_speech is None else max(first_speech.start, cut)
        self._last_speech_end = max(self._last_speech_end, cut)
        self._state = _State.CANDIDATE
        self._promote_if_enough(events)

    def _quietest(self, lo: int, hi: int) -> int:
        """The centre of the quietest 0.1 s within stream samples [lo, hi)."""
        offset = quietest(self._audio.view(lo, hi))
        return hi if offset is None else lo + offset


def quietest(audio: npt.NDArray[np.float32]) -> int | None:
    """The sample index in ``audio`` (16 kHz mono) at the centre of its quietest 0.1 s, the
    latest one on ties (digital silence); None when ``audio`` is shorter than 0.1 s.

    Energy is measured in 10 ms hops and averaged over 0.1 s: a single quiet hop is often
    a stop consonant's closure inside a word, 0.1 s of quiet nearly always a gap between
    words. Example: ``quietest(np.r_[loud, np.zeros(3200), loud])`` falls in the zeros.
    """
    region = np.asarray(audio, dtype=np.float64)
    hops = len(region) // _HOP
    if hops < _QUIET_HOPS:
        return None
    energy = np.square(region[: hops * _HOP]).reshape(hops, _HOP).mean(axis=1)
    smoothed = np.convolve(energy, np.ones(_QUIET_HOPS) / _QUIET_HOPS, mode="valid")
    best = len(smoothed) - 1 - int(np.argmin(smoothed[::-1]))
    return (best + _QUIET_HOPS // 2) * _HOP


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def pack_utterances(
    utterances: Iterable[UtteranceEnded], max_seconds: float = 28.0, max_gap: float = 3.0
) -> Iterator[tuple[UtteranceEnded, ...]]:
    """Group consecutive utterances into windows of up to ``max_seconds`` of audio, lazily;
    :func:`join_utterances` makes each window's parts one utterance to decode.

    Whisper encodes a 30 s window however little audio it holds (with the full encoder
    context, which files use for accuracy), so a file decoded utterance by utterance pays
    one window per utterance; packed, it pays about one per 30 s, as Whisper's own
    sliding window does, and each decode hears more context. A pause longer than
    ``max_gap`` seconds, an utterance that would not fit, or overlapping audio starts a
    new window; a window is never longer than ``max_seconds`` unless one utterance alone
    is.

    Example::

        >>> def said(start, seconds):
        ...     audio = np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)
        ...     return UtteranceEnded(audio, start, start + seconds, False, start)
        >>> [[p.start for p in parts] for parts in pack_utterances(
        ...     [said(0, 10), said(11, 10), said(22, 10), said(40, 2)])]
        [[0, 11], [22], [40]]
    """
    window: list[UtteranceEnded] = []
    for utterance in utterances:
        if window:
            first, last = window[0], window[-1]
            gap = utterance.start - (last.start + last.duration)
            length = utterance.start + utterance.duration - first.start
            if -1 / SAMPLE_RATE <= gap <= max_gap and length <= max_seconds:
                window.append(utterance)
                continue
            yield tuple(window)
        window = [utterance]
    if window:
        yield tuple(window)


def join_utterances(parts: Sequence[UtteranceEnded]) -> UtteranceEnded:
    """One utterance of consecutive ``parts`` (stream order, not overlapping): the pause
    between two parts is kept as silence (zeros), so that a time ``t`` in its audio is at
    ``start + t`` in the stream. ``end`` and ``forced`` are the last part's,
    ``speech_start`` the first's; one part is returned as it is.

    Example::

        >>> a = UtteranceEnded(np.ones(8000, np.float32), 0.0, 0.5, False, 0.1)
        >>> b = UtteranceEnded(np.ones(8000, np.float32), 1.0, 1.5, False, 1.1)
        >>> joined = join_utterances([a, b])
        >>> joined.duration, joined.end, int(joined.audio[8000:16000].sum())
        (1.5, 1.5, 0)
    """
    first, last = parts[0], parts[-1]
    if len(parts) == 1:
        return first
    origin = _samples(first.start)
    audio = np.zeros(_samples(last.start) - origin + len(last.audio), dtype=np.float32)
    for part in parts:
        offset = _samples(part.start) - origin
        audio[offset : offset + len(part.audio)] = part.audio
    return UtteranceEnded(audio, first.start, last.end, last.forced, first.speech_start)
