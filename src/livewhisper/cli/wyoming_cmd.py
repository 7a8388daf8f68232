"""``livewhisper wyoming``: speech-to-text for Home Assistant and other Wyoming clients.

Example::

    $ livewhisper wyoming                               # tcp://127.0.0.1:10300
    $ livewhisper wyoming --uri tcp://0.0.0.0:10300 --allow-remote -m base-q8_0
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from livewhisper.cli.common import (
    add_server_flags,
    add_verbose_flag,
    serve_until_stopped,
    server_settings,
)
from livewhisper.errors import DependencyError

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
    add_server_flags(parser, parser, session="connection")
    add_verbose_flag(parser, "connections, transcripts and errors")
    parser.set_defaults(handler=_wyoming)


def _wyoming(args: argparse.Namespace) -> int:
    try:
        from livewhisper.server.wyoming_server import WyomingConfig
    except ImportError as exc:
        raise DependencyError(
            f"the Wyoming server needs its extra ({exc}): pip install 'livewhisper[wyoming]'"
        ) from None
    config = WyomingConfig(**server_settings(args), uri=args.uri, allow_remote=args.allow_remote)
    asyncio.run(_run(config))
    return 0


async def _run(config: Any) -> None:
    from livewhisper.server.wyoming_server import WyomingServer

    def ready(server: WyomingServer) -> str:
        return f"Wyoming speech-to-text on {server.uri} (models {', '.join(server.pool.models)})"

    await serve_until_stopped(WyomingServer(config), ready)
