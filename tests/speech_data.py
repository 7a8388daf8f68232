"""The repository's speech clips as the tests read them: float32 arrays and WAV copies."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

RATE = 16000


def read_audio(path: Path) -> npt.NDArray[np.float32]:
    """A 16 kHz mono sound file (WAV or FLAC) as contiguous float32 in [-1, 1)."""
    data, rate = soundfile.read(str(path), dtype="float32")
    assert rate == RATE and data.ndim == 1, f"{path}: {rate} Hz, shape {data.shape}"
    return np.ascontiguousarray(data, dtype=np.float32)


def wav_copies(folder: Path) -> Path:
    """A temporary folder holding a 16-bit WAV copy of each FLAC in ``folder`` and its
    ``.txt`` transcript, removed when the process exits. Decoding the 19 clips takes
    about 0.1 s, so this runs once per test process rather than being cached."""
    out = Path(tempfile.mkdtemp(prefix="livewhisper-test-speech-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    for flac in sorted(folder.glob("*.flac")):
        soundfile.write(str(out / f"{flac.stem}.wav"), read_audio(flac), RATE, subtype="PCM_16")
        text = flac.with_suffix(".txt")
        if text.is_file():
            shutil.copyfile(text, out / text.name)
    return out
