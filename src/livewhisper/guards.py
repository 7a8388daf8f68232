"""Checks on Whisper's text: phantom phrases, repetition loops, and where a sentence ends.

Whisper was trained on subtitles, so on silence, noise or music it tends to "hear" the
things subtitles say when nobody speaks ("Thank you.", "Thanks for watching!", credits of
the subtitling community), and under stress it can loop, writing one phrase over and
over. These functions recognise both from the text alone; what to do about it (drop the
text, retry, keep it when the VAD was sure of speech) is the caller's decision.

Example::

    if is_phantom(text) or is_repetitive(text):
        text = ""
    prompt = prompt_from_history(final_texts)
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence

from livewhisper.events import Transcription, Word
from livewhisper.wer import normalize

__all__ = [
    "MAX_PHRASE_COPIES",
    "PHANTOM_PHRASES",
    "compression_ratio",
    "drop_loops",
    "is_phantom",
    "is_repetitive",
    "prompt_from_history",
    "strip_repeats",
]

PHANTOM_PHRASES = frozenset(
    normalize(phrase)
    for phrase in (
        # English
        "you",
        "Thank you.",
        "Thank you very much.",
        "Thank you so much.",
        "Thanks.",
        "Thanks for watching!",
        "Thanks for watching.",
        "Thank you for watching.",
        "Thank you so much for watching.",
        "Thank you for watching and see you next time.",
        "Thanks for watching, see you next time.",
        "Thank you for listening.",
        "Please subscribe.",
        "Please subscribe to my channel.",
        "Like and subscribe.",
        "Don't forget to like and subscribe.",
        "Subtitles by the Amara.org community",
        "Subtitles by Amara.org",
        "Transcription by CastingWords",
        "Bye.",
        "Bye-bye.",
        # Spanish
        "Gracias.",
        "Muchas gracias.",
        "Gracias por ver.",
        "Gracias por ver el video.",
        "Gracias por mirar.",
        "¡Suscríbete!",
        "Suscríbete al canal.",
        "¡Suscríbete y dale like!",
        "Subtítulos realizados por la comunidad de Amara.org",
        "Subtítulos por la comunidad de Amara.org",
        "Subtitulado por la comunidad de Amara.org",
        "¡Hasta la próxima!",
        # French, German, Portuguese, Italian: the same subtitle credits
        "Sous-titres réalisés par la communauté d'Amara.org",
        "Sous-titrage Société Radio-Canada",
        "Merci d'avoir regardé.",
        "Untertitel der Amara.org-Community",
        "Untertitel im Auftrag des ZDF, 2017",
        "Untertitel von Stephanie Geiges",
        "Vielen Dank.",
        "Obrigado.",
        "Legendas pela comunidade Amara.org",
        "Sottotitoli creati dalla comunità Amara.org",
        "Grazie.",
        # Japanese, Chinese, Korean: "thank you for watching"
        "ご視聴ありがとうございました",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "谢谢观看",
        "시청해주셔서 감사합니다",
    )
)
"""Normalised texts that Whisper writes for silence or noise (:func:`is_phantom`)."""

# Whole-text annotations Whisper emits instead of words: [BLANK_AUDIO], (music),
# [Music], *sighs*, ♪ ... ♪, and so on.
_TAGS = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>|\{[^}]*\}|\*[^*]*\*|♪[^♪]*♪")
_NO_WORDS = re.compile(r"[\W_]*")


def is_phantom(text: str) -> bool:
    """Whether ``text`` is what Whisper writes when nobody speaks.

    True for a known phantom phrase (:data:`PHANTOM_PHRASES`, compared after
    :func:`~livewhisper.wer.normalize`), for a phrase repeated ("Thank you. Thank you."),
    and for text with no words outside tags and punctuation ("[BLANK_AUDIO]", "(music)",
    "*sighs*", "♪♪", "", "..."). Such phrases are sometimes really said; use this where
    the audio is in doubt, e.g. a short utterance or a high no-speech probability.

    Example::

        >>> is_phantom(" Thanks for watching!"), is_phantom("[Music]"), is_phantom("Thanks, Anna.")
        (True, True, False)
    """
    if _NO_WORDS.fullmatch(_TAGS.sub(" ", text)):
        return True
    words = normalize(text).split()
    if not words:
        return True
    for size in range(1, len(words) + 1):
        if len(words) % size == 0:
            unit = words[:size]
            if words == unit * (len(words) // size) and " ".join(unit) in PHANTOM_PHRASES:
                return True
    return False


MAX_PHRASE_COPIES = 4
"""The most copies of a word or phrase in a row that can be speech: people say a phrase
again two or three times ("come on, come on") and a word four ("no, no, no, no"); more
is a decoder loop."""


def compression_ratio(text: str) -> float:
    """UTF-8 length of ``text`` over its zlib-compressed length; 0.0 for empty text.

    Ordinary sentences score about 1 to 2; text that loops compresses well and scores
    high. Whisper itself treats a ratio above 2.4 as a failed decode.

    Example::

        >>> compression_ratio("ask not what your country can do for you") < 1.5
        True
        >>> compression_ratio("I'm sorry. " * 20) > 2.4
        True
    """
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def is_repetitive(text: str, max_ratio: float = 2.4, max_repeats: int = MAX_PHRASE_COPIES) -> bool:
    """Whether ``text`` looks like a decoding loop.

    True when its :func:`compression_ratio` exceeds ``max_ratio`` (long loops) or when a
    word or phrase of up to eight words occurs more than ``max_repeats`` times in a row
    (short loops, too short to compress well). The default of 4 lets real emphasis
    ("no, no, no, no") through. Words are compared normalised.

    Example::

        >>> is_repetitive("the the the the the the"), is_repetitive("words words words words")
        (True, False)
    """
    if max_repeats < 1:
        raise ValueError(f"max_repeats must be at least 1, got {max_repeats}")
    if compression_ratio(text) > max_ratio:
        return True
    words = normalize(text).split()
    return any(count > max_repeats for _, _, count in _runs(words, max_repeats))


def strip_repeats(text: str, max_repeats: int = MAX_PHRASE_COPIES) -> str:
    """``text`` with runs of a repeated word or phrase cut to ``max_repeats`` copies.

    Salvages a looping decode: "I see. I see. I see. I see. I see. I see." becomes four
    "I see." with the default. Words are compared normalised, and the kept words keep
    their original spelling and punctuation.

    Example::

        >>> strip_repeats("Go go go go go go now!", max_repeats=2)
        'Go go now!'
    """
    if max_repeats < 1:
        raise ValueError(f"max_repeats must be at least 1, got {max_repeats}")
    raw = text.split()
    keys = [normalize(w) for w in raw]
    changed = True
    while changed:
        changed = False
        for start, size, count in _runs(keys, max_repeats):
            if count > max_repeats:
                cut = slice(start + size * max_repeats, start + size * count)
                del raw[cut]
                del keys[cut]
                changed = True
                break
    return " ".join(raw)


def prompt_from_history(finals: Sequence[str], max_chars: int = 200) -> str:
    """An initial prompt for the next decode from the latest final texts, oldest first.

    Continuity helps Whisper with names, spelling and punctuation style, but a prompt
    that contains a loop or a phantom phrase invites Whisper to write it again; so texts
    that :func:`is_repetitive` or :func:`is_phantom` flag are left out, as is a text
    equal to the one after it. The result is the end of the remaining texts joined by
    spaces, at most ``max_chars`` long, cut at a word boundary.

    Example::

        >>> prompt_from_history(["Hello Anna.", "Thank you.", "Let's begin with the agenda."])
        "Hello Anna. Let's begin with the agenda."
        >>> prompt_from_history(["one two three four"], max_chars=10)
        'three four'
    """
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, got {max_chars}")
    kept: list[str] = []
    length = -1  # no space before the first text
    for text in reversed(finals):
        text = " ".join(text.split())
        if not text or is_phantom(text) or is_repetitive(text):
            continue
        if kept and normalize(text) == normalize(kept[-1]):
            continue
        kept.append(text)
        length += len(text) + 1
        if length >= max_chars:
            break
    joined = " ".join(reversed(kept))
    if len(joined) <= max_chars:
        return joined
    cut = joined[len(joined) - max_chars :]
    # Begin at a word: drop the partial word the cut landed in, unless it landed on one.
    if not joined[len(joined) - max_chars - 1].isspace():
        cut = cut.partition(" ")[2]
    return cut.strip()


def _runs(words: Sequence[str], max_repeats: int) -> list[tuple[int, int, int]]:
    """Runs of a phrase of 1 to 8 words repeated back to back, as (start, size, count).

    Only runs of more than ``max_repeats`` copies are reported. The scan is quadratic at
    worst, which is cheap for the few hundred words a Whisper window can hold.
    """
    found: list[tuple[int, int, int]] = []
    n = len(words)
    for size in range(1, min(8, n // (max_repeats + 1)) + 1):
        start = 0
        while start + size * 2 <= n:
            count = _copies(words, start, size)
            if count > max_repeats:
                found.append((start, size, count))
                start += size * count
            else:
                start += 1
    return found


# A phantom phrase is believed only from an utterance in which the VAD heard speech for
# this long, and only when Whisper is this sure of its words. The VAD (Silero's second
# opinion, livewhisper.vad) no longer calls hum, noise or music speech, so what it hears
# for a third of a second is a voice: the replies "Thanks." and "Bye." last 0.33 to
# 0.36 s (espeak-ng), and tiny.en writes them at 0.7 to 0.98.
PHANTOM_MIN_SPEECH = 0.3
PHANTOM_MIN_PROBABILITY = 0.6


def tidy(text: str) -> str:
    """Whitespace collapsed, sound tags and music notes removed ("[Music]", "(coughs)",
    "♪"), and a decoding loop cut back (:func:`strip_repeats`).

    Example::

        >>> tidy("  go   on go on go on go on go on go on ")
        'go on go on go on go on'
        >>> tidy("Hello [Music] there. ♪")
        'Hello there.'
    """
    text = " ".join(_TAGS.sub(" ", text).replace("\u266a", " ").split())
    return strip_repeats(text) if is_repetitive(text) else text


def is_noise(text: str, speech_seconds: float, probabilities: Sequence[float]) -> bool:
    """Whether decoded ``text`` is a phantom heard in noise rather than real speech.

    Text without words (:func:`is_phantom`: tags, notes, punctuation) is always noise.
    A known phantom phrase ("Thank you.", "Bye.") is noise unless the evidence says it
    was spoken: at least :data:`PHANTOM_MIN_SPEECH` seconds of what the VAD judged
    speech (``speech_seconds``) and word ``probabilities`` averaging at least
    :data:`PHANTOM_MIN_PROBABILITY`. The live transcriber and file transcription share
    this rule, so a file and the same audio dictated give the same text.

    Example::

        >>> is_noise("Thank you.", 0.5, [0.9, 0.74]), is_noise("[Music]", 3.0, [0.9])
        (False, True)
        >>> is_noise("Thank you.", 0.1, [0.9, 0.9]), is_noise("Thanks.", 1.0, [0.3])
        (True, True)
    """
    if not is_phantom(text):
        return False
    if _NO_WORDS.fullmatch(_TAGS.sub(" ", text)):
        return True
    confidence = sum(probabilities) / len(probabilities) if probabilities else 0.0
    return speech_seconds < PHANTOM_MIN_SPEECH or confidence < PHANTOM_MIN_PROBABILITY


# Fast readers say 15 to 18 characters a second (spaces included); text denser than this
# for the speech the VAD heard was not all said.
MAX_CHARS_PER_SECOND = 25.0
_MAX_LOOP_UNIT = 40  # words in the longest phrase checked for copies


def drop_loops(words: Sequence[Word], speech_seconds: float) -> list[Word]:
    """``words`` without the copies of a phrase that Whisper wrote more often than the
    audio says it (a decoder loop: "Fire Fox. Fire Fox." from a clip saying it once).

    A phrase of up to 40 words followed at once by one or more copies of itself (words
    compared normalised; a single word said twice is always kept) is a real repeat when
    every copy was heard: each starts after the one before ends, lasts at least half as
    long as the first, and the whole text fits in ``speech_seconds`` of speech (the
    VAD's, in seconds) at :data:`MAX_CHARS_PER_SECOND`. Otherwise only the first copy is
    kept. However they are timed, two kinds of copies of a phrase of several words are a
    loop, and the first copy alone is kept: more than :data:`MAX_PHRASE_COPIES` of them
    ("Por favor, por favor," six times, from base on a 4 s prompt that says it once and
    whose word times Whisper spread over the audio), and copies that end the text in the
    start of one more copy ("And so am I fellow Americans. And so am I fellow Americans.
    And so am", the end of the decode cutting the loop off). Word times must be on one
    clock (any offset).

    Example::

        >>> said = [Word(" Fire", 0.6, 0.9, 0.9), Word(" Fox.", 0.9, 1.4, 0.9)]
        >>> loop = said + [Word(" Fire", 1.4, 1.45, 0.8), Word(" Fox.", 1.45, 1.5, 0.8)]
        >>> [w.word for w in drop_loops(loop, speech_seconds=0.8)]
        [' Fire', ' Fox.']
        >>> twice = said + [w.with_offset(1.0) for w in said]
        >>> len(drop_loops(twice, speech_seconds=1.8))
        4
    """
    kept = list(words)
    keys = [normalize(w.word) for w in kept]
    dense = sum(len(w.word) for w in kept) > MAX_CHARS_PER_SECOND * max(speech_seconds, 0.0)
    i = 0
    while i < len(kept):
        run = _long_run(keys, i)
        if run is not None:  # a loop however it is timed: keep the first copy
            size, copies = run
            rest = keys[i + copies * size :]
            cut_off = len(rest) < size and rest == keys[i : i + len(rest)]
            end = len(keys) if cut_off else i + copies * size  # and a copy begun at the end
            del kept[i + size : end]
            del keys[i + size : end]
            i += size
            continue
        for size in range(min(_MAX_LOOP_UNIT, (len(kept) - i) // 2), 0, -1):
            unit = keys[i : i + size]
            if not any(unit):
                continue
            copies = _copies(keys, i, size)
            if copies < 2 or (size == 1 and copies == 2):
                continue  # "bye bye", "no no": a word said twice is how people talk
            spans = [
                (kept[i + c * size].start, kept[i + (c + 1) * size - 1].end) for c in range(copies)
            ]
            rest = keys[i + copies * size :]
            cut_off = size > 1 and 0 < len(rest) < size and rest == unit[: len(rest)]
            if cut_off:
                del kept[i + size :]
                del keys[i + size :]
            elif dense or not _all_heard(spans):
                del kept[i + size : i + copies * size]
                del keys[i + size : i + copies * size]
            i += size - 1  # past the phrase (the loop below adds one)
            break
        i += 1
    return kept


def _copies(words: Sequence[str], start: int, size: int) -> int:
    """How many copies of ``words[start : start + size]`` follow back to back from
    ``start`` (1: the phrase alone)."""
    unit = words[start : start + size]
    count = 1
    while words[start + size * count : start + size * (count + 1)] == unit:
        count += 1
    return count


def _long_run(keys: Sequence[str], i: int) -> tuple[int, int] | None:
    """(size, copies) of the shortest phrase of two or more words at ``keys[i]`` that
    more than :data:`MAX_PHRASE_COPIES` copies follow back to back, or None."""
    longest = min(_MAX_LOOP_UNIT, (len(keys) - i) // (MAX_PHRASE_COPIES + 1))
    for size in range(2, longest + 1):
        copies = _copies(keys, i, size)
        # Not one word over and over: that is left to the timing rule.
        if copies > MAX_PHRASE_COPIES and len(set(keys[i : i + size])) > 1:
            return size, copies
    return None


def _all_heard(spans: Sequence[tuple[float, float]]) -> bool:
    """Whether copies timed ``spans`` (start, end) follow one another, none squeezed to
    under half the first's length."""
    first = spans[0][1] - spans[0][0]
    for (_, before_end), (start, end) in itertools.pairwise(spans):
        if start < before_end - 0.05 or end - start < 0.5 * first:
            return False
    return True


# What may follow the last mark of a text: spaces, closing quotes and brackets.
_CLOSERS = " \"'\u201d\u00bb)"
# How a sentence ends in Whisper's punctuation; "..." is a thought trailing off, not an end.
_SENTENCE_ENDS = (".", "?", "!", "\u3002", "\uff1f", "\uff01")


# Words whose period is an abbreviation's, not a sentence's end (English and Spanish
# titles and the like); a lone capital letter ("J.") is an initial.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "sra",
        "srta",
        "dra",
        "vs",
        "fig",
        "approx",
        "ud",
        "uds",
    ]
)


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends a sentence: final punctuation, not an ellipsis, and not the
    period of a title or an initial ("Mr.", "Dr.", "Sra.", "J.").

    Example::

        >>> ends_sentence("Ask not what your country can do for you."), ends_sentence("And so...")
        (True, False)
        >>> ends_sentence("And Mr."), ends_sentence("John F.")
        (False, False)
    """
    text = text.rstrip(_CLOSERS)
    if not text.endswith(_SENTENCE_ENDS) or text.endswith(".."):
        return False
    last = text.split()[-1] if text.split() else ""
    if last.endswith("."):
        stem = last[:-1].lstrip("\"'\u201c\u00ab(\u00bf\u00a1")
        if stem.lower() in _ABBREVIATIONS or (len(stem) == 1 and stem.isupper() and stem != "I"):
            return False
    return True


def trails_off(text: str) -> bool:
    """Whether ``text`` ends cut off: an ellipsis or a dash, which Whisper writes where
    its audio stops inside a word or phrase ("This is the acoustic Qu...", "... some
    speech errors, but...").

    Example::

        >>> trails_off("This is the Acoustic Qu..."), trails_off("And so\u2026")
        (True, True)
        >>> trails_off("It ended."), trails_off("a well-known")
        (False, False)
    """
    text = text.rstrip(_CLOSERS)
    return text.endswith(("..", "\u2026", "-", "\u2014", "\u2013"))


def sentence_end_confidence(result: Transcription) -> float:
    """How sure Whisper is of how ``result``'s sentence ends: the lesser of the probability
    of its closing ``.``, ``?`` or ``!`` and that of its last word (which holds the mark);
    0.0 when the text does not end a sentence.

    The last word counts because audio cut at a pause inside a phrase is often closed
    confidently after a guessed word ("... saying it a question." at 0.55 for "saying a
    bunch of different words").

    Example: ``sentence_end_confidence(engine.transcribe(clip))`` is about 0.8 after
    "Go forward 10 meters." and 0.0 after "And so my fellow Americans,".
    """
    if not result.segments or not ends_sentence(tidy(result.text)):
        return 0.0
    last = result.segments[-1]
    word = last.words[-1].probability if last.words else 1.0
    return min(last.end_probability, word)
