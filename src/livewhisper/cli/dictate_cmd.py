"""``livewhisper dictate``: live speech-to-text from a microphone or a file played as one.

Example::

    $ livewhisper dictate --language en --output notes.srt
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from livewhisper.audio.sources import AudioSource
from livewhisper.cli.common import (
    add_decode_flags,
    add_source_flags,
    check_source_flags,
    decode_options,
    run_until_stopped,
    silence_broken_stdout,
    source_from_args,
)
from livewhisper.cli.outputs import OutputRuleError, live_output
from livewhisper.cli.render import LiveView
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions, Engine, check_options
from livewhisper.events import Final, Status
from livewhisper.formats import STREAM_FORMATS, CueWriter
from livewhisper.gate import StreamConfig

EXAMPLES = """examples:
  livewhisper dictate                                  # default microphone, until Ctrl-C
  livewhisper dictate --device pulse --language es --model base-q8_0
  livewhisper dictate --input talk.mp3 --speed 2       # a file, played as if spoken
  livewhisper dictate --output notes.srt               # also save subtitles as you speak
  livewhisper dictate --output notes.log --format jsonl | tee notes.txt

On a terminal, partial text shows dimmed and is rewritten in place until the line
settles; piped, only final lines are written (and no partial text is computed). Ctrl-C
finishes the sentence in progress and exits. --output is written and flushed line by line.
"""


def register(commands: Any) -> None:
    """Add the ``dictate`` command to the top-level parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "dictate",
        help="live speech-to-text from a microphone (or a file played as one)",
        description="Transcribe speech live: partial text while you speak, a final line "
        "at each pause.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_flags(parser)
    output = parser.add_argument_group("output")
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="also write each final line to FILE, flushed as it comes",
    )
    output.add_argument(
        "-f",
        "--format",
        choices=STREAM_FORMATS,
        help="format of --output (default: from its extension, else txt)",
    )
    output.add_argument(
        "--force", action="store_true", help="replace the --output file if it exists"
    )
    add_decode_flags(parser)
    parser.set_defaults(handler=_dictate, usage_error=parser.error)


def _dictate(args: argparse.Namespace) -> int:
    check_source_flags(args)
    if args.format is not None and args.output is None:
        args.usage_error("--format sets the format of --output: give --output FILE too")
    target = None
    if args.output is not None:
        try:
            target = live_output(args.output, args.format, args.force)
        except OutputRuleError as exc:
            args.usage_error(str(exc))
    # The engine first: it quiets whisper.cpp's logging, which would otherwise print its
    # own line beside ours when DecodeOptions rejects a language.
    engine = Engine(args.model, threads=args.threads)
    idle = True
    try:
        options = decode_options(args)
        check_options(options, engine.model_name, engine.multilingual)
        with contextlib.ExitStack() as stack:
            # The source before the output file: a mistyped input or a missing microphone
            # must not truncate the notes of an earlier session.
            source = stack.enter_context(source_from_args(args))
            writer: CueWriter | None = None
            if target is not None:
                file: TextIO = stack.enter_context(target[0].open("w", encoding="utf-8"))
                writer = CueWriter(file, target[1])
            idle = False  # until _run says its threads have stopped
            status, idle = _run(args, engine, source, options, writer)
    finally:
        if idle:  # else a decode is still running: the engine cancels it at exit
            engine.close()
    return status


def _run(
    args: argparse.Namespace,
    engine: Engine,
    source: AudioSource,
    options: DecodeOptions,
    writer: CueWriter | None,
) -> tuple[int, bool]:
    """Dictate until the source ends or Ctrl-C; the exit status and whether all stopped."""
    view = LiveView(sys.stdout)
    errors: list[BaseException] = []
    reader_gone = threading.Event()
    behind = threading.Event()

    def on_final(final: Final) -> None:
        if writer is not None:
            writer.write(final)
        try:
            view.final(final.text)
        except BrokenPipeError:
            # The reader left (`| head -3`): stop listening, as a pipeline expects.
            silence_broken_stdout()
            reader_gone.set()

    def on_status(status: Status) -> None:
        view.lag(status.lag, status.behind)
        if not view.live and status.behind != behind.is_set():
            # Piped, the text has no status line: one note when it falls behind, one
            # when it has caught up.
            if status.behind:
                behind.set()
            else:
                behind.clear()
            state = f"{status.lag:.0f} s behind the speaker" if status.behind else "caught up"
            print(f"livewhisper: text {state}", file=sys.stderr, flush=True)

    def on_error(exc: BaseException) -> None:
        errors.append(exc)
        view.clear()
        print(f"livewhisper: error: {exc}", file=sys.stderr, flush=True)

    dictation = Dictation(
        engine,
        source=source,
        decode=options,
        # Partial text nobody sees (stdout piped) is not worth its decodes.
        stream=StreamConfig(partials=view.live),
        on_partial=lambda partial: view.partial(partial.text),
        on_final=on_final,
        on_error=on_error,
        on_status=on_status,
    )
    dictation.start()
    _status(dictation, args, options.language)
    try:
        finished = run_until_stopped(
            dictation,
            finishing="finishing the last sentence",
            stop_early=reader_gone.is_set,
            on_interrupt=view.clear,
        )
    finally:
        view.clear()
    status = (1 if errors else 0) if finished else 130  # 130: a second Ctrl-C
    return status, dictation.transcriber.join(0)


def _status(dictation: Dictation, args: argparse.Namespace, language: str | None) -> None:
    engine = dictation.engine
    if language is None:
        language = "auto-detect" if engine.multilingual else "en"
    speed = f" at {args.speed:g}x" if args.speed not in (None, 1.0) else ""
    target = f", writing {args.output}" if args.output is not None else ""
    print(
        f"livewhisper: {engine.model_name}, {dictation.source.name}{speed}, "
        f"language {language}{target}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
