"""``livewhisper wyoming``: speech-to-text for Home Assistant and other Wyoming clients.

Example::

    $ livewhisper wyoming                               # tcp://127.0.0.1:10300
    $ livewhisper wyoming --uri tcp://0.0.0.0:10300 --allow-remote -m base-q8_0
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from livewhisper.cli.common import positive_float, positive_int, stop_on_signals
from livewhisper.errors import DependencyError
from livewhisper.models.names import DEFAULT_MODEL

EXAMPLES = """examples:
  livewhisper wyoming                                   # tcp://127.0.0.1:10300
  livewhisper wyoming -m base-q8_0 --language es        # Spanish voice commands
  livewhisper wyoming --uri tcp://0.0.0.0:10300 --allow-remote   # Home Assistant elsewhere

In Home Assistant: Settings > Devices & services > Add integration > Wyoming Protocol,
host = this machine's address, port = 10300 (docs/integrations.md). Text streams while
the person speaks (transcript-chunk events), then the whole transcript. Wyoming has no
authentication: beyond 127.0.0.1 anyone who reaches the port may use it, hence
--allow-remote. Ctrl-C stops the server.
"""


def register(commands: Any) -> None:
    """Add the ``wyoming`` command to the top-level parser.

    Example: ``register(parser.add_subparsers())``.
    """
    parser: argparse.ArgumentParser = commands.add_parser(
        "wyoming",
        help="serve speech-to-text over the Wyoming protocol (Home Assistant)",
        description="Run a Wyoming speech-to-text server: Home Assistant's voice pipelines "
        "and other Wyoming clients send audio, and get text as it is spoken.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--uri",
        default="tcp://127.0.0.1:10300",
        help="where to listen: tcp://HOST:PORT or unix://PATH (tcp://127.0.0.1:10300)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on an address beyond loopback (Wyoming has no authentication)",
    )
    parser.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="MODEL",
        help=f"a model clients may use, the first the default (repeatable; {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "-l", "--language", help="default language (default: detected, en for English models)"
    )
    parser.add_argument(
        "--max-sessions",
        type=positive_int,
        default=4,
        help="clients at once; more are told busy (4)",
    )
    parser.add_argument("--workers", type=positive_int, help="model workers (default: as serve)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads per decode")
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=30.0,
        help="close a connection that sends nothing for this many seconds (30)",
    )
    parser.set_defaults(handler=_wyoming)


def _wyoming(args: argparse.Namespace) -> int:
    try:
        from livewhisper.server.wyoming_server import WyomingConfig
    except ImportError as exc:
        raise DependencyError(
            f"the Wyoming server needs its extra ({exc}): pip install 'livewhisper[wyoming]'"
        ) from None
    config = WyomingConfig(
        uri=args.uri,
        models=tuple(args.model or (DEFAULT_MODEL,)),
        language=args.language,
        allow_remote=args.allow_remote,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout,
        workers=args.workers,
        threads=args.threads,
    )
    asyncio.run(_run(config))
    return 0


async def _run(config: Any) -> None:
    from livewhisper.server.wyoming_server import WyomingServer

    stop = stop_on_signals()
    print("livewhisper: loading the models…", file=sys.stderr, flush=True)
    async with WyomingServer(config) as server:
        print(
            f"livewhisper: Wyoming speech-to-text on {server.uri} (models "
            f"{', '.join(server.pool.models)}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
        print("livewhisper: stopping", file=sys.stderr, flush=True)
