"""The ``livewhisper`` command: one sub-command per module in this package.

Every error livewhisper raises on purpose becomes one line on stderr and exit status 1;
a bad flag exits 2 (argparse's convention); Ctrl-C exits 130.

Example::

    $ livewhisper models list
    $ livewhisper transcribe talk.mp3 --format srt --output-dir subs/
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from livewhisper import __version__
from livewhisper.cli import models_cmd
from livewhisper.errors import LiveWhisperError

Handler = Callable[[argparse.Namespace], int]

_COMMANDS = (models_cmd,)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
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
    try:
        return handler(args)
    except LiveWhisperError as exc:
        print(f"livewhisper: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("livewhisper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
