"""How fast a live session's audio may come: about real time, and not much slower.

Audio sent faster than spoken would queue minutes of decoding ahead of every other
session; a session sending almost nothing would hold a slot for free. :class:`AudioPace`
(sans-I/O: told each frame's seconds of audio and the clock) says how long to wait
before reading the next frame (beyond ``max_ahead`` s ahead of real time the server
reads nothing until the audio is due: TCP holds the rest back, nothing is lost) and
whether the session must end (too little audio, too long).

Example::

    pace = AudioPace(PaceLimits(max_ahead=10, min_rate=0.5), now=clock())
    pace.add(0.02, now=clock())                 # a 20 ms frame arrived
    await asyncio.sleep(pace.wait(now=clock()))  # > 0 only when 10 s ahead
    if (error := pace.check(now=clock())) is not None:
        ...                                      # send it, close the session
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livewhisper.errors import ConfigError
from livewhisper.protocol import ErrorCode, ProtocolError

__all__ = ["AudioPace", "PaceLimits"]


@dataclass(frozen=True)
class PaceLimits:
    """The pace a live session keeps.

    * ``max_ahead``: seconds of audio a client may send ahead of real time (counted from
      its first audio frame) before the server stops reading until the audio is due.
    * ``min_rate``: seconds of audio per second of clock a session must send, over each
      ``window`` seconds (0 disables the check); audio sent ahead counts, up to
      ``max_ahead``. ``first_audio``: seconds from the session's start to its first
      audio frame.
    * ``max_length``: seconds a session may last from its start to its ``end`` (None: no
      limit).

    Example: ``PaceLimits(max_ahead=5.0, min_rate=0.5, max_length=3600.0)``.
    """

    max_ahead: float = 10.0
    min_rate: float = 0.5
    window: float = 10.0
    first_audio: float = 30.0
    max_length: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_ahead", "window", "first_audio", "max_length"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds")
        if not 0.0 <= self.min_rate <= 1.0:
            raise ConfigError("min_rate must be from 0 to 1 (seconds of audio per second)")


class AudioPace:
    """The pace of one session's audio (see the module docstring); times in seconds from
    any monotonic clock.

    Example::

        >>> pace = AudioPace(PaceLimits(max_ahead=2.0, window=10.0), now=0.0)
        >>> pace.add(5.0, now=1.0)          # 5 s of audio at once, 1 s in
        >>> pace.wait(now=1.0)               # due at 1 + 5 - 2: read again at 4.0
        3.0
        >>> pace.check(now=30.0).code.value  # then nothing for 25 s
        'too_little_audio'
    """

    def __init__(self, limits: PaceLimits, now: float) -> None:
        self.limits = limits
        self.started = now
        self.first: float | None = None
        self.received = 0.0
        self.finished = False
        self._window_start = now
        self._window_audio = 0.0

    def add(self, seconds: float, now: float) -> None:
        """Count a frame of ``seconds`` of audio that arrived at ``now``."""
        if self.first is None:
            self.first = self._window_start = now
        self.received += seconds
        self._window_audio += seconds

    def finish(self) -> None:
        """The client said ``end``: no more audio is expected, and no limit applies."""
        self.finished = True

    def ahead(self, now: float) -> float:
        """Seconds of audio received beyond real time (0 while keeping time or behind).

        Example: 5 s of audio in the first second is 4 s ahead.
        """
        if self.first is None:
            return 0.0
        return max(0.0, self.received - (now - self.first))

    def wait(self, now: float) -> float:
        """Seconds to wait before reading the next frame (0 unless too far ahead)."""
        if self.first is None:
            return 0.0
        return max(0.0, self.first + self.received - self.limits.max_ahead - now)

    def check(self, now: float) -> ProtocolError | None:
        """The error that ends the session now, or None."""
        if self.finished:
            return None
        limits = self.limits
        if limits.max_length is not None and now - self.started >= limits.max_length:
            return ProtocolError(
                ErrorCode.SESSION_TOO_LONG,
                f"sessions on this server last at most {limits.max_length:g} s: "
                "open a new one to go on",
            )
        if limits.min_rate <= 0:
            return None
        if self.first is None:
            if now - self.started >= limits.first_audio:
                return ProtocolError(
                    ErrorCode.TOO_LITTLE_AUDIO,
                    f"no audio in the first {limits.first_audio:g} s: send audio as it is "
                    "recorded, silence included",
                )
            return None
        while now - self._window_start >= limits.window:
            needed = limits.min_rate * limits.window
            if self._window_audio < needed:
                return ProtocolError(
                    ErrorCode.TOO_LITTLE_AUDIO,
                    f"{self._window_audio:.1f} s of audio in {limits.window:g} s; this server "
                    f"needs {needed:g} s: send audio as it is recorded, silence included",
                )
            # Audio sent ahead counts for the next window, as far as it may run ahead.
            self._window_audio = min(self._window_audio - needed, limits.max_ahead)
            self._window_start += limits.window
        return None

    def next_check(self, now: float) -> float:
        """Seconds until :meth:`check` may give another answer."""
        if self.finished:
            return math.inf
        limits = self.limits
        due = [self._window_start + limits.window if limits.min_rate > 0 else math.inf]
        if self.first is None and limits.min_rate > 0:
            due.append(self.started + limits.first_audio)
        if limits.max_length is not None:
            due.append(self.started + limits.max_length)
        return max(0.0, min(due) - now)
