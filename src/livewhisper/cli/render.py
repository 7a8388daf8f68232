"""Live text on a terminal: partial text dimmed and rewritten in place, finals settled.

On a pipe or a file only the finals are written, one line each, so that
``livewhisper dictate | tee notes.txt`` records clean text.

Example::

    view = LiveView(sys.stdout)
    view.partial("ask not what")       # dimmed, on the current line
    view.partial("ask not what your")  # the same line, rewritten
    view.final("Ask not what your country can do for you.")   # settles, new line
"""

from __future__ import annotations

import os
import shutil
import threading
import unicodedata
from typing import TextIO

__all__ = ["LiveView", "display_width"]

_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"
_ELLIPSIS = "…"


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters count two, marks none.

    Example::

        >>> display_width("abc"), display_width("日本")
        (3, 4)
    """
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _tail(text: str, columns: int) -> str:
    """The end of ``text`` that fits in ``columns``, led by an ellipsis when cut."""
    if display_width(text) <= columns:
        return text
    kept: list[str] = []
    used = 1  # the ellipsis
    for ch in reversed(text):
        w = display_width(ch)
        if used + w > columns:
            break
        kept.append(ch)
        used += w
    return _ELLIPSIS + "".join(reversed(kept))


class LiveView:
    """Writes partial and final text to ``stream``, live on a terminal, plain on a pipe.

    ``live`` (default: whether ``stream`` is a terminal) shows partial text, dimmed
    unless ``NO_COLOR`` is set, on one line that each partial rewrites; it is cut to the
    terminal's width from the left (a wrapped line could not be rewritten in place).
    Without ``live``, partials are ignored and each final is one line, flushed at once.
    Thread-safe: events may come from a worker thread.

    Example::

        view = LiveView(sys.stdout)
        dictation = Dictation(on_partial=lambda p: view.partial(p.text),
                              on_final=lambda f: view.final(f.text))
    """

    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        self._stream = stream
        self.live = stream.isatty() if live is None else live
        self._dim = self.live and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self._showing = False
        self._text = ""
        self._behind = ""

    def partial(self, text: str) -> None:
        """Show ``text`` in place of the previous partial (terminal only)."""
        if not self.live:
            return
        with self._lock:
            self._text = " ".join(text.split())
            self._draw()

    def lag(self, seconds: float, behind: bool) -> None:
        """Say on the partial line that the text is ``seconds`` behind the speaker while
        ``behind``; clear that once it has caught up (terminal only)."""
        if not self.live:
            return
        with self._lock:
            self._behind = f"[{seconds:.0f} s behind] " if behind else ""
            if self._text or self._behind:
                self._draw()

    def _draw(self) -> None:
        columns = max(10, shutil.get_terminal_size().columns - 1 - display_width(self._behind))
        shown = _tail(self._text, columns)
        # No empty dim span: "[3 s behind]" alone, before any partial, is no partial.
        start, end = (_DIM, _RESET) if self._dim and shown else ("", "")
        self._stream.write(f"{_CLEAR_LINE}{self._behind}{start}{shown}{end}")
        self._stream.flush()
        self._showing = True

    def final(self, text: str) -> None:
        """Write ``text`` as a settled line, replacing the partial on a terminal."""
        with self._lock:
            prefix = _CLEAR_LINE if self._showing else ""
            self._stream.write(f"{prefix}{text.strip()}\n")
            self._stream.flush()
            self._showing = False
            self._text = ""

    def clear(self) -> None:
        """Erase a partial still on screen (before exiting, or printing anything else)."""
        with self._lock:
            if self._showing:
                self._stream.write(_CLEAR_LINE)
                self._stream.flush()
                self._showing = False
