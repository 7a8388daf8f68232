"""LocalAgreement: which words of a growing transcript are settled.

While an utterance is still being spoken, the transcriber decodes its audio again and
again, each time with a little more audio, and each decode is a *hypothesis* for the
whole utterance so far. Whisper often rewrites the last few words as more audio arrives,
but words that two successive hypotheses agree on rarely change afterwards. The
LocalAgreement-2 policy (Macháček, Dabre and Bojar, *Turning Whisper into Real-Time
Transcription System*, 2023) therefore commits the longest common prefix of the last two
hypotheses; committed words are final and are never taken back.

Words are compared on their normalised text (:func:`livewhisper.wer.normalize`: lower
case, no punctuation), so " Country" and " country." agree; the committed copy is the
newest one, with its punctuation and timing.

Example::

    agreement = LocalAgreement()
    agreement.update(words(" And so my"))             # ()    nothing to agree with yet
    agreement.update(words(" And so, my fellow"))     # (" And", " so,", " my")
    agreement.update(words(" And so my fellow Am"))   # (" fellow",)
    agreement.committed                               # the four words, in order
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from livewhisper.errors import ConfigError
from livewhisper.events import Word
from livewhisper.wer import normalize

__all__ = ["LocalAgreement"]

# Longest run of committed words used to find where a hypothesis continues them.
_ANCHOR_WORDS = 3


class LocalAgreement:
    """Commits the words that the last ``n`` hypotheses of one utterance agree on.

    ``n=2`` is LocalAgreement-2, the usual trade-off; a larger ``n`` commits later but
    more surely, ``n=1`` commits every hypothesis whole. Use one instance per utterance
    and :meth:`reset` it when the utterance ends.

    Example::

        agreement = LocalAgreement()
        for hypothesis in hypotheses:  # each a sequence of Word for the whole utterance
            for word in agreement.update(hypothesis):
                print(word.word, end="", flush=True)
    """

    def __init__(self, n: int = 2) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"LocalAgreement needs n >= 1 hypotheses to agree, got {n!r}")
        self._n = n
        self._committed: list[Word] = []
        self._committed_keys: list[str] = []
        # The uncommitted tails of the latest hypotheses, oldest first.
        self._tails: deque[list[Word]] = deque(maxlen=n)

    @property
    def committed(self) -> tuple[Word, ...]:
        """Every word committed since the last :meth:`reset`, in order.

        Example: ``"".join(w.word for w in agreement.committed).strip()``.
        """
        return tuple(self._committed)

    @property
    def pending(self) -> tuple[Word, ...]:
        """The newest hypothesis's words after the committed ones: not yet agreed on.

        ``committed + pending`` is the best current reading of the utterance, the text
        of a partial result.

        Example: ``partial = "".join(w.word for w in agreement.committed + agreement.pending)``.
        """
        return tuple(self._tails[-1]) if self._tails else ()

    def update(self, words: Sequence[Word]) -> tuple[Word, ...]:
        """Take the newest hypothesis for the whole utterance; return the words it commits.

        ``words`` must all use one time base (utterance or stream seconds) across calls.
        Returns the newly committed words, possibly none; they follow
        :attr:`committed` as it was before the call.

        Example::

            new = agreement.update(decoded.words)
            stable_text = "".join(w.word for w in agreement.committed)
        """
        tail = self.after_committed(words)
        self._tails.append(tail)
        if len(self._tails) < self._n:
            return ()
        agreed = min(len(t) for t in self._tails)
        keyed = [[_key(w) for w in t] for t in self._tails]
        for i in range(agreed):
            if any(k[i] != keyed[-1][i] for k in keyed):
                agreed = i
                break
        new = tuple(tail[:agreed])
        self._committed.extend(new)
        self._committed_keys.extend(keyed[-1][:agreed])
        for t in self._tails:
            del t[:agreed]
        return new

    def reset(self) -> None:
        """Forget everything: the next :meth:`update` starts a new utterance.

        Example: ``agreement.reset()`` after the utterance's final result is out.
        """
        self._committed.clear()
        self._committed_keys.clear()
        self._tails.clear()

    def after_committed(self, words: Sequence[Word]) -> list[Word]:
        """The part of the whole-utterance hypothesis ``words`` that follows the committed
        words, without taking it as a hypothesis (:meth:`update` does).

        Example: ``shown = agreement.committed + tuple(agreement.after_committed(words))``.
        """
        words = list(words)
        done = len(self._committed_keys)
        if done == 0:
            return words
        keys = [_key(w) for w in words]
        if keys[:done] == self._committed_keys:
            return words[done:]
        # The hypothesis rewrote something already committed ("fellow" as "follow").
        # Find where it repeats the last committed words, nearest the expected place.
        m = min(done, _ANCHOR_WORDS)
        anchor = self._committed_keys[-m:]
        ends = [j for j in range(m, len(keys) + 1) if keys[j - m : j] == anchor]
        if ends:
            return words[min(ends, key=lambda j: abs(j - done)) :]
        # No textual anchor: fall back on time. Words centred after the last committed
        # word ended are new; then drop a leading run that repeats the committed tail,
        # as a word straddling the boundary is often decoded on both sides of it.
        last_end = self._committed[-1].end
        tail = [w for w in words if (w.start + w.end) / 2 > last_end]
        tail_keys = [_key(w) for w in tail]
        for i in range(min(len(tail), done, _ANCHOR_WORDS), 0, -1):
            if tail_keys[:i] == self._committed_keys[-i:]:
                return tail[i:]
        return tail


def _key(word: Word) -> str:
    return normalize(word.word)
