"""Caption lag: how far the text shown is behind the audio heard, and when to say so.

Pure bookkeeping over stream times, no clock of its own: :class:`LagMonitor` is told, for
each block of audio, how much audio has been heard, how far the text emitted so far
reaches, and whether anything is still waiting to be transcribed; it answers with a
:class:`~livewhisper.events.Status` when one is due.

The lag is the caption-lag figure of benchmarks/streaming.py seen from inside: the stream
time heard minus the latest stream time that any text reaches, counted from the last
moment nothing was owed (silence with every final out lags nothing). With partials off
(finals only) the speech of an utterance still being spoken is owed nothing: its text
comes at its end by design, so there the lag is how long finals have been overdue.

Example::

    monitor = LagMonitor(behind_after=3.0)
    status = monitor.update(
        heard=12.0, shown_until=7.5, speaking=True, finals_pending=False, now=time.monotonic()
    )
    if status is not None:
        print(f"{status.lag:.1f} s behind")
"""

from __future__ import annotations

from livewhisper.errors import ConfigError
from livewhisper.events import Status

__all__ = ["LagMonitor"]


class LagMonitor:
    """Turns stream times into :class:`~livewhisper.events.Status` reports.

    ``behind_after``: the lag in seconds from which the text counts as behind; it counts
    as caught up again below half of that (hysteresis, so a lag hovering at the threshold
    does not flap). ``every``: stream seconds between reports while behind. ``partials``:
    whether the stream makes partial text; without it an open utterance owes no text.
    """

    def __init__(
        self, behind_after: float = 3.0, every: float = 1.0, *, partials: bool = True
    ) -> None:
        if not behind_after > 0 or not every > 0:
            raise ConfigError("LagMonitor needs positive behind_after and every")
        self._partials = partials
        self._threshold = behind_after
        self._every = every
        self._covered = 0.0
        self._behind = False
        self._last_report = float("-inf")
        self.lag = 0.0
        """The lag at the last :meth:`update`, in seconds."""

    def update(
        self,
        heard: float,
        shown_until: float,
        speaking: bool,
        finals_pending: bool,
        now: float = 0.0,
    ) -> Status | None:
        """Take the state after a block: ``heard`` stream seconds of audio so far, text
        reaching stream time ``shown_until``, whether an utterance is open (``speaking``)
        and whether a final is queued or being decoded (``finals_pending``); ``now`` is
        carried into the report. Returns a report when the text falls behind, every
        ``every`` seconds while it stays behind, and when it catches up; else None.
        """
        if not (finals_pending or (speaking and self._partials)):
            self._covered = heard
        self._covered = max(self._covered, shown_until)
        self.lag = max(0.0, heard - self._covered)
        if self._behind:
            if self.lag < self._threshold / 2:
                self._behind = False
                self._last_report = heard
                return Status(self.lag, False, heard, now)
            if heard - self._last_report >= self._every:
                self._last_report = heard
                return Status(self.lag, True, heard, now)
            return None
        if self.lag >= self._threshold:
            self._behind = True
            self._last_report = heard
            return Status(self.lag, True, heard, now)
        return None
