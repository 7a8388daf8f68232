"""Segmenter: real clips through WebRTC VAD, and exact cases with hand-made decisions."""

from __future__ import annotations

import itertools
import wave
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from conftest import EN

from livewhisper.errors import AudioError, ConfigError
from livewhisper.segmenter import (
    SAMPLE_RATE,
    Segmenter,
    SegmenterConfig,
    SegmenterEvent,
    UtteranceDiscarded,
    UtteranceEnded,
    UtteranceStarted,
)
from livewhisper.vad import SpeechDetector, VadConfig

# Most cases here are about the mechanics of a pause; a short one keeps them short.
PAUSE_05 = SegmenterConfig(pause=0.5)

DATA = EN  # WAV copies of tests/data/en, with their transcripts
SR = SAMPLE_RATE
FRAME = 480
# Clips whose speech fills them from start to end, so clip bounds are speech bounds.
CLIPS = ["ps_0870", "ps_0890", "ps_0930", "libri_61-70968-0000", "ps_cards_002", "ps_cards_005"]


def load(name: str) -> npt.NDArray[np.float32]:
    with wave.open(str(DATA / f"{name}.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def silence(seconds: float) -> npt.NDArray[np.float32]:
    return np.zeros(round(seconds * SR), dtype=np.float32)


def run_vad(
    stream: npt.NDArray[np.float32],
    config: SegmenterConfig | None = None,
    frame_ms: int = 30,
    flush: bool = True,
) -> list[SegmenterEvent]:
    detector = SpeechDetector(VadConfig(frame_ms=frame_ms))
    segmenter = Segmenter(config or PAUSE_05)
    n = detector.frame_samples
    events: list[SegmenterEvent] = []
    for i in range(0, len(stream) - n + 1, n):
        frame = stream[i : i + n]
        events += segmenter.push(frame, detector.is_speech(frame))
    if flush:
        events += segmenter.flush()
    return events


def run_flags(
    flags: Sequence[bool],
    config: SegmenterConfig | None = None,
    audio: npt.NDArray[np.float32] | None = None,
    frame: int = FRAME,
) -> tuple[Segmenter, list[SegmenterEvent]]:
    """Push frames with given decisions; audio defaults to a ramp that encodes position."""
    if audio is None:
        audio = (np.arange(len(flags) * frame) / (len(flags) * frame)).astype(np.float32)
    segmenter = Segmenter(config or PAUSE_05)
    events: list[SegmenterEvent] = []
    for i, flag in enumerate(flags):
        events += segmenter.push(audio[i * frame : (i + 1) * frame], flag)
    return segmenter, events


def ended(events: Sequence[SegmenterEvent]) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def started(events: Sequence[SegmenterEvent]) -> list[UtteranceStarted]:
    return [e for e in events if isinstance(e, UtteranceStarted)]


def times(events: Sequence[SegmenterEvent]) -> list[tuple[str, tuple[float, float]]]:
    """Each event's type name and its two times, to compare with pytest.approx."""
    out: list[tuple[str, tuple[float, float]]] = []
    for e in events:
        pair = (e.start, e.speech_start) if isinstance(e, UtteranceStarted) else (e.start, e.end)
        out.append((type(e).__name__, pair))
    return out


def frames(seconds: float, speech: bool) -> list[bool]:
    n = round(seconds * SR / FRAME)
    assert n * FRAME == round(seconds * SR), "use whole 30 ms frames"
    return [speech] * n


# Real speech through WebRTC VAD.


def clips_with_gaps(gap: float = 1.5) -> tuple[npt.NDArray[np.float32], list[tuple[float, float]]]:
    parts = [silence(gap)]
    bounds = []
    t = gap
    for name in CLIPS:
        clip = load(name)
        bounds.append((t, t + len(clip) / SR))
        t += len(clip) / SR + gap
        parts += [clip, silence(gap)]
    return np.concatenate(parts), bounds


def test_one_utterance_per_clip_with_boundaries_near_the_clips() -> None:
    stream, bounds = clips_with_gaps()
    events = run_vad(stream)
    utterances = ended(events)
    assert len(utterances) == len(CLIPS)
    assert len(started(events)) == len(CLIPS)
    for u, (clip_start, clip_end) in zip(utterances, bounds, strict=True):
        assert not u.forced
        assert clip_start - 0.1 <= u.speech_start <= clip_start + 0.3
        # WebRTC itself holds "speech" for a few frames after the speech stops.
        assert clip_end - 0.6 <= u.end <= clip_end + 0.25
        assert u.start == pytest.approx(u.speech_start - 0.3)
        # The audio keeps a short tail after the last speech frame, never the whole pause.
        assert u.duration == pytest.approx(u.end + 0.2 - u.start, abs=1e-9)


def test_onsets_keep_the_pre_roll_and_the_exact_samples() -> None:
    stream, bounds = clips_with_gaps()
    for u, (clip_start, _), name in zip(ended(run_vad(stream)), bounds, CLIPS, strict=True):
        clip = load(name)
        offset = round((clip_start - u.start) * SR)
        assert round((u.speech_start - u.start) * SR) == round(0.3 * SR)  # the whole pre-roll
        # The VAD hears some onsets up to 0.3 s into a clip (Silero's second opinion is
        # late on soft onsets); the pre-roll still reaches back to the clip's start, so no
        # speech is clipped.
        assert offset >= 0
        assert not u.audio[: max(0, offset - FRAME)].any()
        k = min(len(clip), len(u.audio) - offset)
        assert k > 0.8 * len(clip)
        np.testing.assert_array_equal(u.audio[offset : offset + k], clip[:k])


def test_ten_ms_frames_find_the_same_utterances() -> None:
    stream, bounds = clips_with_gaps()
    utterances = ended(run_vad(stream, frame_ms=10))
    assert len(utterances) == len(CLIPS)
    for u, (clip_start, clip_end) in zip(utterances, bounds, strict=True):
        assert clip_start - 0.1 <= u.speech_start <= clip_start + 0.3
        assert clip_end - 0.6 <= u.end <= clip_end + 0.25


def test_long_continuous_speech_is_cut_under_the_limit_at_quiet_points() -> None:
    names = ["ps_0890", "ps_0920", "ps_0930", "libri_61-70968-0000", "ps_0880", "ps_cards_005"]
    names += ["ps_goforward", "ps_0870", "ps_cards_002", "ps_cards_003", "ps_0920"]
    stream = np.concatenate([load(n) for n in names])
    assert len(stream) / SR >= 40
    events = run_vad(stream, SegmenterConfig(pause=1.0))  # the clips are 0.5 s apart or less
    utterances = ended(events)
    assert len(utterances) >= 2
    assert all(u.duration <= 25.0 for u in utterances)
    forced = [i for i, u in enumerate(utterances) if u.forced]
    assert forced
    for i in forced:
        cut, after = utterances[i], utterances[i + 1]
        # Nothing is lost at a forced cut: the next utterance starts on the next sample.
        assert after.start == cut.end == cut.start + cut.duration
        a, b = round(cut.start * SR), round(after.start * SR) + len(after.audio)
        joined = np.concatenate([cut.audio, after.audio])
        np.testing.assert_array_equal(joined, stream[a:b])
        # The cut is in a quiet stretch: far below the utterance's typical loudness.
        c = round(cut.end * SR)
        rms_at_cut = np.sqrt(np.mean(np.square(stream[c - 800 : c + 800])))
        windows = cut.audio[: len(cut.audio) // 1600 * 1600].reshape(-1, 1600)
        assert rms_at_cut < 0.5 * np.median(np.sqrt(np.mean(np.square(windows), axis=1)))


def test_a_click_in_silence_is_discarded() -> None:
    rng = np.random.default_rng(1)
    click = rng.normal(0.0, 0.2, SR // 10).astype(np.float32)
    stream = np.concatenate([silence(2.0), click, silence(2.0)])
    detector = SpeechDetector()
    heard = sum(
        detector.is_speech(stream[i : i + FRAME]) for i in range(0, len(stream) - FRAME + 1, FRAME)
    )
    assert heard >= 3  # the VAD does take the click for speech; the segmenter must not
    events = run_vad(stream)
    assert not started(events) and not ended(events)
    assert len([e for e in events if isinstance(e, UtteranceDiscarded)]) == 1


def test_flush_closes_the_open_utterance() -> None:
    clip = load("ps_0880")
    stream = np.concatenate([silence(1.0), clip])  # the stream stops mid-utterance
    events = run_vad(stream, flush=False)
    assert len(started(events)) == 1 and not ended(events)
    segmenter = Segmenter(PAUSE_05)
    detector = SpeechDetector()
    for i in range(0, len(stream) - FRAME + 1, FRAME):
        segmenter.push(stream[i : i + FRAME], detector.is_speech(stream[i : i + FRAME]))
    assert segmenter.current_start == pytest.approx(0.7, abs=0.03)
    final = segmenter.flush()
    assert len(final) == 1 and isinstance(final[0], UtteranceEnded)
    assert not final[0].forced
    assert final[0].end > 1.0 + 0.8 * len(clip) / SR
    assert segmenter.current_start is None
    assert len(segmenter.current_audio()) == 0
    assert segmenter.flush() == []


def test_jfk_pause_splits_the_sentence() -> None:
    # Kennedy pauses for 0.5 to 1.1 s between phrases ("...fellow Americans, <pause> ask
    # not what your country can do for you, <pause> ask what..."): the default 0.5 s ends
    # utterances at each pause (how many depends on where the 30 ms frames fall), 1 s at
    # the two longest, 1.5 s keeps the sentence whole.
    for lead in (0.5, 1.0):
        stream = np.concatenate([silence(lead), load("jfk"), silence(1.0)])
        assert 3 <= len(ended(run_vad(stream))) <= 5
        assert 1 <= len(ended(run_vad(stream, SegmenterConfig(pause=1.0)))) <= 3
        (whole,) = ended(run_vad(stream, SegmenterConfig(pause=1.5)))
        assert whole.speech_start == pytest.approx(lead, abs=0.15)


# Exact behaviour with hand-made speech decisions (30 ms frames).


def test_a_single_speech_frame_opens_nothing() -> None:
    _, events = run_flags([*frames(0.99, False), True, *frames(0.99, False)])
    assert events == []


def test_two_speech_frames_open_nothing_and_three_open_a_candidate() -> None:
    _, events = run_flags([*frames(0.99, False), True, False, True, *frames(0.99, False)])
    assert events == []
    _, events = run_flags([*frames(0.99, False), True, True, True, *frames(0.99, False)])
    ((kind, pair),) = times(events)
    assert kind == "UtteranceDiscarded"
    assert pair == pytest.approx((0.99, 1.08))


def test_a_single_non_speech_frame_does_not_end_speech() -> None:
    flags = [*frames(0.99, False), *frames(0.99, True), False, *frames(0.99, True)]
    flags += frames(0.99, False)
    _, events = run_flags(flags)
    assert [type(e) for e in events] == [UtteranceStarted, UtteranceEnded]


def test_pauses_shorter_than_the_setting_do_not_end_an_utterance() -> None:
    # Resumed speech is confirmed on its third frame, 0.51 s after the last speech: it
    # still continues the utterance, since the pause was over before that 0.5 s.
    flags = frames(0.99, True) + frames(0.45, False) + frames(0.99, True) + frames(0.99, False)
    (u,) = ended(run_flags(flags)[1])
    assert u.end == pytest.approx(2.43)
    flags = frames(0.99, True) + frames(0.51, False) + frames(0.99, True) + frames(0.99, False)
    first, second = ended(run_flags(flags)[1])
    assert first.end == pytest.approx(0.99)
    assert second.speech_start == pytest.approx(1.5)


def test_a_lone_speech_frame_in_the_pause_does_not_prolong_it() -> None:
    flags = [*frames(0.99, True), *frames(0.3, False), True, *frames(0.99, False)]
    _, events = run_flags(flags)
    (u,) = ended(events)
    assert u.end == pytest.approx(0.99)
    assert len(u.audio) == round((0.99 + 0.2) * SR)


def test_times_audio_and_started_event() -> None:
    flags = frames(2.01, False) + frames(1.5, True) + frames(1.02, False)
    audio = np.random.default_rng(2).normal(0, 0.1, len(flags) * FRAME).astype(np.float32)
    _, events = run_flags(flags, audio=audio)
    s, e = events
    assert isinstance(s, UtteranceStarted) and isinstance(e, UtteranceEnded)
    assert (s.start, s.speech_start) == pytest.approx((1.71, 2.01))
    assert (e.start, e.speech_start, e.end) == pytest.approx((1.71, 2.01, 3.51))
    np.testing.assert_array_equal(e.audio, audio[round(1.71 * SR) : round(3.71 * SR)])
    assert e.audio.dtype == np.float32


def test_started_waits_for_min_speech_and_short_blips_are_discarded() -> None:
    config = SegmenterConfig(min_speech=0.3, pause=0.5)
    _, events = run_flags(frames(0.99, False) + frames(0.27, True) + frames(0.99, False), config)
    assert [type(e) for e in events] == [UtteranceDiscarded]
    segmenter = Segmenter(config or PAUSE_05)
    for flag in frames(0.99, False) + frames(0.27, True):
        assert segmenter.push(np.zeros(FRAME, np.float32), flag) == []
        assert segmenter.current_start is None
    events = segmenter.push(np.zeros(FRAME, np.float32), True)
    ((kind, pair),) = times(events)
    assert kind == "UtteranceStarted"
    assert pair == pytest.approx((0.69, 0.99))
    assert segmenter.current_start == pytest.approx(0.69)


def test_current_audio_grows_from_the_utterance_start() -> None:
    flags = frames(0.99, False) + frames(2.01, True)
    audio = np.random.default_rng(3).normal(0, 0.1, len(flags) * FRAME).astype(np.float32)
    segmenter = Segmenter(PAUSE_05)
    sizes = []
    for i, flag in enumerate(flags):
        segmenter.push(audio[i * FRAME : (i + 1) * FRAME], flag)
        sizes.append(len(segmenter.current_audio()))
    start = segmenter.current_start
    assert start is not None
    assert start == pytest.approx(0.69)
    current = segmenter.current_audio()
    np.testing.assert_array_equal(current, audio[round(start * SR) :])
    grown = [s for s in sizes if s]
    assert grown == sorted(grown) and len(set(grown)) == len(grown)
    current[:] = 0  # a copy: the segmenter's audio is untouched
    assert segmenter.current_audio().any()


def test_pre_roll_stops_at_the_stream_start_and_at_the_previous_utterance() -> None:
    # A pre-roll longer than pause - tail would reach into the previous utterance's audio.
    config = SegmenterConfig(pre_roll=0.5, pause=0.5)
    flags = frames(0.99, True) + frames(0.6, False) + frames(0.99, True) + frames(0.99, False)
    first, second = ended(run_flags(flags, config)[1])
    assert first.start == 0.0
    assert first.duration == pytest.approx(0.99 + 0.2)
    assert second.speech_start == pytest.approx(1.59)
    assert second.start == pytest.approx(first.start + first.duration)


def test_forced_split_cuts_at_the_quietest_point_and_keeps_the_rest() -> None:
    rng = np.random.default_rng(4)
    seconds = 39.99
    audio = rng.normal(0, 0.1, round(seconds * SR)).astype(np.float32)
    quiet = round(23.4 * SR)
    audio[quiet : quiet + SR // 5] *= 0.01  # a 0.2 s gap between "words" at 23.4 s
    flags = frames(seconds, True)
    segmenter, events = run_flags(flags, audio=audio)
    (cut,) = ended(events)
    assert cut.forced
    assert 23.4 <= cut.end <= 23.6
    assert cut.start == 0.0
    np.testing.assert_array_equal(cut.audio, audio[: round(cut.end * SR)])
    assert [type(e) for e in events] == [UtteranceStarted, UtteranceEnded, UtteranceStarted]
    assert events[2] == UtteranceStarted(start=cut.end, speech_start=cut.end)
    # The rest is already the next open utterance, and grows on.
    assert segmenter.current_start == cut.end
    rest = segmenter.current_audio()
    np.testing.assert_array_equal(rest, audio[round(cut.end * SR) : len(flags) * FRAME])


def test_every_utterance_of_a_long_monologue_is_under_the_limit() -> None:
    rng = np.random.default_rng(5)
    audio = rng.normal(0, 0.1, round(99.99 * SR)).astype(np.float32)
    config = SegmenterConfig(max_utterance=10.0, pause=0.5)
    _, events = run_flags(frames(99.99, True), config, audio=audio)
    utterances = ended(events)
    assert len(utterances) >= 10
    assert all(7.0 <= u.duration <= 10.0 and u.forced for u in utterances)
    for a, b in itertools.pairwise(utterances):
        assert b.start == a.end


def test_flush_discards_an_unconfirmed_candidate() -> None:
    segmenter, events = run_flags([*frames(0.99, False), True, True, True, True])
    assert events == []
    ((kind, pair),) = times(segmenter.flush())
    assert kind == "UtteranceDiscarded"
    assert pair == pytest.approx((0.99, 1.11))


def test_stream_time_counts_samples() -> None:
    segmenter = Segmenter(PAUSE_05)
    segmenter.push(np.zeros(480, np.float32), False)
    segmenter.push(np.zeros(160, np.float32), False)
    assert segmenter.time == pytest.approx(640 / SR)


@pytest.mark.parametrize("frame", [np.zeros(0, np.float32), np.zeros((2, 480), np.float32)])
def test_rejects_bad_frames(frame: npt.NDArray[np.float32]) -> None:
    with pytest.raises(AudioError, match="1-D"):
        Segmenter(PAUSE_05).push(frame, True)


def test_config_defaults() -> None:
    c = SegmenterConfig()
    assert (c.pause, c.pre_roll, c.min_speech, c.max_utterance) == (1.0, 0.3, 0.25, 25.0)
    assert c.tail == 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_utterance": 29.9}, None),
        ({"max_utterance": 30.0}, "under 30 s"),
        ({"max_utterance": 45.0}, "under 30 s"),
        ({"max_utterance": 5.0}, "at most half"),
        ({"max_utterance": 5.0, "split_window": 2.5}, None),
        ({"pause": 0.0}, "pause must be > 0"),
        ({"pause": -1.0}, ">= 0"),
        ({"pre_roll": float("nan")}, "finite"),
        ({"min_speech": float("inf")}, "finite"),
        ({"tail": 1.1}, "must not exceed pause"),
        ({"onset": 0.0}, "onset must be > 0"),
        ({"onset": 0.2, "onset_window": 0.1}, "onset_window"),
        ({"split_window": 0.1}, "at least 0.2"),
        ({"pause": True}, "must be a number"),
        ({"pause": "0.5"}, "must be a number"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str | None) -> None:
    if message is None:  # the boundary case is valid
        SegmenterConfig(**kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=message):
        SegmenterConfig(**kwargs)  # type: ignore[arg-type]


def test_frames_of_any_length_keep_the_audio_exact() -> None:
    # Irregular, sometimes huge frames exercise the buffer's compaction and growth.
    rng = np.random.default_rng(6)
    audio = rng.normal(0, 0.1, 80 * SR).astype(np.float32)
    segmenter = Segmenter(SegmenterConfig(max_utterance=12.0, pause=0.5))
    events: list[SegmenterEvent] = []
    position = 0
    while position < len(audio):
        size = int(rng.choice([160, 480, 3000, 40_000]))
        chunk = audio[position : position + size]
        speech = (position // (7 * SR)) % 3 != 2  # 14 s of speech, 7 s of silence
        events += segmenter.push(chunk, speech)
        if segmenter.current_start is not None:
            current = segmenter.current_audio()
            a = round(segmenter.current_start * SR)
            np.testing.assert_array_equal(current, audio[a : a + len(current)])
        position += len(chunk)
    events += segmenter.flush()
    utterances = ended(events)
    assert len(utterances) >= 4
    assert any(u.forced for u in utterances)
    for u in utterances:
        a = round(u.start * SR)
        np.testing.assert_array_equal(u.audio, audio[a : a + len(u.audio)])
        assert u.duration <= 12.0


def test_one_huge_frame_is_cut_as_often_as_needed() -> None:
    audio = np.random.default_rng(7).normal(0, 0.1, 40 * SR).astype(np.float32)
    segmenter = Segmenter(SegmenterConfig(max_utterance=10.0, pause=0.5))
    events = segmenter.push(audio[:480], True) + segmenter.push(audio[480:960], True)
    events += segmenter.push(audio[960:1440], True) + segmenter.push(audio[1440:], True)
    utterances = ended(events)
    assert len(utterances) >= 3
    assert all(u.forced and u.duration <= 10.0 for u in utterances)
    for u in utterances:
        a = round(u.start * SR)
        np.testing.assert_array_equal(u.audio, audio[a : a + len(u.audio)])
    current_start = segmenter.current_start
    assert current_start is not None
    assert 40.0 - current_start <= 10.0
