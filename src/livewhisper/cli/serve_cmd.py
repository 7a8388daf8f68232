"""``livewhisper serve``: the live caption server (page, audio sessions, caption feeds)
and the file transcription API.

Example::

    $ livewhisper serve --mic                      # caption this room; open the printed URL
    $ livewhisper serve --host 0.0.0.0 --token "$(openssl rand -hex 16)" --max-sessions 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from livewhisper.cli.common import (
    add_server_flags,
    add_verbose_flag,
    positive_float,
    positive_int,
    serve_until_stopped,
    server_settings,
)
from livewhisper.errors import DependencyError

EXAMPLES = """examples:
  livewhisper serve                              # http://127.0.0.1:8765/ in a browser
  livewhisper serve --mic --language en          # caption this machine's microphone too
  livewhisper serve -m tiny.en-q8_0 -m base-q8_0 # let clients choose between two models
  LIVEWHISPER_TOKEN=s3cret livewhisper serve --host 0.0.0.0

One port serves it all: the caption page at /, audio sessions at /v1/listen, the shared
caption feed at /v1/captions, /v1/info and /healthz (protocol: docs/protocol.md), and
file uploads at POST /v1/audio/transcriptions, as OpenAI's API takes them, for the
page's "Transcribe a file" view and for OpenAI clients (base_url
http://127.0.0.1:8765/v1), and OpenAI Realtime transcription sessions at /v1/realtime
(client.realtime.connect; docs/integrations.md). OpenAI's model names (whisper-1,
gpt-4o-transcribe, gpt-4o-mini-transcribe) mean the first --model.
A --host other than 127.0.0.1 needs a token, which clients pass as ?token=... or as an
'Authorization: Bearer ...' header. Ctrl-C stops the server.
"""


def register(commands: Any) -> None:
    """Add the ``serve`` command to the top-level parser.

    Example: ``register(parser.add_subparsers())``.
    """
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve live captions and OpenAI's transcription APIs (REST and Realtime)",
        description="Run the live caption server: audio in from the microphone or any "
        "client (a browser tab included), captions out to everyone who listens.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    net.add_argument("--port", type=int, default=8765, help="port (8765; 0 picks a free one)")
    # Gone: the file API shares --port. Kept only to say so.
    net.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    net.add_argument(
        "--token",
        default=os.environ.get("LIVEWHISPER_TOKEN"),
        help="secret clients must present; required beyond loopback (default: $LIVEWHISPER_TOKEN)",
    )
    net.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another web origin whose pages may connect, e.g. https://example.org "
        "(repeatable; the server's own page always may)",
    )
    audio = parser.add_argument_group("models and audio")
    limits = parser.add_argument_group("capacity")
    add_server_flags(audio, limits, session="audio session")
    add_verbose_flag(parser, "HTTP requests, sessions, file jobs and errors")
    audio.add_argument("--mic", action="store_true", help="also caption this machine's microphone")
    audio.add_argument(
        "-d", "--device", metavar="DEVICE", help="with --mic: input device, index or name"
    )
    limits.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=100.0,
        help="largest file the transcription API takes, in MB (100)",
    )
    limits.add_argument(
        "--max-upload-minutes",
        type=positive_float,
        default=120.0,
        help="longest audio the transcription API takes, in minutes (120)",
    )
    limits.add_argument(
        "--max-jobs",
        type=positive_int,
        default=1,
        help="files transcribed at once; 4 more may wait (1)",
    )
    fair = parser.add_argument_group(
        "fairness (per client address; see docs/protocol.md, Limits against abuse)"
    )
    fair.add_argument(
        "--max-sessions-per-client",
        type=positive_int,
        help="audio sessions one address may hold (default: all but one of --max-sessions)",
    )
    fair.add_argument(
        "--max-uploads-per-client",
        type=positive_int,
        default=2,
        help="files one address may have running or waiting (2)",
    )
    fair.add_argument(
        "--max-ahead",
        type=positive_float,
        default=10.0,
        help="seconds of audio a session may send ahead of real time before the server "
        "reads it only as fast as it is spoken (10)",
    )
    fair.add_argument(
        "--min-audio-rate",
        type=float,
        default=0.5,
        help="seconds of audio per second a session must send, over each 10 s; "
        "0 turns the check off (0.5)",
    )
    fair.add_argument(
        "--max-session-minutes",
        type=positive_float,
        help="longest an audio session may last (default: no limit)",
    )
    fair.add_argument(
        "--max-output-kb",
        type=positive_int,
        default=1000,
        help="kB a WebSocket client may leave unread before it is dropped (1000)",
    )
    fair.add_argument(
        "--max-pings-per-second",
        type=positive_float,
        default=10.0,
        help="WebSocket pings a client may send per second before it is dropped (10)",
    )
    fair.add_argument(
        "--request-timeout",
        type=positive_float,
        default=900.0,
        help="seconds an upload may take to arrive whole (900)",
    )
    parser.set_defaults(handler=_serve, usage_error=parser.error)


def _serve(args: argparse.Namespace) -> int:
    if args.device is not None and not args.mic:
        args.usage_error("--device chooses the microphone of --mic: add --mic")
    if args.http_port is not None:
        args.usage_error(
            "--http-port is gone: the file API now shares --port with the page "
            "(OpenAI clients use base_url http://HOST:PORT/v1)"
        )
    try:
        from livewhisper.server import ServerConfig
    except ImportError as exc:
        raise DependencyError(
            f"the server needs its extra ({exc}): pip install 'livewhisper[server]'"
        ) from None
    device: str | None = args.device
    config = ServerConfig(
        **server_settings(args),
        host=args.host,
        port=args.port,
        mic=args.mic,
        mic_device=int(device) if device is not None and device.isdigit() else device,
        token=args.token,
        allowed_origins=tuple(args.allow_origin),
        max_upload_bytes=int(args.max_upload_mb * 1_000_000),
        max_upload_seconds=args.max_upload_minutes * 60.0,
        max_jobs=args.max_jobs,
        max_sessions_per_client=args.max_sessions_per_client,
        max_uploads_per_client=args.max_uploads_per_client,
        max_ahead=args.max_ahead,
        min_audio_rate=args.min_audio_rate,
        max_session_seconds=(
            args.max_session_minutes * 60.0 if args.max_session_minutes is not None else None
        ),
        max_output_bytes=args.max_output_kb * 1000,
        max_pings_per_second=args.max_pings_per_second,
        request_timeout=args.request_timeout,
    )
    asyncio.run(_run(config))
    return 0


async def _run(config: Any) -> None:
    from livewhisper.server import CaptionServer

    def ready(server: CaptionServer) -> str:
        page = server.url + (f"?token={config.token}" if config.token else "")
        models = ", ".join(server.pool.models)
        mic = "; captioning the microphone" if config.mic else ""
        return (
            f"captions at {page} (models {models}; up to {config.max_sessions} sessions on "
            f"{server.pool.workers} workers{mic}); OpenAI's API at {server.api_url}"
        )

    await serve_until_stopped(CaptionServer(config), ready)
