"""The worker's scheduling rules on real speech: sentence finals, the partial budget,
cancelling an early decode when speech resumes, and capped partial decodes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import EN, deadline, feed_paced, read_wav, wait_until

from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions, Engine, audio_ctx_for
from livewhisper.errors import ConfigError
from livewhisper.events import Final, Segment, Transcription, Word
from livewhisper.gate import (
    FinalJob,
    PartialJob,
    PauseHeld,
    SpeechGate,
    SpeechResumed,
    StreamConfig,
    pause_levels,
)
from livewhisper.guards import ends_sentence, sentence_end_confidence
from livewhisper.segmenter import SegmenterConfig
from livewhisper.transcriber import Transcriber
from livewhisper.vad import SpeechDetector, VadConfig
from livewhisper.wer import normalize, word_error_rate

BLOCK = 320


def _go_forward() -> np.ndarray:
    """ "Go forward 10 meters.": its speech ends at 2.22 s; 2.5 s keep 0.28 s of silence."""
    return read_wav(EN / "ps_goforward.wav")[: int(2.5 * 16000)]


def _sentence_worker(engine: Engine, events: list) -> Transcriber:
    """A worker that makes any sentence end it decodes at a pause a quick final."""
    return Transcriber(
        engine,
        DecodeOptions(language="en"),
        events.append,
        stream=StreamConfig(sentence_confidence=0.3),
    )


def _signals(
    audio: np.ndarray, stream: StreamConfig | None = None, *, sized_finals: bool = True
) -> list:
    """What a gate asks of the worker for ``audio`` pushed in 20 ms blocks."""
    gate = SpeechGate(stream=stream, sized_finals=sized_finals)
    signals = []
    for i in range(0, len(audio), BLOCK):
        signals += gate.push(audio[i : i + BLOCK], 0.0)
    return signals


def _two_sentences() -> np.ndarray:
    """Two clips, each a whole sentence, about 0.7 s of silence between them (0.28 s of
    the first clip, then 0.45 s): under the 1 s pause, over quick_final_after."""
    first = _go_forward()
    second = read_wav(EN / "ps_0880.wav")  # speech from its first frame
    silence = np.zeros(int(0.45 * 16000), np.float32)
    lead = np.zeros(8000, np.float32)
    return np.concatenate([lead, first, silence, second, np.zeros(16000 * 2, np.float32)])


def _run(engine: Engine, audio: np.ndarray, stream: StreamConfig, speed: float = 1.0) -> list:
    events: list = []
    lock = threading.Lock()

    def keep(event: object) -> None:
        with lock:
            events.append(event)

    d = Dictation(
        engine, source="push", language="en", stream=stream, on_partial=keep, on_final=keep
    )
    d.start()
    feed_paced(d, audio, speed)
    assert d.wait(deadline(60))
    d.stop()
    return events


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("Go forward 10 meters.", True),
        ("Is it?", True),
        ('He said "stop!"', True),
        ("And so...", False),
        ("And so my fellow Americans,", False),
        ("", False),
    ],
)
def test_ends_sentence(text: str, ends: bool) -> None:
    assert ends_sentence(text) is ends


@pytest.mark.slow
def test_a_sentence_end_is_final_before_the_pause_runs_out(tiny_engine: Engine) -> None:
    # About 0.6 s between two sentences: shorter than the 1.0 s pause, so without quick
    # finals (and no commits of agreed words) they make one final; with them, the first
    # sentence is final at its end.
    # (The threshold is low here so that the test is about the mechanism, not about how
    # sure tiny.en happens to be of this period.)
    audio = _two_sentences()
    waiting = StreamConfig(sentence_confidence=None, commit_after=25.0, commit_span=25.0)
    merged = [e for e in _run(tiny_engine, audio, waiting) if isinstance(e, Final)]
    split = [
        e
        for e in _run(tiny_engine, audio, StreamConfig(sentence_confidence=0.3))
        if isinstance(e, Final)
    ]
    assert len(merged) == 1, [f.text for f in merged]
    assert len(split) == 2, [f.text for f in split]
    assert normalize(split[0].text) == "go forward 10 meters"
    assert "young man" in normalize(split[1].text)
    assert split[0].end <= split[1].start  # the second final covers only what followed
    # The same words either way (decodes of different audio spans may differ in a word).
    assert word_error_rate(merged[0].text, " ".join(f.text for f in split)) <= 0.2  # a word of 12


@pytest.mark.slow
def test_sentence_end_confidence_weighs_the_closing_mark_and_the_last_word(
    tiny_engine: Engine,
) -> None:
    clip = read_wav(EN / "ps_goforward.wav")
    result = tiny_engine.transcribe(clip, DecodeOptions(language="en"))
    assert normalize(result.text) == "go forward 10 meters"
    last = result.segments[-1]
    expected = min(last.end_probability, last.words[-1].probability)
    assert 0.0 < sentence_end_confidence(result) == expected <= 1.0
    open_ended = Transcription((Segment(" And so,", 0.0, 1.0, (), -0.1, 0.99),), "en", 1.0)
    assert sentence_end_confidence(open_ended) == 0.0
    # A sure period after an unsure word is an unsure sentence end.
    guessed = (Word(" a", 0.0, 0.5, 0.9), Word(" question.", 0.5, 1.0, 0.55))
    unsure = Transcription((Segment(" a question.", 0.0, 1.0, guessed, -0.3, 0.9),), "en", 1.0)
    assert sentence_end_confidence(unsure) == 0.55


def test_the_final_context_follows_the_model(tiny_engine: Engine) -> None:
    with pytest.raises(ConfigError, match="final_context"):
        StreamConfig(final_context="small")
    with pytest.raises(ConfigError, match="sentence_confidence"):
        StreamConfig(sentence_confidence=1.5)
    for name, stream in (
        ("quick_final_after", StreamConfig(quick_final_after=0.3)),
        ("early_decode_after", StreamConfig(early_decode_after=0.3, quick_final_after=0.1)),
    ):
        with pytest.raises(ConfigError, match=f"{name} must be shorter than the pause"):
            SpeechGate(segmenter=SegmenterConfig(pause=0.3), stream=stream)
    options = DecodeOptions(language="en")
    auto = Transcriber(tiny_engine, options, print)  # tiny: 4 encoder layers, sized
    full = Transcriber(tiny_engine, options, print, stream=StreamConfig(final_context="full"))
    early = PartialJob(1, read_wav(EN / "ps_goforward.wav"), 0.0, 0.0, early=True)
    assert tiny_engine.encoder_layers == 4
    assert auto.policy.options(early).audio_ctx == audio_ctx_for(early.end, 256, 256) < 1500
    assert full.policy.options(early).audio_ctx == 0  # the whole 30 s window
    final = FinalJob(1, early.audio, 0.0, early.end, 0.0)
    assert auto.policy.options(final).audio_ctx == audio_ctx_for(early.end, 256, 256)
    assert full.policy.options(final).audio_ctx == 0


@pytest.mark.slow
def test_the_partial_budget_spaces_partials(tiny_engine: Engine, jfk: np.ndarray) -> None:
    # A partial of JFK every 0.5 s of audio, each handed over once the last one is decoded
    # or held back, so that only the budget decides, not how busy the machine is: a decode
    # costing c seconds holds the next partial back for c / budget seconds of audio. The
    # frugal budget (0.02) holds back all but the first unless a decode takes under 0.2 s;
    # the generous one (1.0) decodes a second partial unless one takes 10 s.
    def partials(budget: float) -> int:
        worker = Transcriber(
            tiny_engine,
            DecodeOptions(language="en"),
            print,
            # No commits of agreed words (every decode here is a partial's), and no cap on
            # how long the budget may hold a partial back.
            stream=StreamConfig(
                partial_budget=budget,
                max_partial_wait=25.0,
                commit_after=25.0,
                commit_span=25.0,
            ),
        )

        def handled() -> int:
            stats = worker.stats
            return stats.decodes + stats.skipped_partials

        worker.start()
        for handed, end in enumerate(np.arange(0.5, len(jfk) / 16000, 0.5), start=1):
            worker.submit(PartialJob(1, jfk[: int(end * 16000)], 0.0, time.monotonic()))
            wait_until(lambda: handled() == handed, 60, f"partial {handed} decoded or held back")  # noqa: B023
        assert worker.stop(deadline(30))
        return worker.stats.decodes

    generous, frugal = partials(1.0), partials(0.02)
    assert frugal < generous, (frugal, generous)
    assert frugal >= 1  # the first partial of an utterance is never held back


def test_an_early_decode_counts_against_the_partial_budget(tiny_engine: Engine) -> None:
    # An early decode that is not final (here: quick finals off) is interim work: the
    # next partial of the utterance waits for its cost / partial_budget of audio.
    clip = _go_forward()
    worker = Transcriber(
        tiny_engine,
        DecodeOptions(language="en"),
        print,
        stream=StreamConfig(sentence_confidence=None, partial_budget=0.1),
    )
    worker.start()
    worker.submit(PartialJob(1, clip, 0.0, 0.0, early=True))
    wait_until(lambda: worker.stats.decodes == 1, 30, "the early decode")
    worker.submit(PartialJob(1, clip, 0.3, 0.0))  # 0.3 s later: within its cost / 0.1
    wait_until(lambda: worker.stats.skipped_partials == 1, 30, "the partial held back")
    worker.submit(PartialJob(1, clip, 60.0, 0.0))  # a minute later: due again
    assert worker.stop(deadline(30))
    assert worker.stats.decodes == 2
    assert worker.stats.skipped_partials == 1


def test_speech_resuming_after_the_early_decode_is_signalled(jfk: np.ndarray) -> None:
    # JFK pauses inside its phrases: each pause gets an early decode, and speech coming
    # back says that decode will not be the final.
    signals = _signals(jfk)
    early = [s for s in signals if isinstance(s, PartialJob) and s.early]
    resumed = [s for s in signals if isinstance(s, SpeechResumed)]
    assert early and resumed
    assert len(resumed) <= len(early)
    # Each resumption is heard after the audio of the early decode it withdraws, in the
    # same utterance.
    assert all(any(e.utterance == r.utterance and e.end < r.at for e in early) for r in resumed)
    levels = pause_levels(StreamConfig(), SegmenterConfig().pause)
    assert len(levels) == 1  # sentence_final_after is off by default
    waiting, held = False, 0  # an early decode since the last resumption, pauses held
    for signal in signals:
        if isinstance(signal, PartialJob) and signal.early:
            waiting, held = True, 0
        elif isinstance(signal, PauseHeld):
            # Once per level and early decode, when at least that much silence was heard.
            assert waiting and held < len(levels)
            assert signal.silence >= levels[held]
            held += 1
        elif isinstance(signal, SpeechResumed):
            assert waiting  # only ever after an early decode
            waiting = False


def test_the_early_decode_waits_for_the_quick_final_pause_where_finals_are_dear(
    jfk: np.ndarray, tiny_engine: Engine
) -> None:
    # A full-context final decode (base and larger) costs seconds: it starts only once
    # the pause may make a quick final, not at every dip of running speech.
    detector = SpeechDetector(VadConfig())
    size = detector.frame_samples
    speech_ends = [
        (i + size) / 16000
        for i in range(0, len(jfk) - size + 1, size)
        if detector.is_speech(jfk[i : i + size])
    ]
    for sized, after in ((True, 0.05), (False, StreamConfig().quick_final_after)):
        early = [
            s for s in _signals(jfk, sized_finals=sized) if isinstance(s, PartialJob) and s.early
        ]
        assert early
        for job in early:  # each starts once that much silence followed the last speech
            silence = job.end - max(t for t in speech_ends if t <= job.end)
            assert after - 1e-9 <= silence < after + 0.035
        if sized:
            cheap = len(early)
    assert len(early) < cheap  # JFK's dips under 0.3 s get no early decode
    # A Dictation asks its engine's model: tiny's finals are sized unless told otherwise.
    for stream, after in ((None, 0.05), (StreamConfig(final_context="full"), 0.3)):
        d = Dictation(tiny_engine, source="push", stream=stream)
        assert d.gate.early_decode_after == after
        d.stop()
    assert StreamConfig(early_decode_after=0.1).early_decode_delay(sized_finals=False) == 0.1
    with pytest.raises(ConfigError, match="early_decode_after"):
        StreamConfig(early_decode_after=0.0)


def test_the_first_speech_frame_withdraws_the_early_decode() -> None:
    # Speech back 0.3 s into a pause (shorter than the 1.0 s that ends the utterance):
    # its first frame already withdraws the early decode, so that a decode finishing in
    # the next frames cannot become a quick final.
    pause = np.zeros(int(0.3 * 16000), np.float32)
    audio = np.concatenate([_go_forward(), pause, read_wav(EN / "ps_0880.wav")])
    detector = SpeechDetector(VadConfig())  # the gate's VAD, on the same frames
    size = detector.frame_samples
    speech_ends = [
        (i + size) / 16000
        for i in range(0, len(audio) - size + 1, size)
        if detector.is_speech(audio[i : i + size])
    ]
    signals = _signals(audio)
    resumed = [s for s in signals if isinstance(s, SpeechResumed)]
    assert resumed
    for signal in resumed:
        before = signals[: next(i for i, s in enumerate(signals) if s is signal)]
        early_end = max(s.end for s in before if isinstance(s, PartialJob) and s.early)
        first_speech = min(t for t in speech_ends if t > early_end)
        assert signal.at == pytest.approx(first_speech)


def test_speech_resuming_withdraws_a_queued_early_decode(tiny_engine: Engine) -> None:
    # Speech may resume while the early decode still waits behind another job: then it
    # must not become a quick final, although its text ends a sentence with confidence.
    clip = _go_forward()

    def finals(resumed_at: float | None) -> tuple[list[Final], int]:
        events: list = []
        worker = _sentence_worker(tiny_engine, events)
        early = PartialJob(1, clip, 0.0, 0.0, early=True)
        worker.submit(early)  # queued: the worker is not started yet
        if resumed_at is not None:
            worker.submit(SpeechResumed(1, resumed_at))
        worker.submit(PauseHeld(1, early.end + 0.1, 0.3))
        worker.start()
        assert worker.stop(deadline(30))
        return [e for e in events if isinstance(e, Final)], worker.stats.cancelled_partials

    end = len(clip) / 16000
    quick, _ = finals(None)
    assert [normalize(f.text) for f in quick] == ["go forward 10 meters"]
    withdrawn, cancelled = finals(end + 0.09)
    assert withdrawn == [] and cancelled == 1
    earlier, _ = finals(end - 0.2)  # a resumption this audio already holds withdraws nothing
    assert len(earlier) == 1


@pytest.mark.parametrize("then", ["held", "resumed", "ended"])
def test_a_quick_final_waits_for_the_pause_to_hold(tiny_engine: Engine, then: str) -> None:
    # The early decode starts before the pause is confirmed; done first, it waits. Then
    # the pause holding makes it a quick final, speech resuming withdraws it, and the
    # utterance ending (the stream finished) makes the final reuse it.
    clip = _go_forward()
    events: list = []
    worker = _sentence_worker(tiny_engine, events)
    early = PartialJob(1, clip, 0.0, 0.0, early=True)
    worker.start()
    worker.submit(early)
    wait_until(lambda: worker.stats.decodes == 1, 30, "the early decode")
    # The worker waits on its signal condition only to learn whether the pause held.
    wait_until(lambda: worker._signalled._waiters, 30, "the worker to wait for the pause")  # type: ignore[attr-defined]
    assert worker.stats.decodes == 1 and events == []  # decoded, and waiting
    if then == "held":
        worker.submit(PauseHeld(1, early.end + 0.09, 0.3))
    elif then == "resumed":
        worker.submit(SpeechResumed(1, early.end + 0.09))
    else:
        worker.submit(FinalJob(1, clip, 0.0, 2.22, 0.0))
    assert worker.stop(deadline(30))
    finals = [normalize(e.text) for e in events if isinstance(e, Final)]
    assert finals == ([] if then == "resumed" else ["go forward 10 meters"])
    assert worker.stats.decodes == 1  # no decode again, whatever came next
    assert worker.stats.reused_finals == (then == "ended")
    assert worker.stats.cancelled_partials == (then == "resumed")


def test_the_pause_is_held_after_the_early_decode() -> None:
    audio = np.concatenate([_go_forward(), np.zeros(16000, np.float32)])
    for stream in (
        StreamConfig(sentence_final_after=0.6),
        StreamConfig(early_decode_after=0.1, quick_final_after=0.3, sentence_final_after=0.6),
    ):
        signals = _signals(audio, stream)
        early = [s for s in signals if isinstance(s, PartialJob) and s.early]
        held = [s for s in signals if isinstance(s, PauseHeld)]
        assert len(early) == 1 and len(held) == 2  # quick_final_after, sentence_final_after
        kinds = [type(s).__name__ for s in signals if isinstance(s, (PauseHeld, FinalJob))]
        assert kinds == ["PauseHeld", "PauseHeld", "FinalJob"]  # before the pause runs out
        for signal, silence in zip(held, (stream.quick_final_after, 0.6), strict=True):
            assert signal.at >= early[0].end
            wait = silence - stream.early_decode_delay(sized_finals=True)
            assert wait - 0.035 <= signal.at - early[0].end <= wait + 0.035
            assert silence <= signal.silence <= silence + 0.035
    # Never later than the early decode itself.
    stream = StreamConfig(early_decode_after=0.2, quick_final_after=0.05, sentence_final_after=None)
    signals = _signals(audio, stream)
    early_end = next(s.end for s in signals if isinstance(s, PartialJob) and s.early)
    assert [s.at for s in signals if isinstance(s, PauseHeld)] == [early_end]


@pytest.mark.slow
def test_a_partial_decode_is_capped(tiny_engine: Engine, jfk: np.ndarray) -> None:
    full = tiny_engine.transcribe(jfk, DecodeOptions(language="en"))
    capped = tiny_engine.transcribe(
        jfk, DecodeOptions(language="en", max_tokens=5, single_segment=True)
    )
    assert len(capped.words) < len(full.words)
    assert normalize(full.text).startswith(normalize(capped.text))


def test_the_gate_says_the_same_whatever_the_block_size() -> None:
    # A capture thread that falls behind reads the audio in larger blocks: the decodes
    # asked for and the signals' order must not change (they did when partials were
    # scheduled once per block: a resumption could come before the pause it ended).
    audio = _two_sentences()

    def signals(block: int) -> list[tuple[str, int, float]]:
        gate = SpeechGate()
        out = []
        for i in range(0, len(audio), block):
            out += gate.push(audio[i : i + block], 0.0)
        return [
            (type(s).__name__, s.utterance, round(getattr(s, "at", getattr(s, "start", 0.0)), 3))
            for s in out
        ]

    small = signals(BLOCK)
    assert any(kind == "PauseHeld" for kind, _, _ in small)
    assert signals(16000) == small
    assert signals(4800 + 7) == small
