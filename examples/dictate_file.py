"""Dictate a speech file as if it were spoken into a microphone, printing events live.

Run: python examples/dictate_file.py [FILE]   (default: examples/jfk.wav)
"""

from __future__ import annotations

import sys
from pathlib import Path

import livewhisper


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("jfk.wav")
    for event in livewhisper.Dictation(source=path, language="en"):
        if isinstance(event, livewhisper.Final):
            print(f"\r[{event.start:5.1f}s] {event.text}  ({event.latency:.2f}s after the pause)")
        else:
            print(f"\r  ... {event.text}", end="", flush=True)


if __name__ == "__main__":
    main()
