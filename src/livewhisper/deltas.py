"""Live text as appended pieces: what streaming protocols that cannot retract text send.

Wyoming's ``transcript-chunk`` and OpenAI Realtime's ``...transcription.delta`` carry
pieces a client appends; neither can take text back. Our partials can change, except
their ``stable`` prefix (the words successive decodes agree on), so :class:`TextDeltas`
sends the stable text as it grows and, at the final, whatever of the final's text
extends what was sent. A partial whose stable text no longer extends what was sent (a
comma Whisper added, say) sends nothing; the final's full text, which every protocol
also sends, is then the one to trust.

Example::

    >>> deltas = TextDeltas(separator=" ")
    >>> deltas.partial("And so my"), deltas.partial("And so my fellow")
    ('And so my', ' fellow')
    >>> deltas.final("And so my fellow Americans."), deltas.partial("Ask not")
    (' Americans.', ' Ask not')
"""

from __future__ import annotations

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
        self._sent_any = False

    def partial(self, stable: str) -> str:
        """The piece to send for a partial whose agreed prefix is ``stable`` ("" if none)."""
        return self._extend(stable.strip())

    def final(self, text: str) -> str:
        """The piece to send for the final ``text`` of the open utterance; the next text
        starts a new utterance."""
        piece = self._extend(text.strip())
        self._open = ""
        return piece

    def _extend(self, text: str) -> str:
        if len(text) <= len(self._open) or not text.startswith(self._open):
            return ""
        piece = text[len(self._open) :]
        if not self._open and self._sent_any:
            piece = self.separator + piece
        self._open = text
        self._sent_any = True
        return piece
