"""``livewhisper transcribe``: audio files to text or subtitles.

The work is :func:`livewhisper.filetranscribe.transcribe_file`; this module parses the
flags and writes the results.

Example::

    $ livewhisper transcribe talk.mp3 --format srt --output-dir subs/
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from livewhisper.audio.decode import STDIN, display_name
from livewhisper.cli.common import add_decode_flags, decode_options, silence_broken_stdout
from livewhisper.cli.outputs import OutputRuleError, check_free, format_list, output_paths
from livewhisper.engine import Engine, check_options
from livewhisper.errors import AudioError, ConfigError, DecodeCancelled
from livewhisper.events import Segment, Transcription
from livewhisper.filetranscribe import transcribe_file
from livewhisper.formats import STREAM_FORMATS, WRITERS, CueWriter, to_json, to_srt, to_vtt
from livewhisper.subtitles import CueLayout

FORMATS = ("txt", "srt", "vtt", "json", "jsonl")
"""The formats ``transcribe`` writes."""

EXAMPLES = """examples:
  livewhisper transcribe talk.mp3                      # text on stdout
  livewhisper transcribe talk.mp3 -o talk.srt           # the format from the extension
  livewhisper transcribe talk.mp3 -f srt,vtt,txt -o talk   # talk.srt, talk.vtt, talk.txt
  livewhisper transcribe *.flac --format vtt --output-dir subs/
  ffmpeg -i talk.mkv -f wav - | livewhisper transcribe -   # - is standard input
  livewhisper transcribe entrevista.ogg --model base-q8_0 --language es --format json

Any container and codec FFmpeg reads (built in, nothing to install): wav, flac, mp3,
m4a/aac, ogg and webm (opus, vorbis), the sound of mp4, mov and mkv videos; - reads
standard input. Long files are decoded as they are read, cut at pauses (voice activity
detection) and each part is decoded on its own. json holds the
segments with their words, times and probabilities; jsonl one segment a line.

Results are written as they are decoded: Ctrl-C keeps what was transcribed so far. An
existing file is not replaced without --force.
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
        "-f",
        "--format",
        type=format_list(FORMATS),
        metavar="FORMAT",
        help=f"{', '.join(FORMATS)}, or several with commas, e.g. srt,vtt,txt (default: the "
        "extension of -o, else txt)",
    )
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE instead of standard output (with several formats: FILE.FORMAT)",
    )
    output.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/NAME.FORMAT for each input file",
    )
    output.add_argument(
        "--force", action="store_true", help="replace output files that already exist"
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


def _stem(path: Path) -> str:
    return "stdin" if str(path) == STDIN else path.stem


def _targets(args: argparse.Namespace) -> list[list[tuple[Path, str]]]:
    """For each input, the files it is written to with their formats ([] for stdout)."""
    files: list[Path] = args.files
    formats: tuple[str, ...] | None = args.format
    if args.output is not None and args.output_dir is not None:
        raise OutputRuleError("-o/--output is one file, --output-dir a folder: give one of them")
    if args.output is not None:
        if len(files) > 1:
            raise OutputRuleError(
                f"-o {args.output} is one file for one input: for {len(files)} inputs give "
                "--output-dir DIR (DIR/NAME.FORMAT each)"
            )
        return [output_paths(args.output, formats, FORMATS)]
    if args.output_dir is not None:
        clashes = [s for s, n in Counter(_stem(f) for f in files).items() if n > 1]
        if clashes:
            raise OutputRuleError(
                f"with --output-dir, files need different names: "
                f"{', '.join(display_name(c) for c in clashes)} "
                "appears more than once"
            )
        chosen = formats or ("txt",)
        return [[(args.output_dir / f"{_stem(f)}.{fmt}", fmt) for fmt in chosen] for f in files]
    if formats and len(formats) > 1:
        raise OutputRuleError(
            f"several formats ({','.join(formats)}) need -o NAME or --output-dir: standard "
            "output holds one"
        )
    fmt = formats[0] if formats else "txt"
    if len(files) > 1 and fmt not in ("txt", "jsonl"):
        raise OutputRuleError(
            f"{len(files)} {fmt} documents on standard output would make one invalid "
            f"document: give --output-dir DIR (DIR/NAME.{fmt} each), or one file at a time"
        )
    return [[] for _ in files]


@contextlib.contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """An event that Ctrl-C sets while the block runs (the previous handler back after).

    Ctrl-C raising KeyboardInterrupt was lost when it landed in whisper.cpp's abort
    callback, which runs Python code mid-decode: the file was then transcribed to its end
    and the command exited 0. Set, the event stops the decode and the reading
    (:class:`~livewhisper.errors.DecodeCancelled`).
    """
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel  # signal handlers are the main thread's
        return
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


class _Outputs:
    """The documents of one input, written as its segments are decoded.

    txt, srt, vtt and jsonl are appended segment by segment (files opened at the first,
    so an interrupted run leaves no empty file), then rewritten whole at the end, with the
    cues shaped across segments and inside the audio; json is written at the end, or with
    what was decoded when interrupted. Standard output gets one format, streamed.
    """

    def __init__(self, targets: list[tuple[Path, str]], fmt: str, layout: CueLayout) -> None:
        self.targets = targets
        self.layout = layout
        self.segments: list[Segment] = []
        self._writers: list[tuple[CueWriter, TextIO]] = []
        streams = not targets and fmt in STREAM_FORMATS
        self._stdout = CueWriter(sys.stdout, fmt, layout) if streams else None
        self._stdout_format = fmt

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)
        if not self.targets:
            if self._stdout is not None:
                self._stdout.write(segment)
            return
        if not self._writers:
            for path, fmt in self.targets:
                if fmt in STREAM_FORMATS:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    file = path.open("w", encoding="utf-8")
                    self._writers.append((CueWriter(file, fmt, self.layout), file))
        for writer, _ in self._writers:
            writer.write(segment)

    def finish(self, result: Transcription | None) -> None:
        """Close the files; with the ``result`` write every document whole, else (when
        interrupted) the json of what was decoded."""
        for _, file in self._writers:
            file.close()
        if not self.targets:
            if result is not None and self._stdout is None:
                sys.stdout.write(format_result(result, self._stdout_format, self.layout))
            sys.stdout.flush()
            return
        if result is None:
            if not self.segments:
                return
            result = Transcription(tuple(self.segments), "", self.segments[-1].end)
            targets = [(p, f) for p, f in self.targets if f == "json"]
        else:
            targets = self.targets
        for path, fmt in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all: a crash mid-write leaves the streamed document.
            partial = path.with_name(f".{path.name}.part")
            partial.write_text(format_result(result, fmt, self.layout), encoding="utf-8")
            os.replace(partial, path)


def _transcribe(args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    try:
        targets = _targets(args)
        check_free([path for each in targets for path, _ in each], args.force)
    except OutputRuleError as exc:
        args.usage_error(str(exc))
    layout = cue_layout(args)
    stdout_format = args.format[0] if args.format else "txt"
    progress = bool(args.progress) and sys.stderr.isatty()
    failed = 0
    with Engine(args.model, threads=args.threads) as engine:
        # After the engine, which quiets whisper.cpp's own log line about a bad language.
        options = decode_options(args)
        check_options(options, engine.model_name, engine.multilingual)  # before any decode
        for path, target in zip(files, targets, strict=True):
            outputs = _Outputs(target, stdout_format, layout)
            try:
                with _interruptible() as cancel:
                    result = transcribe_file(
                        path, engine, options, progress=progress, on_segment=outputs.add,
                        cancel=cancel,
                    )  # fmt: skip
            except AudioError as exc:
                # Say so and go on: one bad file should not cost the others.
                outputs.finish(None)
                print(f"livewhisper: error: {exc}", file=sys.stderr, flush=True)
                failed += 1
                continue
            except (KeyboardInterrupt, DecodeCancelled):
                outputs.finish(None)
                kept = ", ".join(display_name(p) for p, _ in target) or "standard output"
                print(
                    f"livewhisper: interrupted: {len(outputs.segments)} segments of "
                    f"{display_name(path)} kept in {kept}",
                    file=sys.stderr,
                )
                return 130
            except BrokenPipeError:
                silence_broken_stdout()
                return 0
            if not result.segments:
                print(f"livewhisper: no speech found in {display_name(path)}", file=sys.stderr)
            try:
                outputs.finish(result)
            except BrokenPipeError:
                silence_broken_stdout()
                return 0
    return 1 if failed else 0
