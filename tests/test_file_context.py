"""File transcription encodes with the full context by default (issue 16's measurement:
14.9% against 17.4% WER with per-piece context on tests/data/en, tiny.en-q8_0)."""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import EN, read_wav

from livewhisper.engine import DecodeOptions
from livewhisper.events import Segment, Transcription
from livewhisper.filetranscribe import transcribe_file


class _Recorder:
    """A SpeechModel that hears nothing and keeps the options it was asked with."""

    model_name = "fake"
    multilingual = False

    def __init__(self) -> None:
        self.options: list[DecodeOptions] = []

    def transcribe(self, audio: Any, options: DecodeOptions | None = None, **_: Any) -> Any:
        self.options.append(options or DecodeOptions())
        seconds = len(audio) / 16000
        return Transcription((Segment(" Words.", 0.0, seconds),), "en", seconds)

    def close(self) -> None:
        pass


def test_the_full_context_is_the_default_and_a_choice_is_kept() -> None:
    audio = np.concatenate([read_wav(EN / "jfk.wav"), np.zeros(16000, np.float32)])
    for kwargs, expected in (
        ({}, 0),
        ({"sized_context": True}, None),
        ({"options": DecodeOptions(audio_ctx=512)}, 512),
    ):
        engine = _Recorder()
        transcribe_file(audio, engine, **kwargs)  # type: ignore[arg-type]
        assert engine.options and {o.audio_ctx for o in engine.options} == {expected}
