"""Hallucination guards: phantom phrases, repetition loops, prompt history."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from conftest import EN

from livewhisper.guards import (
    compression_ratio,
    is_phantom,
    is_repetitive,
    prompt_from_history,
    strip_repeats,
)

DATA = EN  # WAV copies of tests/data/en, with their transcripts
REFERENCES = sorted(DATA.glob("*.txt"))


@pytest.mark.parametrize(
    "text",
    [
        "Thank you.",
        " Thank you.",
        "THANK YOU!",
        " Thanks for watching!",
        "Thank you for watching.",
        "Subtitles by the Amara.org community",
        " you",
        "You.",
        "[BLANK_AUDIO]",
        "(music)",
        "[Music]",
        " [Music] [Applause]",
        "*sighs*",
        "♪♪",
        "♪ la la la ♪",
        "",
        "  ...  ",
        "Gracias.",
        "¡Suscríbete!",
        "Subtítulos realizados por la comunidad de Amara.org",
        "Thank you. Thank you. Thank you.",
        "(upbeat music) Thanks for watching!",
        "ご視聴ありがとうございました",
    ],
)
def test_phantoms(text: str) -> None:
    assert is_phantom(text)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, Anna.",
        "Thank you for the report.",
        "And so, my fellow Americans, ask not what your country can do for you.",
        "You should go.",
        "Gracias por la información.",
        "[Music] and then he said hello",
        "Thank you. Bye. See you tomorrow at nine.",
        "42",
    ],
)
def test_real_speech_is_not_phantom(text: str) -> None:
    assert not is_phantom(text)


@pytest.mark.parametrize("path", REFERENCES, ids=lambda p: p.stem)
def test_no_real_reference_is_phantom_or_repetitive(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not is_phantom(text)
    assert not is_repetitive(text)


def test_compression_ratio() -> None:
    assert compression_ratio("") == 0.0
    text = "ask not what your country can do for you " * 3
    assert compression_ratio(text) == len(text.encode()) / len(zlib.compress(text.encode()))
    assert compression_ratio("ask not what your country can do for you") < 1.5
    assert compression_ratio("I'm sorry. " * 20) > 2.4


def test_long_loops_are_repetitive() -> None:
    loop = "So I went to the store and I bought some milk. " * 8
    assert compression_ratio(loop) > 2.4
    assert is_repetitive(loop)
    assert not is_repetitive(loop, max_ratio=1000.0, max_repeats=10)


def test_short_loops_are_repetitive() -> None:
    assert is_repetitive("the the the the the the")
    assert is_repetitive("Okay, okay, okay, okay, okay.")
    assert is_repetitive("I see. I see. I see. I see. I see.")
    assert not is_repetitive("I see. I see. I see. I see.")
    assert not is_repetitive("words words words words")
    assert not is_repetitive("no no no no no", max_repeats=5)


def test_max_repeats_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_repeats"):
        is_repetitive("a", max_repeats=0)
    with pytest.raises(ValueError, match="max_repeats"):
        strip_repeats("a", max_repeats=0)


def test_strip_repeats() -> None:
    assert strip_repeats("Go go go go go go now!", max_repeats=2) == "Go go now!"
    looped = "I see. " * 9 + "Good."
    assert strip_repeats(looped) == "I see. I see. I see. I see. Good."
    assert strip_repeats("Thank you. Thank you. Thank you.", max_repeats=1) == "Thank you."
    ordinary = "And so, my fellow Americans, ask not what your country can do for you."
    assert strip_repeats(ordinary) == ordinary


def test_strip_repeats_leaves_nothing_repetitive() -> None:
    text = "we we we we we we we are the the the the the the champions champions"
    stripped = strip_repeats(text, max_repeats=2)
    assert stripped == "we we are the the champions champions"
    assert not is_repetitive(stripped, max_repeats=2)


def test_prompt_keeps_the_latest_text_within_the_limit() -> None:
    finals = ["Hello Anna.", "Let's begin with the agenda.", "First, the budget."]
    assert (
        prompt_from_history(finals) == "Hello Anna. Let's begin with the agenda. First, the budget."
    )
    prompt = prompt_from_history(finals, max_chars=30)
    assert prompt == "the agenda. First, the budget."
    assert len(prompt) == 30
    assert prompt_from_history(finals, max_chars=29) == "agenda. First, the budget."


def test_prompt_cuts_at_a_word_boundary() -> None:
    finals = ["one two three four"]
    assert prompt_from_history(finals, max_chars=10) == "three four"
    assert prompt_from_history(finals, max_chars=9) == "four"
    assert prompt_from_history(finals, max_chars=3) == ""
    assert prompt_from_history(finals, max_chars=0) == ""
    for limit in range(30):
        prompt = prompt_from_history(finals, max_chars=limit)
        assert len(prompt) <= limit
        assert set(prompt.split()) <= {"one", "two", "three", "four"}


def test_prompt_drops_loops_phantoms_and_duplicates() -> None:
    finals = [
        "Let's begin.",
        "I'm sorry. " * 12,
        "Thank you.",
        "Next item.",
        "Next item.",
        "[BLANK_AUDIO]",
        "the the the the the the the",
    ]
    assert prompt_from_history(finals) == "Let's begin. Next item."


def test_prompt_of_nothing() -> None:
    assert prompt_from_history([]) == ""
    assert prompt_from_history(["Thank you."]) == ""
    with pytest.raises(ValueError, match="max_chars"):
        prompt_from_history(["a"], max_chars=-1)


def test_prompt_collapses_whitespace() -> None:
    assert prompt_from_history(["  ten   of\nclubs ", "five five"]) == "ten of clubs five five"
