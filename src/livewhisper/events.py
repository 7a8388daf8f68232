"""Timed text: the result types of livewhisper, all frozen dataclasses, times in seconds.

:class:`Word` and :class:`Segment` come out of the engine; :class:`Partial` and
:class:`Final` are the events of a live stream.

Example::

    for event in dictation:
        if isinstance(event, livewhisper.Final):
            print(f"[{event.start:.1f}-{event.end:.1f}] {event.text}")
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Word:
    """One word as Whisper wrote it (leading space and punctuation kept), with its timing.

    Example: ``Word(" country.", start=10.2, end=10.7, probability=0.93)``.
    """

    word: str
    start: float
    end: float
    probability: float

    def with_offset(self, seconds: float) -> Word:
        """The same word shifted by ``seconds`` (from chunk time to stream time)."""
        return replace(self, start=self.start + seconds, end=self.end + seconds)


@dataclass(frozen=True)
class Segment:
    """A run of text with its words, as one whisper.cpp segment.

    ``avg_logprob`` is the mean log-probability of its text tokens; ``end_probability``
    the probability of its last text token (the closing punctuation, when it has one),
    which says how sure Whisper is that a sentence ends there.
    """

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    end_probability: float = 1.0

    def with_offset(self, seconds: float) -> Segment:
        """The same segment with every time shifted by ``seconds``."""
        return replace(
            self,
            start=self.start + seconds,
            end=self.end + seconds,
            words=tuple(w.with_offset(seconds) for w in self.words),
        )


@dataclass(frozen=True)
class Transcription:
    """What one engine call returns: the segments and the language used or detected."""

    segments: tuple[Segment, ...]
    language: str
    duration: float

    @property
    def text(self) -> str:
        """All segment texts joined, stripped."""
        return "".join(s.text for s in self.segments).strip()

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every segment, in order."""
        return tuple(w for s in self.segments for w in s.words)


@dataclass(frozen=True)
class Partial:
    """Interim text of the utterance still being spoken; later events may revise it.

    ``stable`` is the prefix that two successive decodes agreed on (it will not change);
    ``text`` is the whole current hypothesis, ``stable`` included.
    ``audio_time`` is the wall-clock time (``time.monotonic()``) when the last audio
    sample covered by this event arrived, ``emitted_at`` when the event was made.
    """

    text: str
    start: float
    end: float
    stable: str = ""
    language: str = ""
    audio_time: float = 0.0
    emitted_at: float = 0.0


@dataclass(frozen=True)
class Final:
    """The settled text of one utterance, ended by a pause. It will not change.

    ``words`` carry stream times; ``audio_time`` is when the last audio of the utterance
    arrived (``time.monotonic()``), ``emitted_at`` when this event was made, so
    ``emitted_at - audio_time`` is the finalization latency.
    """

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = field(default=())
    language: str = ""
    audio_time: float = 0.0
    emitted_at: float = 0.0

    @property
    def latency(self) -> float:
        """Seconds from the last audio of the utterance to this event."""
        return self.emitted_at - self.audio_time


@dataclass(frozen=True)
class Status:
    """How far the text is behind the speaker, reported when it falls behind, every
    second while it stays behind, and once when it has caught up.

    ``lag`` is seconds of audio heard but not yet covered by any text (0.0 when caught
    up; with partials off, an utterance still being spoken owes none: see
    :class:`~livewhisper.lag.LagMonitor`); ``behind`` whether that is past
    :attr:`~livewhisper.StreamConfig.behind_after`;
    ``at`` the stream time of the report, ``emitted_at`` its wall-clock time
    (``time.monotonic()``). Not an :data:`Event`: it comes through ``on_status``.

    Example: ``Status(lag=4.2, behind=True, at=63.0, emitted_at=1234.5)``.
    """

    lag: float
    behind: bool
    at: float
    emitted_at: float = 0.0


Event = Partial | Final
"""A live-stream event: either a :class:`Partial` or a :class:`Final`."""
