"""Transcribe a file in Spanish with the multilingual base model, naming the language.

Run: python examples/transcribe_spanish.py FILE   (needs: pip install "livewhisper[base]")
"""

from __future__ import annotations

import sys

import livewhisper
from livewhisper.filetranscribe import transcribe_file


def main() -> None:
    with livewhisper.Engine("base-q8_0") as engine:
        result = transcribe_file(sys.argv[1], engine, livewhisper.DecodeOptions(language="es"))
    for segment in result.segments:
        print(f"[{segment.start:6.2f} -> {segment.end:6.2f}] {segment.text.strip()}")


if __name__ == "__main__":
    main()
