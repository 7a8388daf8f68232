"""Push audio you already have (from a socket, a browser...) into live dictation.

Run: python examples/push_audio.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import livewhisper


def main() -> None:
    samples = livewhisper.load_audio(Path(__file__).with_name("jfk.wav"))
    dictation = livewhisper.Dictation(
        source="push", language="en", on_final=lambda f: print(f"{f.start:5.1f}s  {f.text}")
    ).start()
    for block in np.array_split(samples, len(samples) // 1600):  # 100 ms blocks
        dictation.feed(block)
    dictation.finish()
    dictation.wait()
    dictation.stop()


if __name__ == "__main__":
    main()
