"""``livewhisper listen``: stream the microphone or a file to a caption server, print captions.

Example::

    $ livewhisper listen --server ws://127.0.0.1:8765 --input talk.wav
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from livewhisper.audio.sources import AudioSource
from livewhisper.cli.common import (
    add_source_flags,
    check_source_flags,
    silence_broken_stdout,
    source_from_args,
)
from livewhisper.cli.outputs import OutputRuleError, live_output
from livewhisper.cli.render import LiveView
from livewhisper.errors import DependencyError
from livewhisper.events import Final
from livewhisper.formats import STREAM_FORMATS, CueWriter

EXAMPLES = """examples:
  livewhisper listen                                   # the microphone, to 127.0.0.1:8765
  livewhisper listen --server ws://10.0.0.5:8765 --token s3cret --share
  livewhisper listen --input talk.mp3 --speed 2 --output talk.srt

Finals are printed one line each (partial text too, dimmed, on a terminal). Ctrl-C stops
sending; the captions of what was sent still arrive before the command exits.
"""


def register(commands: Any) -> None:
    """Add the ``listen`` command to the top-level parser.

    Example: ``register(parser.add_subparsers())``.
    """
    parser: argparse.ArgumentParser = commands.add_parser(
        "listen",
        help="stream the microphone or a file to a caption server and print its captions",
        description="A client of 'livewhisper serve': send audio, print the captions.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-s",
        "--server",
        default="ws://127.0.0.1:8765",
        help="the server, ws://HOST:PORT (default ws://127.0.0.1:8765)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("LIVEWHISPER_TOKEN"),
        help="the server's token, if it has one (default: $LIVEWHISPER_TOKEN)",
    )
    add_source_flags(parser, file_help="send an audio file instead", verb="send")
    options = parser.add_argument_group("session")
    options.add_argument("-m", "--model", help="one of the server's models (default: its own)")
    options.add_argument("-l", "--language", help="language code, or 'auto' to detect it")
    options.add_argument(
        "--share", action="store_true", help="also show these captions on /v1/captions"
    )
    options.add_argument("--no-partials", action="store_true", help="ask for final lines only")
    output = parser.add_argument_group("output")
    output.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="also write each final line to FILE"
    )
    output.add_argument(
        "-f", "--format", choices=STREAM_FORMATS, help="format of --output (default: its extension)"
    )
    output.add_argument(
        "--force", action="store_true", help="replace the --output file if it exists"
    )
    parser.set_defaults(handler=_listen, usage_error=parser.error)


def _listen(args: argparse.Namespace) -> int:
    check_source_flags(args)
    if args.format is not None and args.output is None:
        args.usage_error("--format sets the format of --output: give --output FILE too")
    target = None
    if args.output is not None:
        try:
            target = live_output(args.output, args.format, args.force)
        except OutputRuleError as exc:
            args.usage_error(str(exc))
    try:
        import livewhisper.client  # noqa: F401  (fails early without websockets)
    except ImportError as exc:
        raise DependencyError(
            f"the client needs websockets ({exc}): pip install 'livewhisper[server]'"
        ) from None
    with ExitStack() as stack:
        writer: CueWriter | None = None
        if target is not None:
            file: TextIO = stack.enter_context(target[0].open("w", encoding="utf-8"))
            writer = CueWriter(file, target[1])
        return asyncio.run(_run(args, source_from_args(args), writer))


async def _run(args: argparse.Namespace, source: AudioSource, writer: CueWriter | None) -> int:
    from livewhisper import client

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_interrupt() -> None:
        # The first Ctrl-C ends the audio; a second one is the usual KeyboardInterrupt.
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)
        print("livewhisper: finishing (Ctrl-C again to quit now)", file=sys.stderr, flush=True)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, first_interrupt)
    view = LiveView(sys.stdout)
    async with client.listen(
        args.server,
        token=args.token,
        language=args.language,
        partials=not args.no_partials,
        share=args.share,
        model=args.model,
    ) as session:
        print(
            f"livewhisper: {source.name} -> {args.server}, session {session.id} "
            f"({session.ready.model}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        sender = asyncio.create_task(client.send_source(session, source, stop))
        try:
            async for event in session:
                if not isinstance(event, Final):
                    view.partial(event.text)
                    continue
                if writer is not None:
                    writer.write(event)
                try:
                    view.final(event.text)
                except BrokenPipeError:
                    silence_broken_stdout()
                    stop.set()
            await sender
        finally:
            view.clear()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        for notice in session.notices:
            print(f"livewhisper: server: {notice.message}", file=sys.stderr)
    return 0
