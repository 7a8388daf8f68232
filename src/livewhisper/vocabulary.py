"""Vocabulary biasing: steer Whisper toward a list of names and terms, without training.

A vocabulary is a short list of the words a speaker uses that Whisper would otherwise
misspell or mishear: people's names, product words, jargon. Whisper conditions its
decoding on the text before the audio (the *initial prompt*), so a glossary that lists
the terms makes their spellings likely. The rules here are pure: parse terms, write the
glossary, and fit it with another prompt (the history of the stream, or the user's
``--prompt``) into Whisper's prompt budget, the vocabulary first. What Whisper still
writes slightly wrong is then written as the term by :mod:`livewhisper.spelling`.

Example::

    >>> terms = parse_terms("Zbigniew Kowalczyk, Zyntrix\\n# a comment\\nQuorvex")
    >>> terms
    ('Zbigniew Kowalczyk', 'Zyntrix', 'Quorvex')
    >>> vocabulary_sentence(terms)
    'Glossary: Zbigniew Kowalczyk, Zyntrix, Quorvex.'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from livewhisper.errors import ConfigError

__all__ = [
    "PROMPT_TOKENS",
    "VOCABULARY_TOKENS",
    "fit_prompt",
    "parse_terms",
    "read_vocabulary",
    "vocabulary_sentence",
    "vocabulary_terms",
]

PROMPT_TOKENS = 223
"""Tokens of prompt Whisper keeps: half its 448-token text context, less the
``<|startofprev|>`` token. whisper.cpp keeps the *last* tokens of a longer prompt, which
would drop the vocabulary at its start; :func:`fit_prompt` never gives it more."""

VOCABULARY_TOKENS = 160
"""Tokens the glossary may take at most (about 40 two-word names); terms past
it are left out, the first ones kept. The rest of :data:`PROMPT_TOKENS` is for the
history or the user's prompt."""

MAX_TERM_CHARS = 100
"""Longest term: a name or a phrase, not a paragraph."""

_SEPARATORS = re.compile(r"[,;\n]")


def parse_terms(text: str) -> tuple[str, ...]:
    """The terms of a vocabulary written as text: separated by commas, semicolons or lines.

    Lines starting with ``#`` are comments; spaces are collapsed; empty terms and
    repeats (ignoring case) are dropped, the first spelling kept. Raises
    :class:`ConfigError` for a term longer than :data:`MAX_TERM_CHARS`.

    Example:
        >>> parse_terms("Siobhan Okonkwo;  Zyntrix,zyntrix\\n\\n# names\\nKwabena")
        ('Siobhan Okonkwo', 'Zyntrix', 'Kwabena')
    """
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return vocabulary_terms(_SEPARATORS.split("\n".join(lines)))


def vocabulary_terms(terms: Iterable[str] | str | None) -> tuple[str, ...]:
    """``terms`` cleaned: a string is parsed with :func:`parse_terms`, a sequence tidied,
    None is no vocabulary. Raises :class:`ConfigError` for anything else, or a term that
    is not text.

    Example:
        >>> vocabulary_terms(["  Zyntrix ", "", "ZYNTRIX", "Quorvex"])
        ('Zyntrix', 'Quorvex')
    """
    if terms is None:
        return ()
    if isinstance(terms, str):
        return parse_terms(terms)
    if not isinstance(terms, Iterable):
        raise ConfigError(
            f"a vocabulary is a list of names and terms (or one string of them), "
            f"not {type(terms).__name__}"
        )
    kept: list[str] = []
    seen: set[str] = set()
    for raw in terms:
        if not isinstance(raw, str):
            raise ConfigError(f"a vocabulary term must be text, not {type(raw).__name__}")
        term = " ".join(raw.split())
        if not term or term.casefold() in seen:
            continue
        if len(term) > MAX_TERM_CHARS:
            raise ConfigError(
                f"the vocabulary term {term[:40]!r}... is {len(term)} characters long: list "
                f"names and terms of at most {MAX_TERM_CHARS} characters, one per line or "
                "separated by commas"
            )
        seen.add(term.casefold())
        kept.append(term)
    return tuple(kept)


def read_vocabulary(path: str | Path) -> tuple[str, ...]:
    """The terms of a vocabulary file (UTF-8; one per line or comma-separated; ``#`` comments).

    Raises :class:`ConfigError` naming the file when it cannot be read or holds no term.

    Example::

        read_vocabulary("names.txt")      # ('Zbigniew Kowalczyk', 'Zyntrix', ...)
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"cannot read the vocabulary file {path}: {reason}: give a readable UTF-8 "
            "text file of names and terms, one per line"
        ) from None
    terms = parse_terms(text)
    if not terms:
        raise ConfigError(
            f"the vocabulary file {path} holds no term: write names and terms one per line "
            "or separated by commas"
        )
    return terms


def vocabulary_sentence(terms: Sequence[str]) -> str:
    """The prompt that lists ``terms``: a labelled glossary, ``"Glossary: A, B, C."``.

    The label tells Whisper that what follows is a list of spellings, not speech to
    continue in the same style. Measured on tiny.en-q8_0 (2026-12-03, docs/finetune.md):
    on the 19 real clips of ``python -m benchmarks vocabulary``, ordinary speech -0.3 WER
    point against +1.0 for the sentence "We talked about A, B and C." used before, and on
    120 synthetic Harvard sentences (4 voices) +0.4 against +1.0; key-term errors 39.7%
    against 36.5% in the same run (100% without a vocabulary). A bare list without the
    label cost the clips +1.3.

    Example:
        >>> vocabulary_sentence(["Siobhan Okonkwo", "Zyntrix"])
        'Glossary: Siobhan Okonkwo, Zyntrix.'
        >>> vocabulary_sentence([])
        ''
    """
    return f"Glossary: {', '.join(terms)}." if terms else ""


def _longest(fits: Callable[[int], bool], high: int) -> int:
    """The largest n in 0..high with ``fits(n)``, for ``fits`` true up to some n, then false."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_prompt(
    vocabulary: Sequence[str],
    prompt: str,
    count_tokens: Callable[[str], int],
    *,
    budget: int = PROMPT_TOKENS,
    vocabulary_budget: int = VOCABULARY_TOKENS,
) -> str:
    """The initial prompt for a decode: the glossary, then the end of ``prompt``.

    ``count_tokens(text)`` is the model's token count of ``text``. The glossary
    keeps as many of the first terms as fit ``vocabulary_budget`` tokens; ``prompt`` (the
    stream's history or the user's prompt) then keeps as many of its *last* words as fit
    the rest of ``budget``, since the most recent text matters most.

    Example:
        >>> fit_prompt(["Zyntrix", "Quorvex"], "one two three", lambda t: len(t.split()),
        ...            budget=5, vocabulary_budget=3)
        'Glossary: Zyntrix, Quorvex. two three'
    """
    terms = list(vocabulary)
    kept = _longest(
        lambda n: count_tokens(vocabulary_sentence(terms[:n])) <= vocabulary_budget, len(terms)
    )
    head = vocabulary_sentence(terms[:kept])
    words = prompt.split()
    if not head:
        return " ".join(words)  # whisper.cpp itself keeps a long prompt's end
    room = budget - count_tokens(head)
    take = _longest(
        lambda n: n == 0 or count_tokens(" " + " ".join(words[-n:])) <= room, len(words)
    )
    return " ".join([head, *words[len(words) - take :]])
