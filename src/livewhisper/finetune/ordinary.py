"""Ordinary sentences to record beside your own, so that a fine-tuned model keeps its
ordinary English.

A model trained only on sentences full of names learns to hear names everywhere: after
48 steps on 40 such sentences, tiny.en wrote "Zsick Quorpis" for "sick corpus" and its
WER on ordinary speech rose by 4.9 points. Recording ordinary sentences as well is the
rehearsal remedy: measured with ``python -m benchmarks vocabulary`` (docs/finetune.md,
2026-12-02), 40 names sentences plus 20 of these cost ordinary speech 0.6 to 2.6 WER
points less than the names alone at the same share of the change kept (0.5 to 1).

The sentences are the first lists of the Harvard sentences (IEEE Recommended Practice for
Speech Quality Measurements, 1969; public domain): short, phonetically balanced, plain.

Example:
    >>> with_ordinary(["Ask Siobhan about Zyntrix.", "Zbigniew runs Quorvex."])[-1]
    'The birch canoe slid on the smooth planks.'
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ORDINARY_SENTENCES", "ORDINARY_SHARE", "check_share", "with_ordinary"]

ORDINARY_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)
"""Thirty Harvard sentences (lists 1 to 3), in their published order."""

ORDINARY_SHARE = 1 / 3
"""The share of ordinary sentences in a recording session by default: one after every two
of the person's own (the measured mix: 20 with 40)."""


def check_share(share: float) -> float:
    """``share`` if it is a share of ordinary sentences there can be: 0 <= share < 1.
    Raises ValueError otherwise (1 would leave no room for one's own)."""
    if not 0 <= share < 1:
        raise ValueError(f"the share of ordinary sentences must be in [0, 1), not {share}")
    return share


def with_ordinary(prompts: Sequence[str], share: float = ORDINARY_SHARE) -> list[str]:
    """``prompts`` with :data:`ORDINARY_SENTENCES` spread among them, so that ``share`` of
    the result is ordinary (rounded; at most the 30 there are; none when ``share`` is 0).

    One ordinary sentence follows each run of the person's own, evenly; a sentence
    already among ``prompts`` is not repeated. Raises ValueError unless 0 <= share < 1.

    Example:
        >>> len(with_ordinary(["a"] * 40))
        60
        >>> with_ordinary(["a", "b"], share=0)
        ['a', 'b']
    """
    check_share(share)
    own = list(prompts)
    fresh = [s for s in ORDINARY_SENTENCES if s not in own]
    count = min(len(fresh), round(len(own) * share / (1 - share)))
    if count == 0:
        return own
    out: list[str] = []
    for i, ordinary in enumerate(fresh[:count]):
        start, end = len(own) * i // count, len(own) * (i + 1) // count
        out += [*own[start:end], ordinary]
    return out
