"""Caption lag as the Python API reports it: the pure monitor, then a real stream fed
faster than it can be transcribed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EN, deadline, feed_paced, read_wav

from livewhisper import Dictation, Engine, Final, Status
from livewhisper.errors import ConfigError
from livewhisper.lag import LagMonitor


def test_the_lag_counts_from_the_last_moment_nothing_waited() -> None:
    monitor = LagMonitor(behind_after=3.0, every=1.0)
    assert monitor.update(10.0, 0.0, speaking=False, finals_pending=False) is None
    assert monitor.lag == 0.0  # silence with every final out lags nothing
    assert monitor.update(12.0, 0.0, speaking=True, finals_pending=False) is None
    assert monitor.lag == pytest.approx(2.0)
    assert monitor.update(12.5, 11.8, speaking=False, finals_pending=True) is None
    assert monitor.lag == pytest.approx(0.7)


def test_with_finals_only_an_utterance_being_spoken_owes_no_text() -> None:
    # 11 s of speech with partials off: its text is due at its end, not while it is
    # spoken, so only a final overdue by 3 s is behind (a piped `dictate` on an idle
    # machine said "text 3 s behind" 3.4 s into JFK).
    monitor = LagMonitor(behind_after=3.0, every=1.0, partials=False)
    for step in range(111):
        assert monitor.update(step / 10, 0.0, speaking=True, finals_pending=False) is None
    assert monitor.lag == 0.0
    # The utterance ended at 11.0 s; its final decodes for 0.5 s, then one stuck for 4 s.
    for heard in (11.1, 11.3, 11.5):
        assert monitor.update(heard, 0.0, speaking=False, finals_pending=True) is None
    assert monitor.lag == pytest.approx(0.5)
    assert monitor.update(11.6, 10.9, speaking=False, finals_pending=False) is None
    statuses = [
        monitor.update(12.0 + step / 10, 10.9, speaking=step < 20, finals_pending=True)
        for step in range(41)
    ]
    assert [s.behind for s in statuses if s is not None] == [True, True]
    assert monitor.lag == pytest.approx(4.4)


def test_behind_is_reported_every_second_then_caught_up_once() -> None:
    monitor = LagMonitor(behind_after=3.0, every=1.0)
    reports: list[Status] = []
    for step in range(60):  # 6 s of speech, text stuck at 1.0 s
        heard = 1.0 + step / 10
        status = monitor.update(heard, 1.0, speaking=True, finals_pending=False, now=step)
        if status is not None:
            reports.append(status)
    assert [r.behind for r in reports] == [True, True, True]
    assert [round(r.lag, 1) for r in reports] == [3.0, 4.0, 5.0]
    # Back under half the threshold: one report that it caught up, then quiet.
    assert monitor.update(7.0, 5.9, speaking=True, finals_pending=False) == Status(
        pytest.approx(1.1), False, 7.0, 0.0
    )
    assert monitor.update(7.1, 6.0, speaking=True, finals_pending=True) is None
    # Between half and the whole threshold it stays as it was (no flapping).
    monitor.update(10.0, 8.0, speaking=True, finals_pending=False)
    assert monitor.update(10.1, 8.0, speaking=True, finals_pending=False) is None


def test_the_monitor_refuses_nonsense() -> None:
    with pytest.raises(ConfigError):
        LagMonitor(behind_after=0.0)


@pytest.mark.slow  # 3 s of real-time pacing, 11 s of speech decoded
def test_a_stream_fed_faster_than_real_time_reports_the_lag(tiny_engine: Engine) -> None:
    # 4x real time on 11 s of speech: the text cannot keep up, the API says so while it
    # happens, and every word still arrives.
    audio = np.concatenate([read_wav(EN / "jfk.wav"), np.zeros(32000, np.float32)])
    reports: list[Status] = []
    finals: list[Final] = []
    d = Dictation(
        tiny_engine, source="push", language="en", on_status=reports.append, on_final=finals.append
    ).start()
    feed_paced(d, audio, speed=4.0)
    assert d.wait(deadline(120))
    d.stop()
    assert reports and reports[0].behind and reports[0].lag >= 3.0, reports
    assert all(r.lag >= 0 for r in reports)
    assert finals and "country" in finals[-1].text.lower()
