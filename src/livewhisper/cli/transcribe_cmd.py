"""``livewhisper transcribe``: audio files to text or subtitles.

The work is :func:`livewhisper.filetranscribe.transcribe_file`; this module parses the
flags and writes the results.

Example::

    $ livewhisper transcribe talk.mp3 --format srt --output-dir subs/
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from livewhisper.cli.common import add_decode_flags, decode_options, silence_broken_stdout
from livewhisper.engine import Engine
from livewhisper.errors import AudioError, ConfigError
from livewhisper.events import Transcription
from livewhisper.filetranscribe import transcribe_file
from livewhisper.formats import WRITERS, to_json, to_srt, to_vtt
from livewhisper.subtitles import CueLayout

FORMATS = ("txt", "srt", "vtt", "json")
"""The formats ``transcribe`` writes."""

EXAMPLES = """examples:
  livewhisper transcribe talk.mp3                      # text on stdout
  livewhisper transcribe talk.mp3 --format srt > talk.srt
  livewhisper transcribe *.flac --format vtt --output-dir subs/
  livewhisper transcribe entrevista.ogg --model base-q8_0 --language es --format json

Any container and codec FFmpeg reads (built in, nothing to install): wav, flac, mp3,
m4a/aac, ogg and webm (opus, vorbis), the sound of mp4, mov and mkv videos; - reads
standard input. Long files are decoded as they are read, cut at pauses (voice activity
detection) and each part is decoded on its own. json holds the
segments with their words, times and probabilities.
"""


def register(commands: Any) -> None:
    """Add the ``transcribe`` command to the top-level parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "transcribe",
        help="transcribe audio files to text or subtitles",
        description="Transcribe audio files of any length.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="audio or video files; - is stdin"
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "-f", "--format", choices=FORMATS, default="txt", help="output format (default txt)"
    )
    output.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/NAME.FORMAT for each file instead of printing to stdout",
    )
    subtitles = parser.add_argument_group("subtitles (srt, vtt)")
    defaults = CueLayout()
    subtitles.add_argument(
        "--max-line-width",
        type=int,
        default=defaults.max_line_width,
        metavar="N",
        help=f"characters a line (default {defaults.max_line_width})",
    )
    subtitles.add_argument(
        "--max-line-count",
        type=int,
        default=defaults.max_line_count,
        metavar="N",
        help=f"lines a cue (default {defaults.max_line_count})",
    )
    subtitles.add_argument(
        "--max-cue-duration",
        type=float,
        default=defaults.max_duration,
        metavar="S",
        help=f"longest a cue shows, in seconds (default {defaults.max_duration:g})",
    )
    subtitles.add_argument(
        "--min-cue-duration",
        type=float,
        default=defaults.min_duration,
        metavar="S",
        help=f"shortest, when the next cue leaves room (default {defaults.min_duration:g})",
    )
    output.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it is shown only when stderr is a terminal anyway)",
    )
    add_decode_flags(parser)
    parser.set_defaults(handler=_transcribe, usage_error=parser.error)


def format_result(result: Transcription, fmt: str, layout: CueLayout | None = None) -> str:
    """``result`` as a document in ``fmt`` (one of :data:`FORMATS`); subtitles in cues
    shaped by ``layout``.

    Example: ``format_result(transcribe_file("talk.wav", engine), "srt")``.
    """
    if fmt == "json":
        return to_json(result.segments, language=result.language, duration=result.duration)
    if fmt == "srt":
        return to_srt(result.segments, layout, result.duration)
    if fmt == "vtt":
        return to_vtt(result.segments, layout, result.duration)
    return WRITERS[fmt](result.segments)


def cue_layout(args: argparse.Namespace) -> CueLayout:
    """The :class:`CueLayout` of the subtitle flags; a value out of range is a usage error.

    Example: ``cue_layout(args).max_line_width`` is ``42`` unless ``--max-line-width``.
    """
    try:
        return CueLayout(
            max_line_width=args.max_line_width,
            max_line_count=args.max_line_count,
            max_duration=args.max_cue_duration,
            min_duration=args.min_cue_duration,
        )
    except ConfigError as exc:
        flag = str(exc).split(" ", 1)[0].replace("_duration", "_cue_duration")
        args.usage_error(f"--{flag.replace('_', '-')}: {exc}")
        raise  # usage_error exits; this is for type checkers


def _transcribe(args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    if args.output_dir is not None:
        clashes = [s for s, n in Counter(f.stem for f in files).items() if n > 1]
        if clashes:
            args.usage_error(
                f"with --output-dir, files need different names: {', '.join(clashes)} "
                "appears more than once"
            )
        args.output_dir.mkdir(parents=True, exist_ok=True)
    layout = cue_layout(args)
    progress = bool(args.progress) and sys.stderr.isatty()
    failed = 0
    with Engine(args.model, threads=args.threads) as engine:
        # After the engine, which quiets whisper.cpp's own log line about a bad language.
        options = decode_options(args)
        for path in files:
            try:
                result = transcribe_file(path, engine, options, progress=progress)
            except AudioError as exc:
                # Say so and go on: one bad file should not cost the others.
                print(f"livewhisper: error: {exc}", file=sys.stderr, flush=True)
                failed += 1
                continue
            if not result.segments:
                print(f"livewhisper: no speech found in {path}", file=sys.stderr)
            document = format_result(result, args.format, layout)
            if args.output_dir is not None:
                (args.output_dir / f"{path.stem}.{args.format}").write_text(
                    document, encoding="utf-8"
                )
                continue
            try:
                sys.stdout.write(document)
                sys.stdout.flush()
            except BrokenPipeError:
                silence_broken_stdout()
                return 0
    return 1 if failed else 0
