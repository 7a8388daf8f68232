"""What several commands share: the decoding and audio source flags, argument types,
the Ctrl-C ending of a live dictation, output helpers.

Example::

    parser = commands.add_parser("transcribe")
    add_decode_flags(parser)
    ...
    options = decode_options(args)        # DecodeOptions(language=..., translate=...)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from livewhisper.audio.sources import AudioSource, FileSource, Microphone
from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.vocabulary import parse_terms, read_vocabulary, vocabulary_terms

__all__ = [
    "FINISH_TIMEOUT",
    "add_decode_flags",
    "add_server_flags",
    "add_source_flags",
    "check_source_flags",
    "decode_options",
    "positive_float",
    "positive_int",
    "run_until_stopped",
    "serve_until_stopped",
    "server_settings",
    "silence_broken_stdout",
    "source_from_args",
    "vocabulary_from_args",
]

_Server = TypeVar("_Server")

FINISH_TIMEOUT = 30.0
"""Seconds Ctrl-C waits for the last utterance to be decoded; a second Ctrl-C cuts it."""
_POLL = 0.25


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number above zero.

    Example: ``parser.add_argument("--speed", type=positive_float)``.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least one.

    Example: ``parser.add_argument("--threads", type=positive_int)``.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_decode_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--language``, ``--threads``, ``--prompt``, ``--vocabulary``,
    ``--hotwords`` and ``--translate``.

    Example::

        add_decode_flags(parser)
        args = parser.parse_args(["--model", "base-q8_0", "--language", "es"])
    """
    group = parser.add_argument_group("model and decoding")
    group.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help=f"model name or path to a whisper.cpp file (default {DEFAULT_MODEL}; "
        "see 'livewhisper models list')",
    )
    group.add_argument(
        "-l",
        "--language",
        help="language spoken, a code or an English name: en or english, es or spanish "
        "(default: detected, or en for English-only models)",
    )
    group.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads per decode (default: the cores other programs leave idle, "
        "measured before each decode; at most 8)",
    )
    group.add_argument(
        "--prompt",
        default="",
        help="text that primes the decoder: the style of punctuation, the topic",
    )
    group.add_argument(
        "--vocabulary",
        type=Path,
        metavar="FILE",
        help="names and terms to recognise, one per line or comma-separated (# comments); "
        "Whisper is primed with a sentence listing them, and words that sound and read "
        "like one are written as it",
    )
    group.add_argument(
        "--hotwords",
        metavar='"A, B"',
        help="names and terms to recognise, comma-separated (added to --vocabulary's)",
    )
    group.add_argument(
        "--translate",
        action="store_true",
        help="write English whatever the language spoken (multilingual models only)",
    )


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    """The :class:`DecodeOptions` the flags of :func:`add_decode_flags` ask for.

    Raises :class:`~livewhisper.errors.DecodeOptionsError` for an unknown language and
    :class:`~livewhisper.errors.ConfigError` for an unreadable vocabulary file.

    Example: ``decode_options(args)  # DecodeOptions(language='es', translate=False, ...)``.
    """
    language: str | None = args.language
    return DecodeOptions(
        language=language,
        translate=bool(args.translate),
        initial_prompt=args.prompt,
        vocabulary=vocabulary_from_args(args),
    )


def vocabulary_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The terms of ``--vocabulary FILE`` then ``--hotwords "A, B"`` (either may be absent).
    Raises :class:`~livewhisper.errors.ConfigError` for an unreadable or empty file, or
    ``--hotwords`` without a term.

    Example: ``vocabulary_from_args(args)  # ('Siobhan Okonkwo', 'Zyntrix')``.
    """
    terms = read_vocabulary(args.vocabulary) if args.vocabulary is not None else ()
    hotwords = parse_terms(args.hotwords or "")
    if args.hotwords is not None and not hotwords:
        raise ConfigError(
            f"--hotwords {args.hotwords!r} holds no term: give names and terms separated by "
            'commas, e.g. --hotwords "Siobhan Okonkwo, Zyntrix"'
        )
    return vocabulary_terms([*terms, *hotwords])


def silence_broken_stdout() -> None:
    """After a ``BrokenPipeError`` on stdout (``| head``): send the rest to /dev/null.

    Without it Python reports the broken pipe again when it flushes stdout at exit.

    Example::

        try:
            print(text, flush=True)
        except BrokenPipeError:
            silence_broken_stdout()
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def add_source_flags(
    parser: argparse.ArgumentParser,
    *,
    file_help: str = "play an audio file (wav, flac, ogg, mp3...) as if it were a microphone",
    verb: str = "play",
) -> None:
    """Add ``--device`` or ``--input`` (one of them) and ``--speed``; read them with
    :func:`check_source_flags` and :func:`source_from_args`.

    Example::

        add_source_flags(parser)
        args = parser.parse_args(["--input", "talk.wav", "--speed", "2"])
    """
    source = parser.add_argument_group("audio source (default: the default microphone)")
    exclusive = source.add_mutually_exclusive_group()
    exclusive.add_argument(
        "-d",
        "--device",
        metavar="DEVICE",
        help="input device, by index or name (see 'livewhisper devices')",
    )
    exclusive.add_argument("-i", "--input", type=Path, metavar="FILE", help=file_help)
    source.add_argument(
        "--speed",
        type=positive_float,
        help=f"with --input: {verb} the file this many times faster than real time (default 1)",
    )


def check_source_flags(args: argparse.Namespace) -> None:
    """Exit with a usage error for flags of :func:`add_source_flags` that do not go together.

    Example: ``check_source_flags(args)  # --speed without --input: exits``.
    """
    if args.speed is not None and args.input is None:
        args.usage_error("--speed needs --input: a microphone plays at its own pace")


def source_from_args(args: argparse.Namespace) -> AudioSource:
    """The source the flags of :func:`add_source_flags` name: the file played in real time
    (times ``--speed``), else the microphone ``--device`` (an all-digit device is an
    index, as 'livewhisper devices' prints them), else the default one. Not opened yet.

    Example: ``with source_from_args(args) as source: ...``.
    """
    if args.input is not None:
        return FileSource(args.input, realtime=True, speed=args.speed or 1.0)
    device: str | None = args.device
    return Microphone(int(device) if device is not None and device.isdigit() else device)


def run_until_stopped(
    dictation: Dictation,
    *,
    finishing: str,
    stop_early: Callable[[], bool] = lambda: False,
    tick: Callable[[], None] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> bool:
    """Run a started dictation until its source ends, ``stop_early()`` or Ctrl-C, then stop
    it; False if a second Ctrl-C quit before the last utterance was decoded.

    ``tick`` runs on this (the main) thread four times a second, for status lines that
    signal handlers and other threads only flag. At the first Ctrl-C ``on_interrupt``
    runs, then ``livewhisper: {finishing} (Ctrl-C again to quit now)`` is said on
    stderr, and the last utterance gets :data:`FINISH_TIMEOUT` seconds to become a final.

    Example::

        dictation.start()
        finished = run_until_stopped(dictation, finishing="finishing the last sentence")
        status = 0 if finished else 130
    """
    finished = False
    try:
        try:
            while not dictation.wait(_POLL) and not stop_early():
                if tick is not None:
                    tick()
        except KeyboardInterrupt:
            # The normal way to end: close the source and let the utterance in progress
            # become a final. A second Ctrl-C raises again, out of stop(): quit at once.
            if on_interrupt is not None:
                on_interrupt()
            print(
                f"livewhisper: {finishing} (Ctrl-C again to quit now)", file=sys.stderr, flush=True
            )
        dictation.stop(timeout=FINISH_TIMEOUT)
        finished = True
    except KeyboardInterrupt:
        print("livewhisper: interrupted", file=sys.stderr, flush=True)
    finally:
        if not finished:
            dictation.stop(timeout=0)  # the source closed, the threads told to end
    return finished


def stop_on_signals() -> asyncio.Event:
    """An event set at SIGINT (Ctrl-C) or SIGTERM: a server command serves until it is.

    Call it on the running event loop. Where signal handlers cannot be set (off the main
    thread, some platforms) Ctrl-C interrupts as usual instead.

    Example::

        stop = stop_on_signals()
        async with server:
            await stop.wait()
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def add_server_flags(
    models: argparse._ActionsContainer,
    capacity: argparse._ActionsContainer,
    *,
    session: str,
) -> None:
    """Add what every server command takes: ``--model`` (repeatable), ``--language``,
    ``--vocabulary`` and ``--hotwords`` to ``models``; ``--max-sessions``, ``--workers``,
    ``--threads`` and ``--idle-timeout`` to ``capacity`` (a parser or one of its groups).
    ``session`` names what a client holds. Read them with :func:`server_settings`.

    Example: ``add_server_flags(parser, parser, session="connection")``.
    """
    models.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="MODEL",
        help=f"a model clients may use, the first the default (repeatable; {DEFAULT_MODEL})",
    )
    models.add_argument(
        "-l",
        "--language",
        help="default language, a code or an English name (default: detected, or en for "
        "English-only models)",
    )
    models.add_argument(
        "--vocabulary",
        type=Path,
        metavar="FILE",
        help=f"names and terms to recognise, one per line or comma-separated: the default "
        f"of every {session} (each may send its own where the protocol lets it)",
    )
    models.add_argument(
        "--hotwords", metavar='"A, B"', help="more names and terms, comma-separated"
    )
    capacity.add_argument(
        "--max-sessions",
        type=positive_int,
        default=4,
        help=f"{session}s at once; more are told 'busy' (4)",
    )
    capacity.add_argument(
        "--workers",
        type=positive_int,
        help="model workers, each one whisper.cpp context (default: one per session, "
        "at most one per core)",
    )
    capacity.add_argument("--threads", type=positive_int, help="CPU threads per decode")
    capacity.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=30.0,
        help=f"close {session}s that send nothing for this many seconds (30)",
    )


def add_verbose_flag(parser: argparse._ActionsContainer, logged: str) -> None:
    """Add ``-v``/``--verbose`` (read by ``main`` before the command runs): a server logs
    each client to stderr, one timestamped line per event; ``logged`` lists the events.

    Example: ``add_verbose_flag(parser, "connections, transcripts and errors")``.
    """
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"log each client to stderr: {logged} (counts and timing, never the words)",
    )


def server_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of :func:`add_server_flags` as the settings a server's config takes.

    Example: ``ServerConfig(host=args.host, **server_settings(args))``.
    """
    return {
        "models": tuple(args.model or (DEFAULT_MODEL,)),
        "language": args.language,
        "max_sessions": args.max_sessions,
        "workers": args.workers,
        "threads": args.threads,
        "idle_timeout": args.idle_timeout,
        "vocabulary": vocabulary_from_args(args),
    }


async def serve_until_stopped(
    server: AbstractAsyncContextManager[_Server], ready: Callable[[_Server], str]
) -> None:
    """Start ``server`` (it loads its models), say ``ready(server)`` on stderr, serve until
    Ctrl-C or SIGTERM (:func:`stop_on_signals`), then stop it.

    Example: ``asyncio.run(serve_until_stopped(WyomingServer(config), lambda s: s.uri))``.
    """
    stop = stop_on_signals()
    print("livewhisper: loading the models…", file=sys.stderr, flush=True)
    async with server as running:
        print(f"livewhisper: {ready(running)}; Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()
        print("livewhisper: stopping", file=sys.stderr, flush=True)
