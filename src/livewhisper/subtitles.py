"""Subtitles shaped for reading: timed words in, cues of a few short lines out.

Whisper's segments are cut for decoding, not for reading: one may run for 25 s and 300
characters. :func:`shape_cues` rebuilds cues from the word timestamps instead, within the
limits of :class:`CueLayout` (42 characters a line, 2 lines, 1 to 7 s by default, the
usual rules of broadcast subtitles). Cues end at a word boundary, preferably after
punctuation, and at pauses; they never overlap and stay inside the audio. Pure functions
over plain values: no audio, no model.

Example::

    from livewhisper.subtitles import CueLayout, shape_cues

    for cue in shape_cues(result.segments, CueLayout(max_line_width=32), result.duration):
        print(f"{cue.start:6.2f} {cue.end:6.2f} {cue.text!r}")
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from livewhisper.errors import ConfigError

__all__ = ["Cue", "CueLayout", "TimedWord", "shape_cues", "wrap_lines"]

# With the full stops and commas of Chinese and Japanese (ideographic and fullwidth).
_SENTENCE_END = (".", "?", "!", "\u2026", '."', '?"', '!"', "\u3002", "\uff1f", "\uff01")
_CLAUSE_END = (",", ";", ":", "\u2014", "\uff0c", "\u3001")


@dataclass(frozen=True)
class CueLayout:
    """The shape of a subtitle cue.

    ``max_line_width`` characters a line and ``max_line_count`` lines a cue (a single word
    longer than a line gets a line of its own); a cue shows for ``min_duration`` to
    ``max_duration`` seconds (less than the minimum when the next cue or the end of the
    audio comes first); a pause of ``pause`` seconds or more between words ends a cue.
    Raises :class:`~livewhisper.errors.ConfigError` for values out of range.

    Example::

        >>> CueLayout(max_line_width=32, max_line_count=1).max_duration
        7.0
    """

    max_line_width: int = 42
    max_line_count: int = 2
    max_duration: float = 7.0
    min_duration: float = 1.0
    pause: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
        for name in ("max_duration", "min_duration", "pause"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.max_duration <= 0:
            raise ConfigError(f"max_duration must be above 0 s, not {self.max_duration!r}")
        if self.min_duration > self.max_duration:
            raise ConfigError(
                f"min_duration ({self.min_duration:g} s) is longer than max_duration "
                f"({self.max_duration:g} s)"
            )


@dataclass(frozen=True)
class TimedWord:
    """A word without its leading space, and when it was said (seconds).

    Example: ``TimedWord("country.", 10.2, 10.7)``.
    """

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    """One subtitle: its lines and when it shows (seconds from the start of the audio).

    Example::

        >>> Cue(0.5, 2.0, ("And so, my fellow Americans,", "ask not")).text
        'And so, my fellow Americans,\\nask not'
    """

    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The lines joined by newlines, as a subtitle file holds them."""
        return "\n".join(self.lines)


def wrap_lines(words: Sequence[str], width: int, count: int) -> tuple[str, ...] | None:
    """``words`` laid out in at most ``count`` lines of at most ``width`` characters,
    balanced and preferably broken after punctuation; None when they do not fit.

    Example::

        >>> wrap_lines(["And", "so,", "my", "fellow", "Americans,", "ask", "not"], 20, 2)
        ('And so, my fellow', 'Americans, ask not')
        >>> wrap_lines(["a" * 30], 20, 2)
        ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',)
    """
    if not words:
        return ()
    lines = _greedy(words, width)
    if len(lines) > count:
        return None
    if len(lines) == 2:
        return _balanced(words, width)
    return tuple(" ".join(line) for line in lines)


def _greedy(words: Sequence[str], width: int) -> list[list[str]]:
    lines: list[list[str]] = [[]]
    size = 0
    for word in words:
        if lines[-1] and size + 1 + len(word) > width:
            lines.append([])
            size = 0
        size += len(word) + (1 if lines[-1] else 0)
        lines[-1].append(word)
    return lines


def _balanced(words: Sequence[str], width: int) -> tuple[str, ...]:
    """Two lines: the split whose longer line is shortest, a little shorter still if the
    first line ends a clause."""
    best: tuple[float, int] = (math.inf, 1)
    for k in range(1, len(words)):
        first, second = " ".join(words[:k]), " ".join(words[k:])
        if len(second) > width or (len(first) > width and k > 1):
            continue
        score = max(len(first), len(second)) - 6 * _ends_phrase(words[k - 1])
        best = min(best, (score, k))
    k = best[1]
    return (" ".join(words[:k]), " ".join(words[k:]))


def _ends_phrase(word: str) -> int:
    """2 after a sentence, 1 after a clause, else 0."""
    if word.endswith(_SENTENCE_END):
        return 2
    return 1 if word.endswith(_CLAUSE_END) else 0


def timed_words(segments: Iterable[object]) -> list[TimedWord]:
    """Every word of ``segments`` in order, from their word timestamps; a segment without
    words has its text spread over its time by length.

    Example::

        >>> from livewhisper.events import Segment
        >>> [(w.text, w.start, w.end) for w in timed_words([Segment(" Hello there.", 1, 2)])]
        [('Hello', 1.0, 1.455), ('there.', 1.455, 2.0)]
    """
    out: list[TimedWord] = []
    for segment in segments:
        words = getattr(segment, "words", ())
        if words:
            for word in words:
                text = word.word.strip()
                if text:
                    out.append(TimedWord(text, float(word.start), float(word.end)))
            continue
        texts = str(getattr(segment, "text", "")).split()
        start, end = float(getattr(segment, "start", 0.0)), float(getattr(segment, "end", 0.0))
        total = sum(len(t) for t in texts)
        at = start
        for text in texts:
            step = (end - start) * len(text) / total if total else 0.0
            out.append(TimedWord(text, round(at, 3), round(at + step, 3)))
            at += step
    return out


def shape_cues(
    segments: Iterable[object],
    layout: CueLayout | None = None,
    duration: float | None = None,
) -> list[Cue]:
    """Cues for reading, from the words of ``segments`` (anything with ``words``, or with
    ``text``, ``start`` and ``end``), within ``layout`` and inside ``[0, duration]``.

    A cue takes words while they fit its lines and its longest time and no pause comes;
    when the next word does not fit, the cue ends after the last punctuation in its second
    half, if there is one, else before that word. Then the times are made readable: each
    cue lasts at least ``min_duration`` when the gap to the next allows, no cue overlaps
    the next, none passes ``duration``.

    Example::

        >>> from livewhisper.events import Segment, Word
        >>> words = [Word(f" word{i}", i * 0.5, i * 0.5 + 0.4, 1.0) for i in range(30)]
        >>> cues = shape_cues([Segment("", 0, 15, tuple(words))], CueLayout(max_line_width=20))
        >>> len(cues), cues[0].lines, cues[0].start, cues[0].end
        (5, ('word0 word1 word2', 'word3 word4 word5'), 0.0, 2.9)
    """
    shape = layout or CueLayout()
    groups = _group(timed_words(segments), shape)
    cues: list[Cue] = []
    for group, (start, end) in zip(groups, _retime(groups, shape, duration), strict=True):
        lines = wrap_lines([w.text for w in group], shape.max_line_width, shape.max_line_count)
        if lines is None:  # one word alone wider than every line: it keeps a line of its own
            lines = tuple(w.text for w in group)
        cues.append(Cue(round(start, 3), round(end, 3), lines))
    return cues


def _fits(words: Sequence[TimedWord], shape: CueLayout) -> bool:
    if len(words) <= 1:
        return True
    if words[-1].end - words[0].start > shape.max_duration:
        return False
    texts = [w.text for w in words]
    return wrap_lines(texts, shape.max_line_width, shape.max_line_count) is not None


def _group(words: Sequence[TimedWord], shape: CueLayout) -> list[list[TimedWord]]:
    groups: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for word in words:
        paused = bool(current) and word.start - current[-1].end >= shape.pause
        if current and (paused or not _fits([*current, word], shape)):
            keep = len(current) if paused else _break_at(current, word, shape)
            groups.append(current[:keep])
            current = current[keep:]
        current.append(word)
        if word.text.endswith(_SENTENCE_END) and _substantial(current, shape):
            groups.append(current)  # a sentence end ends a cue already worth reading

            current = []
    if current:
        groups.append(current)
    return groups


def _substantial(words: Sequence[TimedWord], shape: CueLayout) -> bool:
    """A third of the cue's characters, shown for at least its minimum time."""
    chars = sum(len(w.text) + 1 for w in words)
    seconds = words[-1].end - words[0].start
    return chars >= shape.max_line_width * shape.max_line_count / 3 and (
        seconds >= shape.min_duration
    )


def _break_at(current: Sequence[TimedWord], word: TimedWord, shape: CueLayout) -> int:
    """Where ``current`` ends when ``word`` does not fit: after the strongest punctuation
    past its first third (the later of equals) when the words after it still fit a cue with
    ``word``, else at its end."""
    chars = [len(w.text) + 1 for w in current]
    total = sum(chars)
    best, best_score = len(current), 0
    before = 0
    for k in range(1, len(current)):
        before += chars[k - 1]
        score = _ends_phrase(current[k - 1].text)
        if score > best_score and before >= total / 3 and _fits([*current[k:], word], shape):
            best, best_score = k, score
        elif (
            score
            and score == best_score
            and before >= total / 3
            and _fits([*current[k:], word], shape)
        ):
            best = k  # the later of two equal breaks: a fuller first cue
    return best


def _retime(
    groups: Sequence[Sequence[TimedWord]], shape: CueLayout, duration: float | None
) -> list[tuple[float, float]]:
    """Readable times: from the words, at least the minimum and at most the maximum
    duration, in order, no overlap, inside ``[0, duration]``."""
    times: list[list[float]] = []
    previous = 0.0
    for group in groups:
        start = max(group[0].start, previous, 0.0)
        end = max(group[-1].end, start)
        end = min(max(end, start + shape.min_duration), start + shape.max_duration)
        times.append([start, end])
        previous = end
    for pair, after in itertools.pairwise(times):  # the minimum never runs into the next cue
        pair[1] = min(pair[1], after[0])
    if duration is not None:
        # Words crowded at the end (Whisper sometimes gives the last ones one instant) have
        # been pushed past it: pull them back, each keeping what it can of its minimum.
        limit = max(duration, 0.0)
        for pair in reversed(times):
            if pair[1] <= limit:
                break
            pair[1] = limit
            pair[0] = max(0.0, min(pair[0], limit - shape.min_duration))
            limit = pair[0]
        previous = 0.0
        for pair in times:
            pair[0] = max(pair[0], previous)
            pair[1] = min(max(pair[1], pair[0]), max(duration, 0.0))
            previous = pair[1]
    return [(start, end) for start, end in times]
