"""Caption lag over made-up streams: speech runs, the feeding clock, the lag itself."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ beside src/

from benchmarks import caption_lag
from benchmarks.caption_lag import LagTrace, figures, speech_runs, stream_times

lag_of = caption_lag.caption_lag


def test_the_examples_hold() -> None:
    assert doctest.testmod(caption_lag).failed == 0


def test_speech_runs_drop_clicks_and_bridge_short_gaps() -> None:
    flags = [0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]
    # A one-frame click at 0.1 is no speech; the one-frame gap at 0.8 is bridged by the
    # hangover; the last run's hangover stops at the end of the frames.
    assert speech_runs(flags, 0.1, hangover=0.2, min_frames=3) == [(0.4, 1.4), (1.7, 2.0)]
    assert speech_runs(flags, 0.1, hangover=0.0, min_frames=3) == [
        (0.4, 0.8),
        (0.9, 1.2),
        (1.7, 2.0),
    ]
    assert speech_runs([], 0.03) == [] and speech_runs([0, 0, 0], 0.03) == []


def test_stream_times_follow_a_feeder_that_falls_behind() -> None:
    # Blocks of 0.1 s handed over on time, then 0.5 s late (a busy machine), then done.
    walls = [100.0, 100.1, 100.7, 100.8]
    sent = [0.1, 0.2, 0.3, 0.4]
    got = stream_times([99.0, 100.05, 100.5, 100.75, 101.8], walls, sent)
    assert got == pytest.approx([0.0, 0.1, 0.2, 0.3, 1.4])
    assert stream_times([1.0], [], []).tolist() == [0.0]


Spans = list[tuple[float, float]]


def _lag(shown: Spans, runs: Spans, duration: float) -> dict[float, float]:
    """Lag by sample time, both rounded, with a grace of 0.3 s."""
    trace = lag_of(shown, runs, duration, step=0.1, grace=0.3)
    times, lags = np.round(trace.times, 1).tolist(), np.round(trace.lag, 2).tolist()
    return dict(zip(times, lags, strict=True))


def test_lag_grows_until_text_comes_and_is_sampled_only_in_speech() -> None:
    lags = _lag([(1.5, 1.4)], [(1.0, 2.0)], 3.0)
    assert list(lags) == pytest.approx([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0])
    # Nothing shown before 1.5: the lag counts from the start of speech, not of the stream.
    assert lags[1.1] == 0.1 and lags[1.4] == 0.4
    # The partial at 1.5 reaches 1.4; then it grows again.
    assert lags[1.5] == 0.1 and lags[2.0] == 0.6


def test_a_pause_the_text_covered_is_not_lag() -> None:
    # The first utterance is covered (its final reaches 1.9, within grace of 2.0); the
    # second starts at 3.5: its lag counts from 3.5, not from 1.9.
    lags = _lag([(2.5, 1.9)], [(1.0, 2.0), (3.5, 4.5)], 5.0)
    assert lags[3.6] == 0.1 and lags[4.5] == 1.0


def test_speech_left_uncovered_before_a_pause_keeps_counting() -> None:
    # Text reaches only 1.2 of an utterance that ran to 2.0: the words after 1.2 are owed
    # across the pause, so at 3.6 the lag is 2.4 s, not 0.1 s.
    lags = _lag([(1.5, 1.2)], [(1.0, 2.0), (3.5, 4.5)], 5.0)
    assert lags[3.6] == 2.4
    # Once text reaches into the second utterance, the lag is from that reach.
    lags = _lag([(1.5, 1.2), (4.0, 3.8)], [(1.0, 2.0), (3.5, 4.5)], 5.0)
    assert lags[3.9] == 2.7 and lags[4.0] == 0.2


def test_the_latest_reach_counts_even_if_a_later_event_reaches_less() -> None:
    # A partial reaching the audio's end, then a final whose last word ends earlier.
    lags = _lag([(1.5, 1.5), (1.7, 1.3)], [(1.0, 3.0)], 3.0)
    assert lags[1.7] == 0.2 and lags[1.8] == 0.3


def test_text_reaching_past_the_audio_sent_is_no_negative_lag() -> None:
    lags = _lag([(1.2, 1.4)], [(1.0, 2.0)], 2.0)
    assert lags[1.2] == 0.0 and lags[1.5] == 0.1


def test_waits_for_new_text_and_figures() -> None:
    trace = lag_of([(1.5, 1.4), (1.6, 1.5)], [(1.0, 2.0)], 2.0, step=0.1, grace=0.3)
    assert float(trace.waiting[-1]) == pytest.approx(0.4)  # 2.0 - the event at 1.6
    assert float(trace.waiting.max()) == pytest.approx(0.4)  # 1.0 to 1.5 without text
    got = figures(trace)
    assert got["samples"] == 10 and got["lag_max"] == pytest.approx(0.5)
    assert got["lag_median"] == pytest.approx(float(np.median(trace.lag)))
    assert got["wait_max"] == pytest.approx(0.4)
    # Words owed across a pause: the wait runs from the last text, as the lag from its reach.
    trace = lag_of([(1.5, 1.2)], [(1.0, 2.0), (3.5, 4.5)], 5.0, step=0.1, grace=0.3)
    (i,) = np.flatnonzero(np.isclose(trace.times, 3.6))
    assert (trace.lag[i], trace.waiting[i]) == pytest.approx((2.4, 2.1))
    # Text that keeps coming but falls short: the lag grows, the wait does not.
    trace = lag_of([(t / 10, 1.0) for t in range(11, 30)], [(1.0, 3.0)], 3.0, grace=0.3)
    assert float(trace.lag[-1]) == pytest.approx(2.0) and float(trace.waiting[-1]) < 0.2
    assert figures(trace.between(1.5, 1.7))["samples"] == 2
    empty = figures(LagTrace(np.zeros(0), np.zeros(0), np.zeros(0)))
    assert empty["lag_median"] is None and empty["samples"] == 0


def test_no_speech_no_samples() -> None:
    assert lag_of([(1.0, 1.0)], [], 5.0).times.size == 0
    assert lag_of([], [(0.0, 1.0)], 0.05).times.size == 0
