"""Word error rate: normalisation, the edit distance, corpus totals."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import EN, count_calls

from livewhisper.wer import FILLERS, corpus_wer, normalize, word_error_rate

DATA = EN  # WAV copies of tests/data/en, with their transcripts


def reference_distance(ref: list[str], hyp: list[str]) -> int:
    """The textbook quadratic Levenshtein, to check the vectorised one against."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(hyp) + 1)] for i in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            )
    return d[-1][-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ask not what your country can do for you.", "ask not what your country can do for you"),
        ("  Hello,\tWORLD!\n ", "hello world"),
        ("I'm  sure it's John's", "i'm sure it's john's"),
        ("I\u2019m sure", "i'm sure"),
        ("'quoted' words'", "quoted words"),
        ("cold-hearted, rather", "cold hearted rather"),
        ("saying [adif] bunch <VOCNOISE> yeah", "saying bunch yeah"),
        ("(music) [BLANK_AUDIO] ok {laughs}", "ok"),
        ("¿Qué año es? ¡Mañana, señor!", "qué año es mañana señor"),
        ("Ca\u0301mara", "cámara"),
        ("ÉLÈVE À L'ÉCOLE", "élève à l'école"),
        ("go forward, 10 meters.", "go forward 10 meters"),
        ("um, uh, hello", "um uh hello"),
        ("", ""),
        ("...!?", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_drops_fillers_only_when_asked() -> None:
    text = "Uh, so this is, um, the corpus. Hmm. Er... ah"
    assert normalize(text, drop_fillers=True) == "so this is the corpus"
    assert normalize(text) == "uh so this is um the corpus hmm er ah"
    assert {"uh", "um", "er", "ah", "mm", "hmm"} <= FILLERS


def test_identical_texts() -> None:
    assert word_error_rate("ten of clubs", "Ten of clubs.") == 0.0


def test_each_kind_of_edit_counts_one() -> None:
    ref = "ask not what your country can do"
    assert word_error_rate(ref, "ask not what you're country can do") == pytest.approx(1 / 7)
    assert word_error_rate(ref, "ask what your country can do") == pytest.approx(1 / 7)
    assert word_error_rate(ref, "ask not what your own country can do") == pytest.approx(1 / 7)
    assert word_error_rate(ref, "ask not what your country can do for you") == pytest.approx(2 / 7)


def test_wer_can_exceed_one() -> None:
    assert word_error_rate("five", "four five six seven") == 3.0


def test_empty_sides() -> None:
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("[BLANK_AUDIO]", "") == 0.0
    assert word_error_rate("", "thank you") == 1.0
    assert word_error_rate("ten of clubs", "") == 1.0


def test_fillers_in_spontaneous_speech() -> None:
    reference = (DATA / "mfa_cold_corpus3.txt").read_text(encoding="utf-8")
    # What Whisper typically writes: no fillers, no tags, punctuation and capitals.
    spoken = normalize(reference, drop_fillers=True).split()
    hypothesis = " ".join(spoken).capitalize() + "."
    assert word_error_rate(reference, hypothesis, drop_fillers=True) == 0.0
    assert word_error_rate(reference, hypothesis) > 0.05  # 6 fillers in 61 words


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda p: p.stem)
def test_a_reference_against_itself(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert word_error_rate(text, text.upper()) == 0.0
    words = normalize(text).split()
    assert word_error_rate(text, " ".join(words[1:])) == pytest.approx(1 / len(words))


def test_matches_the_textbook_algorithm() -> None:
    rng = random.Random(7)
    vocabulary = ["a", "b", "c", "d", "e"]
    for _ in range(300):
        ref = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        hyp = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        expected = reference_distance(ref, hyp) / len(ref) if ref else float(bool(hyp))
        assert word_error_rate(" ".join(ref), " ".join(hyp)) == pytest.approx(expected)


def test_corpus_wer_weighs_by_reference_length() -> None:
    pairs = [("five five", "five five"), ("seven of clubs", "seven of hearts")]
    assert corpus_wer(pairs) == pytest.approx(1 / 5)
    mean = sum(word_error_rate(r, h) for r, h in pairs) / len(pairs)
    assert mean == pytest.approx(1 / 6)
    assert corpus_wer(iter(pairs)) == pytest.approx(1 / 5)
    assert corpus_wer([]) == 0.0
    assert corpus_wer([("", "")]) == 0.0
    assert corpus_wer([("", "hello")]) == 1.0


def test_corpus_wer_with_fillers() -> None:
    pairs = [("uh ten of clubs", "ten of clubs"), ("um five five", "five five")]
    assert corpus_wer(pairs) == pytest.approx(2 / 7)
    assert corpus_wer(pairs, drop_fillers=True) == 0.0


def test_thousands_of_words_are_fast() -> None:
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(500)]
    ref = [rng.choice(vocabulary) for _ in range(4000)]
    hyp = list(ref)
    for _ in range(400):
        i = rng.randrange(len(hyp))
        hyp[i] = rng.choice(vocabulary)
    rate, calls = count_calls(lambda: word_error_rate(" ".join(ref), " ".join(hyp)))
    assert 0.05 < rate <= 0.1
    # Fast because each row of the table is one vector operation: the calls grow with the
    # reference's 4,000 words, not with the table's 16 million cells.
    assert calls < 100 * len(ref), calls
