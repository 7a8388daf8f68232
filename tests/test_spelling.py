"""Vocabulary spelling: runs of decoded words written as the listed terms they match."""

from __future__ import annotations

import pytest

from livewhisper.events import Word
from livewhisper.spelling import spell_terms, term_similarity

TERMS = ["Siobhan Okonkwo", "Trelloway", "Zyntrix", "Ophidian", "Quorvex", "Kwabena Mensah"]


def _words(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [
        Word(" " + w, start + i * step, start + (i + 1) * step, 0.8)
        for i, w in enumerate(text.split())
    ]


def _text(words: list[Word]) -> str:
    return "".join(w.word for w in words).strip()


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("Send the trail away invoice.", "Send the Trelloway invoice."),
        ("The Intrix report is late.", "The Zyntrix report is late."),
        ("Ask Shivon O'Konkwo about it.", "Ask Siobhan Okonkwo about it."),
        ("I met Siobhan Okonkwo, then Corvex.", "I met Siobhan Okonkwo, then Quorvex."),
        ("Call Kwabena Mensa now.", "Call Kwabena Mensah now."),
    ],
)
def test_a_name_heard_slightly_wrong_is_written_as_listed(heard: str, written: str) -> None:
    assert _text(spell_terms(_words(heard), TERMS)) == written


@pytest.mark.parametrize(
    "text",
    [
        "We often walk to the station.",  # "often" sounds like Ophidian (both OFTN)
        "Ask not what your country can do for you.",
        "The trail was long and the way was steep.",
        "I have a cold, so I probably sound quite different.",
        "Four of clubs, seven of hearts.",
    ],
)
def test_ordinary_speech_is_left_alone(text: str) -> None:
    words = _words(text)
    assert spell_terms(words, TERMS) == words


def test_a_run_never_spans_a_sentence_end() -> None:
    words = _words("It was a trail. Away we went.")
    assert spell_terms(words, ["Trelloway"]) == words


def test_the_term_takes_the_run_s_time_span_and_closing_punctuation() -> None:
    words = _words("Ask Shivon O'Konkwo.", start=2.0)
    spelled = spell_terms(words, TERMS)
    assert [w.word for w in spelled] == [" Ask", " Siobhan", " Okonkwo."]
    assert spelled[1].start == pytest.approx(2.4)
    assert spelled[2].end == pytest.approx(3.2)
    assert spelled[1].end == pytest.approx(spelled[2].start)
    assert spelled[1].start < spelled[1].end < spelled[2].end


def test_nothing_to_do_without_terms_or_words() -> None:
    words = _words("Send the trail away invoice.")
    assert spell_terms(words, []) == words
    assert spell_terms([], TERMS) == []


def test_short_terms_are_never_matched_loosely() -> None:
    words = _words("The ax fell.")
    assert spell_terms(words, ["Axe", "Ox"]) == words


def test_similarity_is_one_for_the_same_letters() -> None:
    assert term_similarity("Trello-way", "trelloway") == (1.0, 1.0)
