"""Caption lag: how far the text on screen trails the speech, sampled while someone speaks.

Pure functions over arrays: no audio device, model or clock, so the tests run in
milliseconds. The streaming benchmark gives them three things it recorded:

* the **speech runs** of the stream, ``(start, end)`` in stream seconds, from per-frame
  VAD flags (:func:`speech_runs`);
* the **feeding clock**: for each block handed to ``Dictation.feed``, the wall time it was
  handed over and the stream time sent once it was; :func:`stream_times` maps an event's
  ``emitted_at`` through it, so a feeder that falls behind on a busy machine is no error;
* the **text shown**: per ``Partial`` or ``Final``, the stream time when it came and the
  stream time its text reaches (the event's ``end``).

Every ``step`` seconds of stream while someone speaks, :func:`caption_lag` takes the
lag: the stream time sent so far minus the latest stream time that any text shown by
then reaches. Silence is not owed text: when what is shown reaches the end of a run of
speech (within ``grace`` s, for the looseness of word times and the VAD's hangover), the
lag restarts from the next run's start, so the pause between two utterances does not
count; speech left uncovered before a pause keeps counting across it.

Example::

    runs = speech_runs(vad_flags, frame_seconds=0.03)
    shown = zip(stream_times(emitted_at, clock_wall, clock_stream), ends)
    figures(caption_lag(list(shown), runs, duration))  # lag_median, lag_p90, lag_max
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Span = tuple[float, float]
Floats = npt.NDArray[np.float64]

STEP = 0.1
"""Seconds of stream between two samples of the lag."""
GRACE = 0.5
"""Text within this many seconds of the end of a run of speech covers the run."""
HANGOVER = 0.2
"""Seconds a run of speech lasts past its last speech frame (bridges short gaps)."""
MIN_FRAMES = 3
"""Consecutive speech frames that start a run (fewer are clicks, not speech)."""


def speech_runs(
    flags: Sequence[bool] | npt.NDArray[np.bool_],
    frame_seconds: float,
    *,
    hangover: float = HANGOVER,
    min_frames: int = MIN_FRAMES,
) -> list[Span]:
    """Runs of speech ``(start, end)`` in seconds from per-frame VAD flags.

    A run of at least ``min_frames`` speech frames is speech; it lasts ``hangover`` s past
    its last frame (never past the last frame of all), and runs that then touch merge.

    Example::

        >>> speech_runs([1, 1, 1, 0, 1, 1, 1, 0, 0, 0], 0.1, hangover=0.15)
        [(0.0, 0.85)]
    """
    on = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    keep = ends - starts >= min_frames
    total = on.size * frame_seconds
    runs: list[Span] = []
    for s, e in zip(starts[keep], ends[keep], strict=True):
        start, end = s * frame_seconds, min(e * frame_seconds + hangover, total)
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return [(round(float(s), 6), round(float(e), 6)) for s, e in runs]


def stream_times(
    at: Sequence[float] | Floats, clock_wall: Sequence[float], clock_stream: Sequence[float]
) -> Floats:
    """Wall-clock times mapped to the stream time sent by then, through the feeding clock.

    ``clock_wall[i]`` is when block ``i`` was handed over and ``clock_stream[i]`` the
    stream time sent once it was (both increasing). Before the first block the stream
    time is 0; after the last, the stream's end plus the wall time since, so text that
    comes after the audio ran out is later than every sample of the lag.

    Example::

        >>> stream_times([10.3, 11.0], [10.0, 10.25, 10.5], [0.25, 0.5, 0.75]).tolist()
        [0.5, 1.25]
    """
    walls = np.asarray(clock_wall, dtype=np.float64)
    sent = np.asarray(clock_stream, dtype=np.float64)
    when = np.asarray(at, dtype=np.float64)
    if walls.size == 0:
        return np.zeros_like(when)
    i = np.searchsorted(walls, when, side="right") - 1
    mapped = np.where(i >= 0, sent[np.clip(i, 0, None)], 0.0)
    after = when > walls[-1]
    return np.where(after, sent[-1] + (when - walls[-1]), mapped)


@dataclass(frozen=True)
class LagTrace:
    """The lag sampled while someone speaks.

    ``times`` are the stream times of the samples; ``lag`` the caption lag at each;
    ``waiting`` how long the speech owed had gone without any new text (a new ``Partial``
    or ``Final``, whether or not it reached further) at each. Where ``waiting`` is close
    to ``lag``, the lag comes from text that did not come, not from text that came late.
    """

    times: Floats
    lag: Floats
    waiting: Floats

    def between(self, start: float, end: float) -> LagTrace:
        """The samples with ``start < time <= end``."""
        keep = (self.times > start) & (self.times <= end)
        return LagTrace(self.times[keep], self.lag[keep], self.waiting[keep])


def caption_lag(
    shown: Sequence[tuple[float, float]],
    runs: Sequence[Span],
    duration: float,
    *,
    step: float = STEP,
    grace: float = GRACE,
) -> LagTrace:
    """Caption lag every ``step`` s of a ``duration``-second stream while someone speaks.

    ``shown`` holds, per event, ``(stream time it came, stream time its text reaches)``;
    ``runs`` the speech runs (sorted, disjoint). A sample at stream time ``t`` is taken
    when ``t`` lies in a run (``start < t <= end``). Its lag is ``t`` minus where the
    pending speech starts: the latest reach ``R`` of the text shown by ``t`` (0 if none),
    or, when runs ended at most ``grace`` s after ``R``, the start of the first run that
    did not. Never negative.

    Example::

        >>> trace = caption_lag([(1.0, 0.75)], [(0.5, 1.25), (2.0, 2.75)], 2.5, step=0.5)
        >>> trace.times.tolist(), trace.lag.tolist()
        ([1.0, 2.5], [0.25, 0.5])
    """
    runs_a = np.asarray(runs, dtype=np.float64).reshape(-1, 2)
    count = int(np.floor(duration / step + 1e-9))
    ticks = np.round(np.arange(1, count + 1) * step, 9)
    if runs_a.size == 0 or ticks.size == 0:
        empty = np.zeros(0)
        return LagTrace(empty, empty, empty)
    starts, ends = runs_a[:, 0], runs_a[:, 1]
    run = np.searchsorted(starts, ticks, side="left") - 1  # last run starting before t
    inside = (run >= 0) & (ticks <= ends[np.clip(run, 0, None)])
    ticks, run = ticks[inside], run[inside]

    events = np.asarray(shown, dtype=np.float64).reshape(-1, 2)
    events = events[np.argsort(events[:, 0], kind="stable")]
    # Index 0 stands for "nothing shown yet": reach 0, never updated.
    came = np.concatenate(([-np.inf], events[:, 0]))
    reach = np.concatenate(([0.0], np.maximum.accumulate(events[:, 1]) if len(events) else []))
    last = np.searchsorted(came, ticks, side="right") - 1  # last event shown by t
    reached, latest = reach[last], came[last]

    # The first run not covered by the text (ending more than `grace` after its reach),
    # but never a run later than the one being spoken.
    pending = np.minimum(np.searchsorted(ends, reached + grace, side="right"), run)
    owed = np.maximum(reached, starts[pending])
    lag = np.maximum(0.0, ticks - owed)
    waiting = np.maximum(0.0, ticks - np.maximum(latest, owed))
    return LagTrace(ticks, lag, waiting)


def figures(trace: LagTrace) -> dict[str, Any]:
    """Median, p90 and maximum of the lag, and the longest wait for new text; None if empty.

    Example::

        figures(caption_lag(shown, runs, 60.0))
        # {"lag_median": 0.7, "lag_p90": 1.6, "lag_max": 3.1, "wait_max": 2.9, "samples": 412}
    """
    if trace.lag.size == 0:
        return {
            "lag_median": None,
            "lag_p90": None,
            "lag_max": None,
            "wait_max": None,
            "samples": 0,
        }
    return {
        "lag_median": float(np.percentile(trace.lag, 50)),
        "lag_p90": float(np.percentile(trace.lag, 90)),
        "lag_max": float(trace.lag.max()),
        "wait_max": float(trace.waiting.max()),
        "samples": int(trace.lag.size),
    }
