"""Vocabulary spelling: a run of words that sounds and reads like a listed term becomes it.

Whisper primed with a vocabulary (:mod:`livewhisper.vocabulary`) still writes names it
has never seen the way they sound to it: "Trail away" for *Trelloway*, "Intrix" for
*Zyntrix*, "Siobhan O'Konkwo" for *Siobhan Okonkwo*. :func:`spell_terms` replaces a run
of one to four decoded words by a term of the vocabulary when the two are close both in
sound (their Metaphone codes, Lawrence Philips, 1990, through the ``jellyfish`` package)
and in letters (Levenshtein distance), so that a name heard slightly wrong is written
right while ordinary words that merely sound alike ("often" and *Ophidian* share a
Metaphone code) are left alone. This is the correction step of *contextual spelling
correction* (as in Wang et al., *Towards Contextual Spelling Correction for Customization
of End-to-End Speech Recognition Systems*, 2022, arXiv:2203.00888), done with string
similarity instead of a trained model. Pure functions: words and terms in, words out.

Example::

    >>> from livewhisper.events import Word
    >>> words = [Word(" Send", 0.0, 0.3, 0.9), Word(" the", 0.3, 0.4, 0.9),
    ...          Word(" trail", 0.4, 0.7, 0.6), Word(" away", 0.7, 1.0, 0.5),
    ...          Word(" invoice.", 1.0, 1.5, 0.9)]
    >>> "".join(w.word for w in spell_terms(words, ["Trelloway"]))
    ' Send the Trelloway invoice.'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import jellyfish

from livewhisper.events import Transcription, Word

__all__ = ["spell_terms", "spell_transcription", "term_similarity"]

# A run must be at least this close to a term in sound and in letters (1 is the same).
# Chosen before any benchmark run, then checked (docs/finetune.md): on the 40 training
# sentences of the names benchmark (never its test sentences) they cut the key-term
# errors left by the vocabulary prompt from 68% to 38%, and they replaced nothing in
# 615,000 words of English prose (licence texts) nor in the 19 real clips.
MIN_SOUND = 0.75
MIN_LETTERS = 0.6
# Terms with fewer letters than this are never matched loosely: short keys match too much.
MIN_TERM_LETTERS = 4
# At most this many words more than the term has make one run ("a deep next car").
_EXTRA_WORDS = 2
_MAX_RUN = 4
_NOT_LETTERS = re.compile(r"[\W_]+")
_SENTENCE_END = (".", "?", "!")


def _letters(text: str) -> str:
    """``text`` lowercased, with only its letters and digits."""
    return _NOT_LETTERS.sub("", text.casefold())


def _similarity(a: str, b: str) -> float:
    """1 minus the Levenshtein distance of ``a`` and ``b`` over the longer length."""
    longest = max(len(a), len(b))
    return 1.0 - jellyfish.levenshtein_distance(a, b) / longest if longest else 1.0


def term_similarity(heard: str, term: str) -> tuple[float, float]:
    """(sound, letters): how close the text ``heard`` is to ``term``, each 0 to 1.

    Sound compares the Metaphone codes of the two, written without spaces; letters
    compares their letters and digits, case and punctuation aside.

    Example:
        >>> [round(x, 2) for x in term_similarity("trail away", "Trelloway")]
        [1.0, 0.67]
        >>> [round(x, 2) for x in term_similarity("often", "Ophidian")]
        [1.0, 0.25]
    """
    return _Target.of(term).similarity(_letters(heard))


@dataclass(frozen=True)
class _Target:
    """A term with what matching it needs: its word count, letters and Metaphone code."""

    term: str
    words: int
    letters: str
    code: str

    @classmethod
    def of(cls, term: str) -> _Target:
        letters = _letters(term)
        return cls(term, len(term.split()), letters, jellyfish.metaphone(letters))

    def similarity(self, letters: str) -> tuple[float, float]:
        """(sound, letters) of the letters ``letters`` against this term."""
        sound = _similarity(jellyfish.metaphone(letters), self.code)
        return sound, _similarity(letters, self.letters)


@dataclass(frozen=True)
class _Match:
    start: int
    stop: int
    term: str
    score: float


def spell_terms(words: Sequence[Word], terms: Sequence[str]) -> list[Word]:
    """``words`` (one decode's, in order) with each run that matches a term of ``terms``
    written as the term.

    A run is one to four words, at most two more than the term has, not across a
    sentence end; it matches when :func:`term_similarity` gives at least
    :data:`MIN_SOUND` and :data:`MIN_LETTERS` and the term has :data:`MIN_TERM_LETTERS`
    letters or more. Overlapping matches are settled best first, and a term already
    written right is the best match of its words. The term's words share
    the run's time span in proportion to their letters and take the run's lowest
    probability; the run's leading space and closing punctuation are kept.

    Example: ``[" Ask", " Shivon", " O'Konkwo."]`` with the term "Siobhan Okonkwo" gives
    ``[" Ask", " Siobhan", " Okonkwo."]``.
    """
    matches = _matches(words, terms)
    chosen: list[_Match] = []
    taken = [False] * len(words)
    for match in sorted(matches, key=lambda m: (-m.score, m.start)):
        if not any(taken[match.start : match.stop]):
            chosen.append(match)
            taken[match.start : match.stop] = [True] * (match.stop - match.start)
    out: list[Word] = []
    position = 0
    for match in sorted(chosen, key=lambda m: m.start):
        if not match.term:
            continue  # kept as written
        out.extend(words[position : match.start])
        out.extend(_as_term(words[match.start : match.stop], match.term))
        position = match.stop
    out.extend(words[position:])
    return out


def _matches(words: Sequence[Word], terms: Sequence[str]) -> list[_Match]:
    """Every run of ``words`` that is a term of ``terms`` (``term`` "") or close to one
    (see :func:`spell_terms`)."""
    targets = [_Target.of(t) for t in terms]
    targets = [t for t in targets if len(t.letters) >= MIN_TERM_LETTERS]
    keys = [_letters(w.word) for w in words]
    matches: list[_Match] = []
    for start in range(len(words) if targets else 0):
        if not keys[start]:
            continue
        for stop in range(start + 1, min(len(words), start + _MAX_RUN) + 1):
            if stop - 1 > start and words[stop - 2].word.rstrip().endswith(_SENTENCE_END):
                break  # a run never spans the end of a sentence
            heard = "".join(keys[start:stop])
            for target in targets:
                if stop - start > target.words + _EXTRA_WORDS:
                    continue
                if heard == target.letters:  # written right already: no other match takes it
                    matches.append(_Match(start, stop, "", 3.0))
                    continue
                sound, letters = target.similarity(heard)
                if sound >= MIN_SOUND and letters >= MIN_LETTERS:
                    matches.append(_Match(start, stop, target.term, sound + letters))
    return matches


def _as_term(run: Sequence[Word], term: str) -> list[Word]:
    """The words of ``term`` in place of ``run``: its time span shared by letters, its
    lowest probability, its leading space and closing punctuation."""
    names = term.split()
    last = run[-1].word.rstrip()
    closing = last[len(last.rstrip(".,;:?!")) :]
    lead = " " if run[0].word.startswith(" ") else ""
    weights = [max(1, len(_letters(n))) for n in names]
    start, span = run[0].start, max(0.0, run[-1].end - run[0].start)
    probability = min(w.probability for w in run)
    out: list[Word] = []
    done = 0
    for i, (name, weight) in enumerate(zip(names, weights, strict=True)):
        begin = start + span * done / sum(weights)
        done += weight
        end = start + span * done / sum(weights)
        text = (lead if i == 0 else " ") + name + (closing if i == len(names) - 1 else "")
        out.append(Word(text, begin, end, probability))
    return out


def spell_transcription(result: Transcription, terms: Sequence[str]) -> Transcription:
    """``result`` with :func:`spell_terms` applied to each segment's words (its text
    written again from them where a term was matched).

    Example: ``spell_transcription(engine.transcribe(audio), ["Trelloway"])``.
    """
    segments = []
    for segment in result.segments:
        words = spell_terms(segment.words, terms)
        if words != list(segment.words):
            segment = replace(segment, text="".join(w.word for w in words), words=tuple(words))
        segments.append(segment)
    return replace(result, segments=tuple(segments))
