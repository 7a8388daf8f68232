"""Word error rate: how far a transcript is from a reference, in word edits.

Both texts are normalised first (:func:`normalize`) so that case, punctuation and
annotation tags do not count as errors; then the WER is the word-level Levenshtein
distance divided by the number of reference words.

Example::

    >>> word_error_rate("Ask not what your country can do", "ask not what you're country can do")
    0.14285714285714285
    >>> corpus_wer([("go forward ten meters", "Go forward, 10 meters.")])
    0.25
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["FILLERS", "corpus_wer", "key_term_error_rate", "normalize", "word_error_rate"]

FILLERS = frozenset({"uh", "um", "er", "erm", "ah", "mm", "mmm", "hm", "hmm", "uhm", "umm"})
"""Hesitation words that ``drop_fillers=True`` removes: references of spontaneous speech
carry them, and Whisper usually leaves them out."""

# Annotations in references and hypotheses: [adif], <VOCNOISE>, (music), {laughs}.
_TAG = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)|\{[^}]*\}")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def normalize(text: str, *, drop_fillers: bool = False) -> str:
    """Lower-cased words separated by single spaces, without punctuation or tags.

    Letters, digits and combining marks of any script are kept (so "¿Qué año?" becomes
    "qué año"); everything else separates words. Apostrophes survive only inside a word
    ("i'm" stays, "'quoted'" loses them). Bracketed, angled, parenthesised and braced
    tags are removed with their content. With ``drop_fillers``, the words in
    :data:`FILLERS` are removed too.

    Example::

        >>> normalize("Uh, I'm [adif] <VOCNOISE> saying: Cold-hearted!", drop_fillers=True)
        "i'm saying cold hearted"
    """
    # NFKC folds full-width and compatibility forms and composes accents, so "é" written
    # as e + combining acute compares equal to the precomposed letter.
    text = unicodedata.normalize("NFKC", text)
    text = _TAG.sub(" ", text).translate(_APOSTROPHES).lower()
    kept = "".join(ch if ch == "'" or unicodedata.category(ch)[0] in "LNM" else " " for ch in text)
    words = (w.strip("'") for w in kept.split())
    return " ".join(w for w in words if w and not (drop_fillers and w in FILLERS))


def word_error_rate(reference: str, hypothesis: str, *, drop_fillers: bool = False) -> float:
    """Word edits (substitutions, deletions, insertions) per reference word.

    Both texts go through :func:`normalize` first. An empty reference gives 0.0 when the
    hypothesis is empty too and 1.0 otherwise, so words heard in silence still count.
    The result can exceed 1.0 when the hypothesis has many extra words.

    Example::

        >>> word_error_rate("ten of clubs", "ten of clubs.")
        0.0
        >>> word_error_rate("ten of clubs", "then of club")
        0.6666666666666666
    """
    return corpus_wer([(reference, hypothesis)], drop_fillers=drop_fillers)


def corpus_wer(pairs: Iterable[tuple[str, str]], *, drop_fillers: bool = False) -> float:
    """Total word edits over total reference words, for ``(reference, hypothesis)`` pairs.

    Unlike the mean of per-utterance WERs, long utterances weigh more than short ones,
    which is the usual way to report a test set. Empty references follow the rule of
    :func:`word_error_rate`.

    Example::

        >>> corpus_wer([("five five", "five five"), ("seven of clubs", "seven of hearts")])
        0.2
    """
    edits = 0
    words = 0
    for reference, hypothesis in pairs:
        ref = normalize(reference, drop_fillers=drop_fillers).split()
        hyp = normalize(hypothesis, drop_fillers=drop_fillers).split()
        edits += _edit_distance(ref, hyp)
        words += len(ref)
    if words == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / words


def _count_phrase(words: Sequence[str], phrase: Sequence[str]) -> int:
    n = len(phrase)
    return sum(1 for i in range(len(words) - n + 1) if list(words[i : i + n]) == list(phrase))


def key_term_error_rate(pairs: Iterable[tuple[str, str]], terms: Iterable[str]) -> float:
    """Share of the listed terms said in the references that the hypotheses miss.

    Each occurrence of a term (a name or phrase, normalised as :func:`normalize` does, so
    case and punctuation do not count) in a reference must appear as the same words in
    its hypothesis; "Siobhan O'Konkwo" for "Siobhan Okonkwo" misses it. A term said twice
    must be written twice. 0.0 when no reference says any term.

    Example::

        >>> key_term_error_rate([("Ask Siobhan Okonkwo about Zyntrix.",
        ...                       "Ask Shivon Okonkwo about zyntrix")],
        ...                      ["Siobhan Okonkwo", "Zyntrix", "Quorvex"])
        0.5
    """
    phrases = {tuple(normalize(t).split()) for t in terms} - {()}
    said = missed = 0
    for reference, hypothesis in pairs:
        ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
        for phrase in phrases:
            count = _count_phrase(ref, phrase)
            said += count
            missed += max(0, count - _count_phrase(hyp, phrase))
    return missed / said if said else 0.0


def _edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    if not ref or not hyp:
        return len(ref) + len(hyp)
    vocab: dict[str, int] = {}
    r = np.array([vocab.setdefault(w, len(vocab)) for w in ref], dtype=np.int64)
    h = np.array([vocab.setdefault(w, len(vocab)) for w in hyp], dtype=np.int64)
    # Row by row over the reference, each row vectorised over the hypothesis. The only
    # sequential term, insertion (row[j - 1] + 1), becomes a running minimum:
    # row[j] = min over k <= j of (partial[k] + j - k) = j + cummin(partial[k] - k).
    cols = np.arange(len(h) + 1, dtype=np.int64)
    row = cols.copy()
    for i, word in enumerate(r, start=1):
        partial = np.empty_like(row)
        partial[0] = i
        partial[1:] = np.minimum(row[1:] + 1, row[:-1] + (h != word))
        row = cols + np.minimum.accumulate(partial - cols)
    return int(row[-1])
