"""Shared fixtures and helpers for the audio tests: real speech, an audio comparison and a
PulseAudio virtual microphone.

A fixture ``x`` is defined as ``fixture_x`` (``@pytest.fixture(name="x")``), so a test module
imports ``fixture_x`` and its tests take ``x`` without shadowing the import:
``from audio_fixtures import fixture_jfk_path  # noqa: F401``. A session-scoped fixture
imported into several modules runs once per module: import ``fixture_pulse_server`` into
one module only (or into the shared conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from conftest import deadline

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", name="jfk_path")
def fixture_jfk_path() -> Path:
    """11 s of real speech (JFK), 16 kHz mono int16 WAV (the example's own file)."""
    return REPO / "examples" / "jfk.wav"


@pytest.fixture(scope="session", name="jfk_audio")
def fixture_jfk_audio(jfk_path: Path) -> npt.NDArray[np.float32]:
    """The JFK clip as float32, read with soundfile directly (not with the code under test)."""
    data, rate = soundfile.read(jfk_path, dtype="float32")
    assert rate == 16000 and data.ndim == 1
    return np.asarray(data, dtype=np.float32)


def best_ncc(
    reference: npt.ArrayLike, recording: npt.ArrayLike, max_lag: int | None = None
) -> tuple[float, int]:
    """The normalised cross-correlation of two signals at the lag where they match best.

    A positive lag means ``reference`` starts ``lag`` samples into ``recording``. The NCC
    is computed over the overlap only: 1.0 for identical audio, about 0 for unrelated
    audio. ``max_lag`` bounds the search (both directions); ``None`` searches all lags.
    """
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(recording, dtype=np.float64)
    n = len(ref) + len(rec) - 1
    size = 1 << (n - 1).bit_length()
    # corr[k] = sum_i rec[i + k] * ref[i] for k >= 0; negative k wraps to the end.
    corr = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.concatenate([np.arange(0, len(rec)), np.arange(-(len(ref) - 1), 0)])
    values = np.concatenate([corr[: len(rec)], corr[size - (len(ref) - 1) :]])
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        lags, values = lags[keep], values[keep]
    best = 0.0
    best_lag = 0
    # The raw peak is within a few samples of the normalised one; refine around it.
    peak = int(lags[int(np.argmax(values))])
    for lag in range(peak - 3, peak + 4):
        if max_lag is not None and abs(lag) > max_lag:
            continue
        a = ref[max(0, -lag) :]
        b = rec[max(0, lag) :]
        m = min(len(a), len(b))
        if m <= 0:
            continue
        a, b = a[:m], b[:m]
        denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
        if denom == 0:
            continue
        value = float(np.dot(a, b)) / denom
        if value > best:
            best, best_lag = value, lag
    return best, best_lag


def ffmpeg(*args: str | Path) -> None:
    """Run ``ffmpeg -v error -y ARGS`` (it only makes test files: skip the test without it)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (it only makes the test files)")
    command = ["ffmpeg", "-v", "error", "-y", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


@dataclass(frozen=True)
class PulseServer:
    """A running user-mode PulseAudio daemon whose null sink ``sink`` is the default
    source's input: audio played to ``sink`` is what a microphone records."""

    address: str  # the PULSE_SERVER value
    sink: str
    directory: Path
    pid: int


def _reinitialize_portaudio() -> None:
    # PortAudio enumerates devices once, at Pa_Initialize (sounddevice's import): re-scan
    # so that the devices of the server just started (or stopped) are seen.
    import sounddevice

    sounddevice._terminate()
    sounddevice._initialize()


@pytest.fixture(scope="session", name="pulse_server")
def fixture_pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """Start a PulseAudio daemon with a null sink ``vspk`` (its monitor is the default
    source), point ``PULSE_SERVER`` at it for this process, and stop it at the end."""
    binary = shutil.which("pulseaudio")
    if binary is None:
        pytest.skip("the pulseaudio binary is not installed (apt-get install pulseaudio)")
    if shutil.which("paplay") is None:
        pytest.skip("paplay is not installed (apt-get install pulseaudio-utils)")
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        pytest.skip(f"PortAudio is not installed: {exc}")
    directory = tmp_path_factory.mktemp("pulse")
    (directory / "home").mkdir()
    (directory / "run").mkdir()
    socket = directory / "native"
    env = dict(os.environ, HOME=str(directory / "home"), XDG_RUNTIME_DIR=str(directory / "run"))
    env.pop("PULSE_SERVER", None)
    process = subprocess.Popen(
        [
            binary,
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            f"--log-target=file:{directory / 'pulse.log'}",
            "-L",
            f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
            "-L",
            "module-null-sink sink_name=vspk rate=16000 channels=1",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"unix:{socket}"
    saved = os.environ.get("PULSE_SERVER")
    try:
        give_up = time.monotonic() + deadline(10.0)
        while not _server_ready(address):
            if process.poll() is not None or time.monotonic() > give_up:
                log = (directory / "pulse.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"pulseaudio did not start (exit {process.poll()}):\n{log}")
            time.sleep(0.05)
        os.environ["PULSE_SERVER"] = address
        _reinitialize_portaudio()
        yield PulseServer(address=address, sink="vspk", directory=directory, pid=process.pid)
    finally:
        if saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved
        process.terminate()
        try:
            process.wait(timeout=deadline(5))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=deadline(5))
        _reinitialize_portaudio()


def _server_ready(address: str) -> bool:
    result = subprocess.run(
        ["pactl", "info"],
        env=dict(os.environ, PULSE_SERVER=address),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=deadline(5),
        check=False,
    )
    return result.returncode == 0
