"""What several commands share: the decoding flags, argument types, output helpers.

Example::

    parser = commands.add_parser("transcribe")
    add_decode_flags(parser)
    ...
    options = decode_options(args)        # DecodeOptions(language=..., translate=...)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from livewhisper.engine import DecodeOptions
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.vocabulary import parse_terms, read_vocabulary, vocabulary_terms

__all__ = [
    "add_decode_flags",
    "decode_options",
    "positive_float",
    "positive_int",
    "silence_broken_stdout",
    "vocabulary_from_args",
]


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
        "Whisper is primed with a sentence listing them",
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

    Example: ``vocabulary_from_args(args)  # ('Siobhan Okonkwo', 'Zyntrix')``.
    """
    terms = read_vocabulary(args.vocabulary) if args.vocabulary is not None else ()
    return vocabulary_terms([*terms, *parse_terms(args.hotwords or "")])


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
