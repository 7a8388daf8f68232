"""Where the commands write: one meaning of ``-o/--output`` and ``-f/--format`` everywhere.

``-o FILE`` is the file written; its extension names its format unless ``--format`` does,
and an extension of another format than ``--format`` is an error. ``--format`` may list
several formats (``srt,vtt,txt``): ``-o`` is then a name without extension, and each
format gets its own file. An existing file is never replaced without ``--force``. Every
rule is a usage error raised here before anything is decoded.

Example::

    targets = output_paths(Path("talk"), ("srt", "vtt"), known=FORMATS)
    # [(Path("talk.srt"), "srt"), (Path("talk.vtt"), "vtt")]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from livewhisper.audio.decode import display_name

__all__ = ["OutputRuleError", "check_free", "format_list", "live_output", "output_paths"]


class OutputRuleError(ValueError):
    """An output request that breaks a rule; the command turns it into a usage error."""


def format_list(allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """An argparse ``type`` for ``--format``: one format or several separated by commas.

    Example::

        >>> format_list(("txt", "srt"))("srt,txt")
        ('srt', 'txt')
    """

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
        unknown = [n for n in names if n not in allowed]
        if not names or unknown:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {', '.join(unknown) or text!r} (choose from "
                f"{', '.join(allowed)}; several with commas, e.g. srt,vtt)"
            )
        return names

    return parse


def output_paths(
    output: Path, formats: Sequence[str] | None, known: Sequence[str], default: str = "txt"
) -> list[tuple[Path, str]]:
    """The files ``-o output`` stands for, each with its format.

    One format: ``output`` itself, in ``formats[0]`` or else the format its extension
    names (``default`` for another extension). Several: ``output.FORMAT`` for each, with
    ``output`` a name without a format's extension. Raises :class:`OutputRuleError` when
    an extension names another format than ``--format``.

    Example::

        >>> output_paths(Path("notes.srt"), None, ("txt", "srt"))
        [(PosixPath('notes.srt'), 'srt')]
        >>> output_paths(Path("notes"), ("srt", "txt"), ("txt", "srt"))
        [(PosixPath('notes.srt'), 'srt'), (PosixPath('notes.txt'), 'txt')]
    """
    suffix = output.suffix.lower().lstrip(".")
    if formats and len(formats) > 1:
        if suffix in known:
            raise OutputRuleError(
                f"-o {output}: with several formats ({','.join(formats)}) give a name "
                f"without extension, e.g. -o {output.with_suffix('')}, and each format gets "
                "its own file"
            )
        return [(output.with_name(f"{output.name}.{fmt}"), fmt) for fmt in formats]
    if formats:
        if suffix in known and suffix != formats[0]:
            raise OutputRuleError(
                f"-o {output} is named .{suffix} but --format is {formats[0]}: rename it "
                f"{output.with_suffix('.' + formats[0])} or drop --format"
            )
        return [(output, formats[0])]
    return [(output, suffix if suffix in known else default)]


def check_free(paths: Iterable[Path], force: bool) -> None:
    """Raise :class:`OutputRuleError` when one of ``paths`` exists and ``force`` is off.

    Example: ``check_free([Path("talk.srt")], force=False)`` refuses an existing talk.srt.
    """
    if force:
        return
    taken = [display_name(p) for p in paths if p.exists()]
    if taken:
        raise OutputRuleError(
            f"{', '.join(taken)} already exists: --force replaces it, or choose another name"
        )


def live_output(output: Path, fmt: str | None, force: bool) -> tuple[Path, str]:
    """The file and format of ``-o`` for the live commands (``dictate``, ``listen``),
    which write one cue at a time: txt, srt, vtt or jsonl (json is one whole document:
    ``livewhisper transcribe`` writes it).

    Raises :class:`OutputRuleError` as :func:`output_paths` and :func:`check_free` do, and
    for json.

    Example::

        >>> live_output(Path("notes.vtt"), None, force=True)
        (PosixPath('notes.vtt'), 'vtt')
    """
    from livewhisper.formats import FORMATS, STREAM_FORMATS

    [(path, chosen)] = output_paths(output, (fmt,) if fmt else None, FORMATS)
    if chosen not in STREAM_FORMATS:
        raise OutputRuleError(
            f"-o {output}: {chosen} is one whole document and cannot be written as you "
            f"speak; use jsonl (one JSON object a line), or {', '.join(STREAM_FORMATS)}"
        )
    check_free([path], force)
    return path, chosen
