"""LocalAgreement: committing the words successive hypotheses agree on."""

from __future__ import annotations

import pytest

from livewhisper.agreement import LocalAgreement
from livewhisper.errors import ConfigError
from livewhisper.events import Word

JFK = (
    " And so, my fellow Americans, ask not what your country can do for you,"
    " ask what you can do for your country."
)


def words(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    """Whisper-like words: leading spaces, punctuation attached, evenly timed."""
    return [
        Word(" " + w, start + i * step, start + (i + 1) * step, 0.9)
        for i, w in enumerate(text.split())
    ]


def text(ws: tuple[Word, ...] | list[Word]) -> str:
    return "".join(w.word for w in ws).strip()


def test_the_first_hypothesis_commits_nothing() -> None:
    agreement = LocalAgreement()
    assert agreement.update(words("And so my")) == ()
    assert agreement.committed == ()
    assert text(agreement.pending) == "And so my"


def test_the_common_prefix_of_two_hypotheses_is_committed() -> None:
    agreement = LocalAgreement()
    agreement.update(words("And so my"))
    new = agreement.update(words("And so my fellow"))
    assert text(new) == "And so my"
    assert text(agreement.pending) == "fellow"
    assert text(agreement.update(words("And so my fellow Americans"))) == "fellow"
    assert text(agreement.committed) == "And so my fellow"


def test_words_agree_whatever_their_case_and_punctuation() -> None:
    agreement = LocalAgreement()
    agreement.update(words("and so my fellow"))
    new = agreement.update(words("And so, my fellow Americans"))
    # The newest spelling and timing are the ones committed.
    assert [w.word for w in new] == [" And", " so,", " my", " fellow"]


def test_disagreement_stops_the_commit() -> None:
    agreement = LocalAgreement()
    agreement.update(words("ask not what you're"))
    assert text(agreement.update(words("ask not what your country"))) == "ask not what"
    assert text(agreement.pending) == "your country"


def test_committed_words_never_change() -> None:
    agreement = LocalAgreement()
    agreement.update(words("And so my fellow"))
    agreement.update(words("And so my fellow Americans"))
    before = agreement.committed
    # Whisper rewrites an early word; what was committed stays, the rest continues.
    assert text(agreement.update(words("And so, my follow Americans ask"))) == "Americans"
    assert text(agreement.update(words("And so my follow Americans ask not"))) == "ask"
    assert agreement.committed[: len(before)] == before
    assert text(agreement.committed) == "And so my fellow Americans ask"


def test_a_hypothesis_without_a_text_anchor_is_aligned_by_time() -> None:
    agreement = LocalAgreement()
    agreement.update(words("And so my"))
    agreement.update(words("And so my"))
    assert text(agreement.committed) == "And so my"  # ends at 0.9 s
    # Every committed word rewritten; "my" decoded again straddling the boundary.
    hypothesis = [
        Word(" Ensemble", 0.0, 0.85, 0.5),
        Word(" my", 0.8, 1.1, 0.5),
        Word(" fellow", 1.1, 1.4, 0.5),
    ]
    agreement.update(hypothesis)
    assert text(agreement.pending) == "fellow"
    assert text(agreement.update([*hypothesis, Word(" Americans", 1.4, 2.0, 0.5)])) == "fellow"


def test_a_word_inserted_before_the_committed_ones_is_skipped() -> None:
    agreement = LocalAgreement()
    agreement.update(words("And so my fellow"))
    agreement.update(words("And so my fellow"))
    # A filler appears in front; the committed words are found again after it.
    assert agreement.update(words("Um, and so my fellow Americans")) == ()
    assert text(agreement.pending) == "Americans"
    assert text(agreement.update(words("Um, and so my fellow Americans ask"))) == "Americans"
    assert text(agreement.committed) == "And so my fellow Americans"


def test_a_repeated_phrase_is_aligned_where_the_committed_words_ended() -> None:
    agreement = LocalAgreement()
    agreement.update(words("So you can do"))
    agreement.update(words("So you can do"))
    # The speaker repeats "you can do": the first one is the committed one.
    agreement.update(words("Sew you can do you can do it"))
    assert text(agreement.pending) == "you can do it"


def test_the_same_hypothesis_twice_commits_all_of_it() -> None:
    agreement = LocalAgreement()
    agreement.update(words(JFK))
    assert text(agreement.update(words(JFK))) == JFK.strip()
    assert agreement.pending == ()
    assert agreement.update(words(JFK)) == ()


def test_a_shorter_hypothesis_commits_only_what_both_contain() -> None:
    agreement = LocalAgreement()
    agreement.update(words("ask not what your country can"))
    assert text(agreement.update(words("ask not what"))) == "ask not what"
    assert text(agreement.update(words("ask not what your country can do"))) == ""
    assert text(agreement.update(words("ask not what your country can do"))) == (
        "your country can do"
    )


def test_growing_hypotheses_commit_a_prefix_of_the_final_text() -> None:
    final = JFK.split()
    agreement = LocalAgreement()
    committed_so_far: list[Word] = []
    for n in range(1, len(final) + 1):
        # The last word is often cut off and misheard until more audio comes.
        hypothesis = final[:n]
        if n < len(final):
            hypothesis = [*hypothesis[:-1], hypothesis[-1][:2]]
        committed_so_far += agreement.update(words(" ".join(hypothesis)))
        assert text(committed_so_far) == " ".join(final[: len(committed_so_far)])
        assert tuple(committed_so_far) == agreement.committed
    assert len(committed_so_far) >= len(final) - 2


def test_reset_starts_a_new_utterance() -> None:
    agreement = LocalAgreement()
    agreement.update(words("ten of clubs"))
    agreement.update(words("ten of clubs"))
    agreement.reset()
    assert agreement.committed == () and agreement.pending == ()
    assert agreement.update(words("five five")) == ()
    assert text(agreement.update(words("five five"))) == "five five"


def test_n_one_commits_every_hypothesis_whole() -> None:
    agreement = LocalAgreement(n=1)
    assert text(agreement.update(words("go forward"))) == "go forward"
    assert text(agreement.update(words("go forward ten meters"))) == "ten meters"


def test_n_three_needs_three_hypotheses_to_agree() -> None:
    agreement = LocalAgreement(n=3)
    assert agreement.update(words("go forward")) == ()
    assert agreement.update(words("go forward ten")) == ()
    assert text(agreement.update(words("go forward then"))) == "go forward"
    assert text(agreement.update(words("go forward ten meters"))) == ""
    assert text(agreement.update(words("go forward ten meters"))) == ""
    assert text(agreement.update(words("go forward ten meters"))) == "ten meters"


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_invalid_n(n: object) -> None:
    with pytest.raises(ConfigError, match="n >= 1"):
        LocalAgreement(n=n)  # type: ignore[arg-type]


def test_an_empty_hypothesis_commits_nothing_and_keeps_what_was_committed() -> None:
    agreement = LocalAgreement()
    agreement.update(words("five five"))
    agreement.update(words("five five"))
    assert agreement.update([]) == ()
    assert agreement.update([]) == ()
    assert text(agreement.committed) == "five five"
