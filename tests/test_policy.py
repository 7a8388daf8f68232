"""The streaming rules as pure functions: commits inside long utterances, cuts, seams and
the partial cadence. No engine, no threads: milliseconds."""

from __future__ import annotations

import numpy as np
import pytest

from livewhisper.events import Word
from livewhisper.gate import StreamConfig
from livewhisper.policy import (
    commit_count,
    cut_point,
    drop_repeated_start,
    next_partial_due,
    words_before,
)

CONFIG = StreamConfig(commit_after=3.0, commit_span=8.0)


def _words(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [
        Word(f" {w}", start + i * step, start + (i + 1) * step, 0.9)
        for i, w in enumerate(text.split())
    ]


def _count(agreed: str, pending: str = "", heard: float = 5.0, start: float = 0.0) -> int:
    a = _words(agreed, start)
    p = _words(pending, start + len(a) * 0.4)
    return commit_count(a, p, window_start=start, heard=heard, config=CONFIG)


def test_a_closed_sentence_is_committed_once_the_window_is_long_enough() -> None:
    assert _count("Ask not. What your", heard=5.0) == 2
    assert _count("Ask not. What your", heard=2.9) == 0  # ordinary dictation: wait the pause
    # The last sentence that another word follows, agreed or pending.
    assert _count("One. Two. Three.", "Four", heard=5.0) == 3
    assert _count("One. Two. Three.", heard=5.0) == 2


def test_a_period_on_the_newest_word_is_not_trusted() -> None:
    # Whisper closes audio cut mid-phrase with a period: nothing follows it yet.
    assert _count("And so my fellow Americans.", heard=6.0) == 0


def test_titles_and_initials_do_not_end_sentences() -> None:
    assert _count("And Mr. Dashwood had", heard=6.0) == 0
    assert _count("John F. Kennedy said", heard=6.0) == 0


def test_a_long_window_commits_without_a_sentence_end() -> None:
    # Past commit_span: at the last clause end in the second half, else everything.
    assert _count("one two three four, five six", heard=8.5) == 4
    assert _count("one, two three four five six", heard=8.5) == 6
    assert _count("one two three four five six", heard=7.9) == 0
    assert _count("", heard=20.0) == 0


def test_the_window_is_measured_from_the_last_cut() -> None:
    assert _count("Ask not. What", heard=14.0, start=12.0) == 0
    assert _count("Ask not. What", heard=15.5, start=12.0) == 2


def test_commit_span_must_not_be_shorter_than_commit_after() -> None:
    from livewhisper.errors import ConfigError

    with pytest.raises(ConfigError, match="commit_span"):
        StreamConfig(commit_after=5.0, commit_span=4.0)


def test_the_cut_falls_in_the_quiet_between_two_words() -> None:
    rate = 16000
    tone = 0.3 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate).astype(np.float32)
    audio = np.concatenate([tone[:16000], np.zeros(3200, np.float32), tone[:16000]])  # 1 s, gap
    start = 10.0
    last = Word(" you.", 10.6, 1.02 + start, 0.9)  # timed a little past the gap's start
    following = Word(" Ask", 11.15, 11.6, 0.9)
    at = cut_point(audio, start, last, following)
    assert 11.0 <= at <= 11.2  # inside the 1.0-1.2 s silence
    # No following word: still near the last word's end, inside the audio.
    at = cut_point(audio, start, last, None)
    assert 10.85 <= at <= 11.2
    # Words timed past the audio: never past its end.
    late = Word(" x", 12.0, 13.0, 0.9)
    assert cut_point(audio, start, late, None) <= start + len(audio) / rate


def test_a_word_heard_on_both_sides_of_a_cut_is_dropped_once() -> None:
    said = _words("ask not what your country can do for you.")
    cut = said[-1].end
    again = [Word(" you.", cut - 0.1, cut + 0.2, 0.8), *_words("Ask what you", cut + 0.3)]
    assert [w.word for w in drop_repeated_start(again, said, cut)] == [" Ask", " what", " you"]
    # Far from the cut a repeat is speech ("for you, for you"), and is kept.
    later = _words("for you", cut + 2.0)
    assert drop_repeated_start(later, said, cut) == later
    assert drop_repeated_start(again, [], cut) == again


def test_words_before_keeps_a_closing_mark_timed_after_the_cut() -> None:
    words = [
        Word(" you", 14.0, 14.3, 0.9),
        Word(".", 14.3, 14.6, 0.9),
        Word(" Ask", 14.9, 15.2, 0.9),
    ]
    assert [w.word for w in words_before(words, 14.4)] == [" you", "."]
    assert words_before(words, 13.0) == []
    assert words_before(words, 20.0) == words


def test_the_partial_cadence_follows_the_cost_of_decodes() -> None:
    assert next_partial_due(10.0, 0.25, 0.25, 0.0) == pytest.approx(11.0)
    assert next_partial_due(10.0, 0.5, 0.25, 0.0) == pytest.approx(12.0)  # busy: sparser
    assert next_partial_due(10.0, 0.1, 0.25, 12.5) == 12.5  # never sooner than already due
