"""Write timed text as txt, srt, vtt, json or jsonl.

Each writer takes segments (anything with ``text``, ``start`` and ``end``; words too for
json) and returns the whole document as a string, so files and HTTP responses share one
implementation. :func:`jsonl_line` serves streams written one final at a time. Subtitles
(srt, vtt) are shaped for reading from the word timestamps
(:func:`~livewhisper.subtitles.shape_cues`): short lines, a few seconds a cue.

Example::

    print(to_srt(result.segments))
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TextIO

from livewhisper.events import Word
from livewhisper.subtitles import CueLayout, shape_cues


class Timed(Protocol):
    """Timed text, such as a :class:`~livewhisper.events.Segment` or a ``Final``."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


FORMATS = ("txt", "srt", "vtt", "json", "jsonl")
"""Every output format livewhisper writes."""


def timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (srt) or with ``separator="."`` ``HH:MM:SS.mmm`` (vtt)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: Iterable[Timed]) -> list[Timed]:
    return [s for s in segments if s.text.strip()]


def to_txt(segments: Iterable[Timed]) -> str:
    """One line per segment."""
    return "".join(f"{s.text.strip()}\n" for s in _cues(segments))


def srt_cue(index: int, segment: Timed) -> str:
    """One numbered SubRip cue, blank line included."""
    return (
        f"{index}\n{timestamp(segment.start)} --> {timestamp(max(segment.end, segment.start))}\n"
        f"{segment.text.strip()}\n\n"
    )


def to_srt(
    segments: Iterable[Timed], layout: CueLayout | None = None, duration: float | None = None
) -> str:
    """SubRip subtitles, in cues shaped by ``layout`` inside ``[0, duration]``."""
    cues = shape_cues(_cues(segments), layout, duration)
    return "".join(srt_cue(i, c) for i, c in enumerate(cues, start=1))


VTT_HEADER = "WEBVTT\n\n"


def vtt_cue(segment: Timed) -> str:
    """One WebVTT cue, blank line included."""
    start, end = timestamp(segment.start, "."), timestamp(max(segment.end, segment.start), ".")
    return f"{start} --> {end}\n{segment.text.strip()}\n\n"


def to_vtt(
    segments: Iterable[Timed], layout: CueLayout | None = None, duration: float | None = None
) -> str:
    """WebVTT subtitles, in cues shaped by ``layout`` inside ``[0, duration]``."""
    return VTT_HEADER + "".join(vtt_cue(c) for c in shape_cues(_cues(segments), layout, duration))


def _words(segment: Timed) -> list[dict[str, Any]]:
    words: Sequence[Word] = getattr(segment, "words", ())
    return [
        {
            "word": w.word,
            "start": round(w.start, 3),
            "end": round(w.end, 3),
            "probability": round(w.probability, 4),
        }
        for w in words
    ]


def segment_dict(segment: Timed) -> dict[str, Any]:
    """A segment as a JSON-ready dict: text, start, end, words."""
    return {
        "text": segment.text.strip(),
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "words": _words(segment),
    }


def to_json(segments: Iterable[Timed], *, language: str = "", duration: float = 0.0) -> str:
    """A JSON document: the full text, the language, and every segment with its words."""
    cues = _cues(segments)
    doc = {
        "text": " ".join(s.text.strip() for s in cues),
        "language": language,
        "duration": round(duration, 3),
        "segments": [segment_dict(s) for s in cues],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def jsonl_line(segment: Timed) -> str:
    """One segment as one JSON line."""
    return json.dumps(segment_dict(segment), ensure_ascii=False) + "\n"


def to_jsonl(segments: Iterable[Timed]) -> str:
    """One JSON object per line, one line per segment."""
    return "".join(jsonl_line(s) for s in _cues(segments))


WRITERS: dict[str, Callable[[Iterable[Timed]], str]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,
    "jsonl": to_jsonl,
}
"""Each format's whole-document writer."""


STREAM_FORMATS = ("txt", "srt", "vtt", "jsonl")
"""The formats :class:`CueWriter` can write one cue at a time (json is one whole document)."""


class CueWriter:
    """Append timed text to an open file one cue at a time, flushed to disk at each cue.

    For live output that must survive Ctrl-C or a crash: after every :meth:`write` the
    file is a complete, valid document (srt, vtt with its header, jsonl, txt).
    Only :data:`STREAM_FORMATS`; json is a single document that :func:`to_json` writes.

    Example::

        with open("live.srt", "w", encoding="utf-8") as f:
            writer = CueWriter(f, "srt")
            writer.write(final)          # "1\\n00:00:00,320 --> 00:00:02,110\\nHello.\\n\\n"
    """

    def __init__(self, file: TextIO, fmt: str, layout: CueLayout | None = None) -> None:
        if fmt not in STREAM_FORMATS:
            raise ValueError(f"cannot stream {fmt!r}: use one of {', '.join(STREAM_FORMATS)}")
        self._file = file
        self._format = fmt
        self._layout = layout
        self._shown_until = 0.0
        self.count = 0
        if fmt == "vtt":
            self._put(VTT_HEADER)

    def write(self, segment: Timed) -> None:
        """Append ``segment`` (skipped when its text is blank) and flush it to disk."""
        if not segment.text.strip():
            return
        if self._format in ("srt", "vtt"):
            # Each final shaped alone, and never shown before the last cue written ends.
            text = []
            for cue in shape_cues([segment], self._layout):
                start = max(cue.start, self._shown_until)
                cue = replace(cue, start=start, end=max(cue.end, start))
                self._shown_until = cue.end
                self.count += 1
                text.append(srt_cue(self.count, cue) if self._format == "srt" else vtt_cue(cue))
            self._put("".join(text))
            return
        self.count += 1
        if self._format == "jsonl":
            self._put(jsonl_line(segment))
        else:
            self._put(to_txt([segment]))

    def _put(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        # flush() reaches the OS, enough to survive our own crash; fsync also survives
        # the machine's, and costs little at one call per utterance.
        with contextlib.suppress(OSError, ValueError):
            os.fsync(self._file.fileno())
