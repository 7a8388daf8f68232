"""File transcription encodes with the full context by default (issue 16's measurement:
14.9% against 17.4% WER with per-piece context on tests/data/en, tiny.en-q8_0), and
packs utterances into windows so that each encoder pass decodes up to 28 s of speech."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import EN, read_wav

from livewhisper.engine import DecodeOptions
from livewhisper.events import Segment, Transcription
from livewhisper.filetranscribe import split_utterances, transcribe_file
from livewhisper.segmenter import SAMPLE_RATE, UtteranceEnded, join_utterances, pack_utterances


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


def _said(start: float, seconds: float, value: float, forced: bool = False) -> UtteranceEnded:
    audio = np.full(round(seconds * SAMPLE_RATE), value, dtype=np.float32)
    return UtteranceEnded(audio, start, start + seconds - 0.2, forced, start + 0.3)


def test_utterances_are_packed_into_windows_with_their_pauses_silent() -> None:
    utterances = [
        _said(0.0, 10.0, 0.1),
        _said(11.0, 5.0, 0.2, forced=True),
        _said(16.0, 10.0, 0.3),  # a forced cut's continuation: no pause at all
        _said(26.5, 4.0, 0.4),  # would make the window 30.5 s
        _said(34.0, 2.0, 0.5),  # after a pause longer than max_gap
        _said(36.5, 31.0, 0.6),  # longer than a window alone
    ]
    groups = list(pack_utterances(utterances, max_seconds=28.0, max_gap=3.0))
    assert [len(g) for g in groups] == [3, 1, 1, 1]
    windows = [join_utterances(g) for g in groups]
    assert [(w.start, w.duration) for w in windows] == [
        (0.0, 26.0),
        (26.5, 4.0),
        (34.0, 2.0),
        (36.5, 31.0),
    ]
    first = windows[0]
    assert (first.end, first.forced, first.speech_start) == (25.8, False, 0.3)
    # A time t in the window is at start + t in the stream: each part in its place.
    for u in utterances[:3]:
        at = round((u.start - first.start) * SAMPLE_RATE)
        part = first.audio[at : at + len(u.audio)]
        np.testing.assert_array_equal(part, u.audio)
    assert not first.audio[10 * SAMPLE_RATE : 11 * SAMPLE_RATE].any()  # the pause
    assert windows[1] is utterances[3]


def test_a_file_pays_one_decode_per_window_and_keeps_stream_times() -> None:
    clips = [read_wav(EN / f"{name}.wav") for name in ("ps_0870", "ps_0880", "ps_0890")]
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([clips[0], pause, clips[1], pause, clips[2]])
    utterances = list(split_utterances(audio))
    assert len(utterances) >= 3
    model = _Recorder()
    result = transcribe_file(audio, model)
    assert len(model.options) == 1  # 18 s of speech: one window, one encoder pass
    (segment,) = result.segments
    assert segment.start == utterances[0].start
    assert segment.end == pytest.approx(utterances[-1].start + utterances[-1].duration)


class _HearsTheFirstSecondsOnly(_Recorder):
    """A SpeechModel that, as Whisper does now and then, ends a window's text after its
    first pause: one segment over the first 4 s of whatever it is given."""

    def transcribe(self, audio: Any, options: DecodeOptions | None = None, **_: Any) -> Any:
        self.options.append(options or DecodeOptions())
        seconds = len(audio) / 16000
        return Transcription((Segment(" Words.", 0.0, min(seconds, 4.0)),), "en", seconds)


def test_the_parts_of_a_window_whisper_did_not_reach_are_decoded_again() -> None:
    clips = [read_wav(EN / f"{name}.wav") for name in ("ps_0870", "ps_0880", "ps_0890")]
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([clips[0], pause, clips[1], pause, clips[2]])
    utterances = list(split_utterances(audio))
    model = _HearsTheFirstSecondsOnly()
    result = transcribe_file(audio, model, prompt_history=3)
    # Each utterance the window's text did not reach is heard again, alone or with the
    # ones after it, until every utterance has text: one decode per utterance here.
    assert len(model.options) == len(utterances)
    assert [s.start for s in result.segments] == [u.start for u in utterances]
    # The prompt of a decode again carries the text heard before it.
    assert model.options[-1].initial_prompt
