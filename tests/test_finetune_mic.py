"""The record -> fine-tune -> dictate loop through the PulseAudio virtual microphone
(PulseAudio -> PortAudio -> sounddevice): sentences spoken by one voice (espeak-ng) are
recorded as a person would record them, a model is fine-tuned on the takes, and live
dictation with that model hears a different, real voice (JFK) through the same
microphone."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import soundfile
from audio_fixtures import PulseServer, fixture_pulse_server  # noqa: F401
from conftest import EN, deadline, reference, wait_until

from livewhisper.audio.sources import Microphone
from livewhisper.dictation import Dictation
from livewhisper.events import Final
from livewhisper.finetune.data import read_dataset
from livewhisper.finetune.record import Recorder
from livewhisper.wer import normalize, word_error_rate

PROMPTS = [
    "Ask Siobhan Okonkwo about the Zbigniew account.",
    "Meet Thaddeus at the Quetzalcoatl cafe on Monday.",
    "Send the report to Aoife Nakamura before noon.",
    "Call Saoirse and Bartholomew about the Llewellyn order.",
]


def _play(pulse: PulseServer, path: Path) -> None:
    subprocess.run(
        ["paplay", "-d", pulse.sink, str(path)],
        check=True,
        timeout=deadline(30),
        env=dict(os.environ, PULSE_SERVER=pulse.address),
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers")),
    reason="fine-tuning needs its extra: pip install 'livewhisper[finetune]'",
)
def test_record_finetune_and_dictate_through_the_virtual_microphone(
    pulse_server: PulseServer, tmp_path: Path, model_cache: Path
) -> None:
    from livewhisper.finetune import TrainConfig, finetune

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed: apt-get install espeak-ng")
    spoken = []
    for i, text in enumerate(PROMPTS):
        spoken.append(tmp_path / f"prompt{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken[-1]), text], check=True)

    # Record: Enter at each prompt, the sentence played into the microphone once the take
    # has opened it (capture waits up to 10 s for speech), Enter again to keep the take.
    clips = iter(spoken)
    players: list[threading.Thread] = []

    def ask(question: str) -> str:
        for player in players:
            player.join()
        if question.startswith("Enter: record"):
            clip = next(clips)
            players.append(threading.Timer(1.0, _play, (pulse_server, clip)))
            players[-1].start()
        return ""

    data = tmp_path / "my-voice"
    summary = Recorder(data, PROMPTS, source=lambda: Microphone("pulse"), ask=ask, say=print).run()
    assert (summary.recorded, summary.finished) == (len(PROMPTS), True)
    takes = read_dataset(data)
    assert [t.text for t in takes] == PROMPTS
    for take, clip in zip(takes, spoken, strict=True):
        played = soundfile.info(str(clip)).duration
        assert take.seconds is not None
        # The whole sentence, its leading and trailing silence trimmed.
        assert played - 1.0 < take.seconds < played + 1.0, (take.id, take.seconds, played)

    # Fine-tune on the takes (a few steps: the loop, not the learning, is under test here;
    # benchmarks/finetune.py measures the learning).
    out = tmp_path / "model"
    config = TrainConfig(epochs=1, batch_size=2, max_steps=2, learning_rate=1e-4)
    report = finetune(
        data, out, base="tiny.en", config=config, eval_split=0.25, progress=False, log=print
    )
    assert report.training.steps == 2 and report.train_examples == 3

    # Dictate with the fine-tuned model from the microphone: another voice, real speech.
    finals: list[Final] = []
    mic = Microphone("pulse")
    with Dictation(out, source=mic, language="en", on_final=finals.append) as dictation:
        assert Path(dictation.engine.path).parent == out  # type: ignore[attr-defined]
        wait_until(lambda: dictation.stats.stream_seconds >= 0.2, 10, "the microphone stream")
        _play(pulse_server, EN / "jfk.wav")
        wait_until(
            lambda: bool(finals) and normalize(finals[-1].text).endswith("for your country"),
            15,
            "JFK's last final",
        )
    text = " ".join(f.text for f in finals)
    assert word_error_rate(reference("jfk"), text) <= 0.15, text
    assert mic.overflow_samples == 0
