"""The names and words a fine-tuned model was trained to write: its *terms*.

Fine-tuning teaches a model new words, but the share of the change kept against
forgetting (:mod:`~livewhisper.finetune.blend`) often leaves it a letter or a syllable
short: "Siobhan Akonkwo", "Zidomara Tlaxcala". ``livewhisper finetune`` therefore also
lists the words of the training transcripts that the base model could not write, and
records them in the model's ``livewhisper.json``; every decode with that model then
writes near misses of them as the term (:func:`livewhisper.spelling.spell_terms`), with
no prompt (a prompt costs ordinary speech; the spelling step alone changed no word of
615,000 words of prose, see docs/finetune.md).

Example:
    >>> learned_terms(
    ...     [("Ask Siobhan Okonkwo about Zyntrix.", "Ask Shivon O'Konkwo about Syntrix."),
    ...      ("Book a room for the Zyntrix team.", "Book a room for the Centrics team.")],
    ...     token_count=lambda word: 1 if word.islower() else 3,
    ... )
    ('Siobhan Okonkwo', 'Zyntrix')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from livewhisper.spelling import MIN_TERM_LETTERS
from livewhisper.wer import normalize

__all__ = ["MIN_TOKENS", "learned_terms"]

MIN_TOKENS = 3
"""A term is at least this many of the model's text tokens (each word with its leading
space), and each of its words at least two. Whisper's byte-pair tokens follow word
frequency: a word of one token is common; "birch" and "lemons", which a base model
may mishear from a synthetic voice, are two; names and jargon two to six ("Tenzing" 2,
"Dorjee" 2, "Zyntrix" 3, "Kowalczyk" 5; tiny.en's tokenizer)."""

_BREAKS = ".,;:!?"
# "Dubravka's" is the term "Dubravka": the spelling step matches words, not endings.
_POSSESSIVE = re.compile(r"['\u2019]s$")


def learned_terms(
    pairs: Iterable[tuple[str, str]], token_count: Callable[[str], int]
) -> tuple[str, ...]:
    """The terms of ``pairs`` of (training transcript, the base model's text of its clip).

    A word is new when the base model missed it (its words were not in the text) in at
    least half of the clips that say it, it has :data:`~livewhisper.spelling.MIN_TERM_LETTERS`
    letters or more, and ``token_count(" " + word)`` (the model's tokenizer, no special
    tokens) is at least 2. A term is a longest run of new words inside one clause of a
    transcript ("Siobhan Okonkwo"; whole names match near misses better than their words
    alone) of :data:`MIN_TOKENS` tokens or more, written as the transcript writes it
    without a possessive "'s".
    First-seen order, each term once (case aside).
    """
    said: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    clauses: list[list[tuple[str, str]]] = []
    for reference, heard in pairs:
        text = f" {normalize(heard)} "
        clause: list[tuple[str, str]] = []
        for token in reference.split():
            word = _POSSESSIVE.sub("", token.strip("\"'()[]" + _BREAKS))
            key = normalize(word)
            if key:
                clause.append((word, key))
                said[key] += 1
                missed[key] += f" {key} " not in text
            if token.rstrip("\"')]").endswith(tuple(_BREAKS)) or not key:
                clauses.append(clause)
                clause = []
        clauses.append(clause)

    def new_tokens(word: str, key: str) -> int:
        """The tokens of ``word`` when it is new, else 0."""
        if 2 * missed[key] < said[key] or sum(ch.isalpha() for ch in word) < MIN_TERM_LETTERS:
            return 0
        tokens = token_count(" " + word)
        return tokens if tokens >= 2 else 0

    terms: dict[str, str] = {}
    for clause in clauses:
        run: list[str] = []
        tokens = 0
        for word, key in [*clause, ("", "")]:
            count = new_tokens(word, key) if key else 0
            if count:
                run.append(word)
                tokens += count
                continue
            if tokens >= MIN_TOKENS:
                terms.setdefault(" ".join(run).lower(), " ".join(run))
            run, tokens = [], 0
    return tuple(terms.values())
