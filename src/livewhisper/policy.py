"""The streaming rules that keep live text fresh, as pure functions over words and times.

No threads, no clock, no engine: the worker (:mod:`livewhisper.transcriber`) asks these
functions what to do and carries it out. Every time is a stream time in seconds.

* **Commits inside a long utterance** (:func:`commit_count`, :func:`cut_point`). A
  speaker who reads or dictates without pausing would otherwise get one final per 25 s
  utterance, decoded only at its end, with partials that grow ever dearer. Instead the
  words that successive partial decodes agree on (LocalAgreement-2, as in Macháček et
  al., *Turning Whisper into Real-Time Transcription System*, 2023, and its
  whisper_streaming code) become a final as soon as they close a sentence, or once the
  undecided window grows past :attr:`StreamConfig.commit_span`; the utterance is cut at
  the quietest point between the last committed word and the next, and later decodes
  hear only the audio after the cut.
* **Seams** (:func:`drop_repeated_start`): a word that straddles the cut can be heard
  on both sides of it; the repeat is dropped from the start of the next text.
* **Partial cadence** (:func:`next_partial_due`): interim decodes keep within
  :attr:`StreamConfig.partial_budget` of real time, however slow the machine is, so a
  busy machine gets sparser partials, never a growing queue.

Example::

    n = commit_count(agreed, pending, window_start=12.0, heard=19.5, config=StreamConfig())
    if n:
        cut = cut_point(audio, audio_start=12.0, last=agreed[n - 1], following=next_word)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from livewhisper.events import Word
from livewhisper.gate import StreamConfig
from livewhisper.guards import ends_sentence
from livewhisper.segmenter import SAMPLE_RATE, quietest
from livewhisper.wer import normalize

__all__ = [
    "commit_count",
    "cut_point",
    "drop_repeated_start",
    "next_partial_due",
    "words_before",
]

# Where a clause ends: a forced commit prefers to cut there rather than mid-phrase.
_CLAUSE_ENDS = (",", ";", ":")
# The quiet point of a cut is searched this far around the gap between two words: word
# times from whisper.cpp's token timestamps are good to about a tenth of a second.
_CUT_SEARCH = 0.15
# A repeat is only a seam artefact when it is heard this close to the cut.
_SEAM = 1.0
# Longest run of words a seam can repeat.
_SEAM_WORDS = 3


def commit_count(
    agreed: Sequence[Word],
    pending: Sequence[Word],
    *,
    window_start: float,
    heard: float,
    config: StreamConfig,
) -> int:
    """How many of the ``agreed`` words to make final now; 0 for none yet.

    ``agreed`` are the words of the open utterance that partial decodes agree on and that
    no final holds yet, in order; ``pending`` the newest decode's words after them;
    ``window_start`` where the undecided audio starts (the utterance's start or the last
    cut) and ``heard`` where the decoded audio ends. Rules, in order:

    * nothing before :attr:`StreamConfig.commit_after` seconds of window, so ordinary
      dictation with pauses keeps one final per utterance;
    * up to the last agreed word that ends a sentence and is followed by another word
      (a period on the newest word is often Whisper closing audio that was cut off);
    * once the window reaches :attr:`StreamConfig.commit_span`: up to the last agreed
      clause end (``,`` ``;`` ``:``) in the second half of the agreed words, else all of
      them, so no final waits for more than about that many seconds of speech.

    Example: agreed " Ask" " not." " What" over a 4 s window give 2: "Ask not." is
    closed by " What", which stays undecided.
    """
    if not agreed or heard - window_start < config.commit_after:
        return 0
    following = len(agreed) + len(pending)
    closed = [i + 1 for i, w in enumerate(agreed) if ends_sentence(w.word) and i + 1 < following]
    if closed:
        return closed[-1]
    if heard - window_start < config.commit_span:
        return 0
    half = len(agreed) // 2
    clauses = [i + 1 for i, w in enumerate(agreed) if w.word.rstrip().endswith(_CLAUSE_ENDS)]
    late = [n for n in clauses if n > half]
    return late[-1] if late else len(agreed)


def cut_point(
    audio: npt.NDArray[np.float32],
    audio_start: float,
    last: Word,
    following: Word | None,
) -> float:
    """The stream time at which to cut ``audio`` (16 kHz mono float32 starting at stream
    time ``audio_start``) between word ``last`` and the word ``following`` it (None when
    the decode ended there): the centre of the quietest 0.1 s (:func:`quietest`) within
    0.15 s of the gap between them, never before ``last`` starts nor after ``following``
    ends or the audio does.

    Example: ``cut_point(audio, 12.0, Word(" you.", 14.1, 14.4, 0.9), Word(" Ask", 14.9,
    15.2, 0.9))`` is a time between 14.25 and 15.05, in the silence if there is one.
    """
    end = audio_start + len(audio) / SAMPLE_RATE
    gap_start = last.end
    gap_end = following.start if following is not None else last.end
    lo = max(last.start, min(gap_start, gap_end) - _CUT_SEARCH, audio_start)
    hi = min(end, max(gap_start, gap_end) + _CUT_SEARCH)
    if following is not None:
        hi = min(hi, following.end)
    if hi <= lo:
        return min(max(last.end, audio_start), end)
    first = round((lo - audio_start) * SAMPLE_RATE)
    region = audio[first : round((hi - audio_start) * SAMPLE_RATE)]
    offset = quietest(region)
    if offset is None:
        return (lo + hi) / 2
    return audio_start + (first + offset) / SAMPLE_RATE


def drop_repeated_start(words: Sequence[Word], said: Sequence[Word], cut: float) -> list[Word]:
    """``words`` (stream times) without a leading run that repeats the end of ``said``
    (the words already final) and is heard within a second of ``cut``: the seam of a cut
    through a word, decoded on both sides of it.

    Example: said " for you." and cut 14.3; words " you. Ask not" (" you." at 14.2) give
    " Ask not".
    """
    keys = [normalize(w.word) for w in words]
    tail = [normalize(w.word) for w in said[-_SEAM_WORDS:]]
    for n in range(min(len(words), len(tail)), 0, -1):
        if keys[:n] == tail[-n:] and words[n - 1].start < cut + _SEAM:
            return list(words[n:])
    return list(words)


def words_before(words: Sequence[Word], cut: float) -> list[Word]:
    """The leading ``words`` centred before stream time ``cut``, with the punctuation-only
    words that directly follow the last of them (whisper.cpp may time a closing "." as a
    word of its own, after the cut).

    Example: " you" (14.0-14.3), "." (14.3-14.6), " Ask" (14.9-15.2) before 14.4 give
    " you" and ".".
    """
    kept = 0
    while kept < len(words) and (words[kept].start + words[kept].end) / 2 < cut:
        kept += 1
    while kept and kept < len(words) and not any(c.isalnum() for c in words[kept].word):
        kept += 1
    return list(words[:kept])


def next_partial_due(end: float, cost: float, budget: float, not_before: float) -> float:
    """The stream time before which the next partial of an utterance waits, after an
    interim decode of audio ending at ``end`` that took ``cost`` wall seconds: ``cost /
    budget`` seconds of audio later, and never sooner than ``not_before`` (the previous
    due time of the same utterance).

    Example: ``next_partial_due(10.0, 0.25, 0.25, 0.0)`` is 11.0.
    """
    return max(end + cost / budget, not_before)
