"""Dictation from a real microphone path: PulseAudio virtual mic -> PortAudio -> sounddevice."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from audio_fixtures import PulseServer, fixture_pulse_server  # noqa: F401
from conftest import EN, deadline, reference, wait_until

from livewhisper.audio.sources import Microphone
from livewhisper.dictation import Dictation
from livewhisper.engine import Engine
from livewhisper.events import Final
from livewhisper.wer import normalize, word_error_rate


def test_silence_from_the_virtual_microphone_gives_no_text(
    pulse_server: PulseServer, tiny_engine: Engine
) -> None:
    finals: list[Final] = []
    mic = Microphone("pulse")
    with Dictation(tiny_engine, source=mic, language="en", on_final=finals.append) as d:
        wait_until(lambda: d.stats.stream_seconds >= 1.0, 10, "a second of stream")
    assert finals == []
    assert mic.overflow_samples == 0


@pytest.mark.slow
def test_dictation_from_the_virtual_microphone(
    pulse_server: PulseServer, tiny_engine: Engine
) -> None:
    finals: list[Final] = []
    mic = Microphone("pulse")
    with Dictation(tiny_engine, source=mic, language="en", on_final=finals.append) as d:
        # The stream's first callbacks: only then does playback count.
        wait_until(lambda: d.stats.stream_seconds >= 0.2, 10, "the microphone stream")
        subprocess.run(
            ["paplay", "-d", pulse_server.sink, str(EN / "jfk.wav")],
            check=True,
            timeout=deadline(30),
            env=dict(os.environ, PULSE_SERVER=pulse_server.address),
        )
        end = time.monotonic() + deadline(15)
        while time.monotonic() < end and not (
            finals and normalize(finals[-1].text).endswith("do for your country")
        ):
            time.sleep(0.1)
    text = " ".join(f.text for f in finals)
    assert word_error_rate(reference("jfk"), text) <= 0.15, text
    assert mic.overflow_samples == 0
