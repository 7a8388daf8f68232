"""Live text as appended pieces: what streaming protocols that cannot retract text send.

Wyoming's ``transcript-chunk`` and OpenAI Realtime's ``...transcription.delta`` carry
pieces a client appends; neither can take text back. Our partials can change, except
their ``stable`` prefix (the words successive decodes agree on), so :class:`TextDeltas`
sends the stable text as it grows and, at the final, whatever of the final's text
extends what was sent. When a later text no longer starts with what was sent (a comma
Whisper added, a word it changed its mind about), its words are aligned with the words
sent (case and punctuation aside, by word edit distance) and only the words past the
aligned end go out: a client that appends never loses the end of an utterance and never
gets its start twice. The final's full text, which every protocol also sends, is the one
to trust for the changed words.

Example::

    >>> deltas = TextDeltas(separator=" ")
    >>> deltas.partial("And so my"), deltas.partial("And so my fellow")
    ('And so my', ' fellow')
    >>> deltas.final("And so my fellow Americans."), deltas.partial("Ask not")
    (' Americans.', ' Ask not')
    >>> deltas.final("Ask, not what your country can do.")
    ' what your country can do.'
"""

from __future__ import annotations

from collections.abc import Sequence

from livewhisper.wer import normalize

__all__ = ["TextDeltas"]


class TextDeltas:
    """The appended pieces of a stream of utterances (pure: strings in, strings out).

    ``separator`` goes before the first piece of each utterance after the first one that
    sent text (``" "`` for one running transcript; ``""`` when each utterance is an item
    of its own).
    """

    def __init__(self, separator: str = " ") -> None:
        self.separator = separator
        self._open = ""  # text of the open utterance sent so far
        self._sent = ""  # every piece sent, joined

    def partial(self, stable: str) -> str:
        """The piece to send for a partial whose agreed prefix is ``stable`` ("" if none)."""
        return self._extend(stable.strip())

    def final(self, text: str) -> str:
        """The piece to send for the final ``text`` of the open utterance; the next text
        starts a new utterance."""
        piece = self._extend(text.strip())
        self._open = ""
        return piece

    def whole(self, text: str) -> str:
        """The piece to send for ``text``, a transcript of the whole stream that replaces
        every utterance so far (a decode of all the audio at its end): its words past
        those already sent, aligned as above. Example: after the finals "And so my
        fellow" and "Americans, ask", ``whole("And so, my fellow Americans, ask not.")``
        is ``" not."``."""
        words = text.split()
        new = words[aligned_end(self._sent.split(), words) :]
        self._open = ""
        if not new:
            return ""
        piece = (self.separator if self._sent else "") + " ".join(new)
        self._sent += piece
        return piece

    def _extend(self, text: str) -> str:
        if text.startswith(self._open):
            piece = text[len(self._open) :]
            extended = text
        else:
            tokens = text.split()
            new = tokens[aligned_end(self._open.split(), tokens) :]
            piece = " ".join(new) and " " + " ".join(new)
            extended = self._open + piece
        if not piece:
            return ""
        if not self._open and self._sent:
            piece = self.separator + piece
        self._open = extended
        self._sent += piece
        return piece


def aligned_end(sent: Sequence[str], words: Sequence[str]) -> int:
    """How many of ``words`` the already-sent words ``sent`` stand for: the prefix length
    ``j`` of ``words`` whose word edit distance to ``sent`` is least (case and punctuation
    aside; the longest such prefix on a tie, so that nothing sent is sent again).

    Example: ``aligned_end(["for", "you,", "ask"], ["For", "you", "ask", "what"])`` is 3.
    """
    a = [normalize(w) or w for w in sent]
    b = [normalize(w) or w for w in words]
    # row[j]: the edit distance of the sent words so far to words[:j].
    row = list(range(len(b) + 1))
    for x in a:
        diagonal, row[0] = row[0], row[0] + 1
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    least = min(row)
    return max(j for j, cost in enumerate(row) if cost == least)
