"""Shared fixtures: a private model cache, real speech clips, prepared models."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EN = SHARED_DATA / "en"
REPO = Path(__file__).resolve().parents[1]


def feed_paced(dictation: object, audio: np.ndarray, speed: float | None = 1.0) -> None:
    """Push ``audio`` in 20 ms blocks, ``speed`` x real time (None: as fast as possible),
    then finish the stream."""
    t0 = time.monotonic()
    for i in range(0, len(audio), 320):
        if speed is not None:
            delay = t0 + i / 16000 / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        dictation.feed(audio[i : i + 320])  # type: ignore[attr-defined]
    dictation.finish()  # type: ignore[attr-defined]


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit mono wav as float32."""
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0


def reference(name: str) -> str:
    """The reference transcript of clip ``name`` of shared/data/en."""
    return (EN / f"{name}.txt").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the model cache at a private directory for the whole session.

    CI can set LIVEWHISPER_TEST_CACHE to reuse conversions between runs of the suite.
    """
    reuse = os.environ.get("LIVEWHISPER_TEST_CACHE")
    path = Path(reuse) if reuse else tmp_path_factory.mktemp("lwcache")
    old = os.environ.get("LIVEWHISPER_HOME")
    os.environ["LIVEWHISPER_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LIVEWHISPER_HOME", None)
    else:
        os.environ["LIVEWHISPER_HOME"] = old


@pytest.fixture(scope="session")
def jfk() -> np.ndarray:
    """The JFK inaugural excerpt, 11 s of real speech."""
    return read_wav(EN / "jfk.wav")


@pytest.fixture(scope="session")
def tiny_engine(model_cache: Path) -> Iterator[object]:
    """The default model (tiny.en-q8_0) loaded once."""
    from livewhisper.engine import Engine

    engine = Engine("tiny.en-q8_0", threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def base_engine(model_cache: Path) -> Iterator[object]:
    """The multilingual base model (q8_0) loaded once."""
    from livewhisper.engine import Engine

    engine = Engine("base-q8_0", threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spanish_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, str]:
    """Synthetic Spanish speech (espeak-ng), 16 kHz, with its text."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        pytest.fail("espeak-ng and sox are needed: apt-get install espeak-ng sox")
    text = "Buenos días. Hoy vamos a hablar del tiempo en la ciudad y de las noticias de la semana."
    out = tmp_path_factory.mktemp("es")
    raw, wav = out / "raw.wav", out / "es.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
    return read_wav(wav), text
