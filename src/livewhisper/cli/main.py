"""The ``livewhisper`` command: one sub-command per module in this package.

Every error livewhisper raises on purpose, and every system error (a file that cannot be
written...), becomes one line on stderr and exit status 1; a bad flag is one line too and
exits 2 (argparse's convention); Ctrl-C exits 130 (``dictate`` makes it a normal end).
Set ``LIVEWHISPER_DEBUG=1`` to see tracebacks and whisper.cpp's logs.

Example::

    $ livewhisper models list
    $ livewhisper transcribe talk.mp3 --format srt --output-dir subs/
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from livewhisper import __version__
from livewhisper.cli import (
    devices_cmd,
    dictate_cmd,
    finetune_cmd,
    listen_cmd,
    models_cmd,
    record_cmd,
    serve_cmd,
    transcribe_cmd,
    type_cmd,
    wyoming_cmd,
)
from livewhisper.errors import LiveWhisperError

Handler = Callable[[argparse.Namespace], int]

_COMMANDS = (
    dictate_cmd,
    type_cmd,
    transcribe_cmd,
    devices_cmd,
    models_cmd,
    serve_cmd,
    wyoming_cmd,
    listen_cmd,
    record_cmd,
    finetune_cmd,
)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line instead of the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _OneLine(logging.Formatter):
    """Log records as ``livewhisper: message: exception``, without the traceback; with
    ``timestamps``, the local time after the name (``livewhisper 18:02:11: ...``)."""

    def __init__(self, timestamps: bool = False) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        when = f" {self.formatTime(record, '%H:%M:%S')}" if self.timestamps else ""
        text = f"livewhisper{when}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]}"
        return text


def _interrupt_on_ctrl_c() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even when the command was started with
    SIGINT ignored, as a shell without job control starts every background job (``cmd &``
    in a script). Every command then stops on SIGINT the same way: the server commands
    and ``transcribe`` set their own handlers, which override an ignored SIGINT, and
    ``dictate`` and ``type`` stop at KeyboardInterrupt, which Python does not raise for a
    signal ignored at startup. Only the main thread may set handlers (``main()`` called
    from another thread leaves them alone)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _setup_logging(verbose: bool = False) -> None:
    # The library logs through "livewhisper" with tracebacks; a command prints one line.
    # --verbose: the INFO lines too (each client of a server), and uvicorn's access log.
    if os.environ.get("LIVEWHISPER_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(timestamps=verbose))
    names = ("livewhisper", "uvicorn.access") if verbose else ("livewhisper",)
    for name in names:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        logger.propagate = False


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="livewhisper",
        description="Local, private, streaming speech-to-text on whisper.cpp.",
        epilog="Run 'livewhisper COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"livewhisper {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    _setup_logging(verbose=bool(getattr(args, "verbose", False)))
    _interrupt_on_ctrl_c()
    try:
        return handler(args)
    except (LiveWhisperError, OSError) as exc:
        if os.environ.get("LIVEWHISPER_DEBUG"):
            raise
        print(f"livewhisper: error: {_describe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A bug of ours: still one line for the user, the traceback on request.
        if os.environ.get("LIVEWHISPER_DEBUG"):
            raise
        print(
            f"livewhisper: internal error: {type(exc).__name__}: {exc} (run again with "
            "LIVEWHISPER_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("livewhisper: interrupted", file=sys.stderr)
        return 130


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
