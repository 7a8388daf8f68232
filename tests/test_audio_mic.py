"""Microphone and device listing, for real: PortAudio -> ALSA -> a PulseAudio null sink.

The pulse_server fixture is imported here only, so that one daemon serves the module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from audio_fixtures import (  # noqa: F401
    PulseServer,
    best_ncc,
    fixture_jfk_audio,
    fixture_jfk_path,
    fixture_pulse_server,
)
from conftest import deadline

from livewhisper.audio import SAMPLE_RATE, Microphone, find_input_device, list_input_devices
from livewhisper.errors import DeviceError

pytestmark = pytest.mark.mic


def _wait_for_audio(mic: Microphone, seconds: float) -> list[np.ndarray]:
    give_up = time.monotonic() + deadline(seconds)
    while time.monotonic() < give_up:
        block = mic.read(timeout=0.2)
        assert block is not None, "the stream ended before any audio arrived"
        if block.size:
            return [block]
    pytest.fail(f"no audio from {mic.name} within {deadline(seconds):g} s")


@pytest.mark.slow
def test_microphone_records_what_is_played(
    pulse_server: PulseServer,
    jfk_path: Path,
    jfk_audio: npt.NDArray[np.float32],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # By name: "default" may be a sound card on a CI runner that has one; "pulse" is always
    # the PulseAudio server, whose default source is the null sink's monitor.
    opened = time.monotonic()
    with Microphone("pulse") as mic:
        start = time.monotonic()
        blocks = _wait_for_audio(mic, 10.0)
        first_audio = time.monotonic() - start
        assert mic.device_sample_rate is not None
        player = subprocess.Popen(
            ["paplay", "-d", pulse_server.sink, str(jfk_path)],
            env=dict(os.environ, PULSE_SERVER=pulse_server.address),
            stderr=subprocess.PIPE,
        )
        # Record until the player is done, then half a second more: however late the
        # player started or the reads ran, the whole clip is in the recording.
        give_up = time.monotonic() + deadline(60)
        after = 0
        while after < SAMPLE_RATE // 2:
            assert time.monotonic() < give_up, "the player did not finish"
            block = mic.read(timeout=0.5)
            assert block is not None
            assert block.dtype == np.float32 and block.ndim == 1
            blocks.append(block)
            if player.poll() is not None:
                after += len(block)
        span = time.monotonic() - opened
        _, err = player.communicate(timeout=deadline(10))
        assert player.returncode == 0, err
        name = mic.name
        device_rate, channels = mic.device_sample_rate, mic.channels
        overflow = mic.overflow_samples
        close_start = time.monotonic()
    close_time = time.monotonic() - close_start

    recording = np.concatenate(blocks)
    seconds = len(recording) / SAMPLE_RATE
    ncc, lag = best_ncc(jfk_audio, recording)
    print(
        f"\n{name}: device {device_rate:g} Hz x {channels} ch; first audio after "
        f"{first_audio:.2f} s; {seconds:.2f} s recorded; NCC {ncc:.4f} at lag "
        f"{lag / SAMPLE_RATE:.3f} s; close {close_time * 1000:.0f} ms"
    )
    assert ncc > 0.9
    # The whole clip is in the recording (the overlap at the best lag covers it).
    assert 0 <= lag <= len(recording) - len(jfk_audio)
    # 16 kHz out, whatever the device rate: never more samples than the seconds the stream
    # was open (a higher rate would give more), and the whole clip (a lower one, less).
    assert len(jfk_audio) / SAMPLE_RATE <= seconds <= span + 0.2
    assert overflow == 0
    assert "did not stop" not in caplog.text  # closed within its close_timeout


def test_microphone_overflow_is_counted_in_16khz_samples(pulse_server: PulseServer) -> None:
    # A reader that stalls loses what the buffer cannot hold; the count is in 16 kHz
    # samples like every source's, not in device frames (44.1 kHz here, 2.76 times more).
    with Microphone("pulse", buffer_seconds=0.2) as mic:
        _wait_for_audio(mic, 10.0)
        while (block := mic.read(timeout=0)) is not None and block.size:
            pass  # drained: whatever is lost from now on is lost during the stall
        stalled_at = time.monotonic()
        threading.Event().wait(1.5)  # the stall under test, not a wait for a result
        lost = mic.overflow_samples / SAMPLE_RATE
        stalled = time.monotonic() - stalled_at
    print(f"\nstalled {stalled:.2f} s with a 0.2 s buffer: {lost:.2f} s lost")
    assert mic.device_sample_rate != SAMPLE_RATE  # else both units would agree
    # No more audio can be lost than was recorded during the stall (give or take the
    # device's latency), and all of it but the buffer's worth was.
    assert (stalled - 0.2) / 2 <= lost <= stalled + 0.3


def test_microphone_close_from_another_thread_ends_read(pulse_server: PulseServer) -> None:
    mic = Microphone().open()
    _wait_for_audio(mic, 10.0)
    threading.Timer(0.2, mic.close).start()
    give_up = time.monotonic() + deadline(30)
    # Only the close ends the loop: a read that times out gives an empty block, not None.
    while (block := mic.read(timeout=5.0)) is not None:
        assert block.dtype == np.float32
        assert time.monotonic() < give_up, "reads went on after close"
    assert mic.closed


class _HangingStream:
    """Wraps a real stream; abort() blocks until released, like a wedged ALSA device."""

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self.release = threading.Event()
        self.aborted = threading.Event()

    def abort(self, ignore_errors: bool = True) -> None:
        self.release.wait(deadline(30))
        self.stream.abort(ignore_errors=ignore_errors)  # type: ignore[attr-defined]
        self.aborted.set()

    def close(self, ignore_errors: bool = True) -> None:
        self.stream.close(ignore_errors=ignore_errors)  # type: ignore[attr-defined]


def test_microphone_close_returns_even_if_the_stream_hangs(
    pulse_server: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    mic = Microphone().open()
    _wait_for_audio(mic, 10.0)
    hanging = _HangingStream(mic._stream)
    mic._stream = hanging
    mic.close_timeout = 0.3
    start = time.monotonic()
    mic.close()
    elapsed = time.monotonic() - start
    # close returned while abort was still stuck, after waiting out its close_timeout.
    assert not hanging.aborted.is_set()
    hanging.release.set()  # let the background thread finish the real stream
    assert elapsed >= 0.25
    assert "did not stop within 0.3 s" in caplog.text
    assert mic.read(timeout=1.0) is None
    assert hanging.aborted.wait(deadline(30))  # the background thread did finish it


def test_list_input_devices(pulse_server: PulseServer) -> None:
    devices = list_input_devices()
    print("\n" + "\n".join(str(d) for d in devices))
    assert devices
    assert sum(d.is_default for d in devices) == 1
    assert all(d.channels >= 1 and d.default_sample_rate > 0 for d in devices)
    default = find_input_device()
    assert default.is_default
    assert find_input_device(default.index) == default
    assert find_input_device(default.name.upper()) == default  # exact name, any case


def test_unknown_device_names_the_devices_that_exist(pulse_server: PulseServer) -> None:
    with pytest.raises(DeviceError, match="no audio input device matches 'no-such-mic'") as e:
        Microphone("no-such-mic").open()
    assert "pulse" in str(e.value)
    with pytest.raises(DeviceError, match="index 99"):
        Microphone(99).open()


def _run_isolated(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A fresh process: PortAudio scans devices once per process, at initialisation.
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=deadline(60),
        check=False,
    )


def test_no_device_is_a_device_error(tmp_path: Path) -> None:
    result = _run_isolated(
        """
        from livewhisper.audio import Microphone, list_input_devices
        from livewhisper.errors import DeviceError
        print("devices:", list_input_devices())
        try:
            Microphone().open()
        except DeviceError as exc:
            print("DeviceError:", exc)
        """,
        PULSE_SERVER=f"unix:{tmp_path / 'no-such-socket'}",
    )
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    assert "devices: []" in result.stdout
    assert "DeviceError: no default audio input device" in result.stdout
    assert "No audio input devices found" in result.stdout  # and what to check
    assert "Traceback" not in result.stderr


def test_missing_portaudio_is_a_dependency_error() -> None:
    result = _run_isolated(
        """
        import ctypes.util
        ctypes.util.find_library = lambda name: None   # as on a machine without PortAudio
        from livewhisper.audio import Microphone
        from livewhisper.errors import DependencyError
        try:
            Microphone().open()
        except DependencyError as exc:
            print("DependencyError:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "DependencyError: the PortAudio library is missing" in result.stdout
    assert "apt-get install libportaudio2" in result.stdout
