"""The caption server's settings: one validated, immutable dataclass.

Example::

    config = ServerConfig(port=0, models=("tiny.en-q8_0",), max_sessions=2)
    lan = ServerConfig(host="0.0.0.0", token="s3cret")     # beyond loopback: a token is required
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from livewhisper.errors import ConfigError
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.server.pacing import PaceLimits

__all__ = ["ServerConfig", "is_loopback"]

# Settings that are counts (at least 1; None: the default) and durations (seconds > 0).
_COUNTS = (
    "max_sessions", "max_listeners", "max_queued_finals", "max_jobs", "max_upload_bytes",
    "max_uploads_per_client", "max_output_bytes", "workers", "threads",
    "max_sessions_per_client",
)  # fmt: skip
_SECONDS = (
    "idle_timeout", "body_timeout", "request_timeout", "max_ahead", "max_upload_seconds",
    "max_session_seconds", "max_pings_per_second",
)  # fmt: skip


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    Example::

        >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    name = host.strip().lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to anything


@dataclass(frozen=True)
class ServerConfig:
    """How ``livewhisper serve`` runs.

    * ``host``, ``port``: where to listen (``port=0`` picks a free port). A host other
      than loopback requires ``token``.
    * ``models``: the models sessions may choose, the first the default; ``language``:
      the default decode language (None detects it; English-only models use English);
      ``vocabulary``: names and terms every session and upload is steered toward unless
      it names its own (:mod:`livewhisper.vocabulary`).
    * ``mic``, ``mic_device``: also caption this machine's microphone, as session ``mic``.
    * ``token``: clients must present it (``?token=`` or ``Authorization: Bearer``).
    * ``max_sessions``: audio sessions at once (more get ``busy``); ``max_listeners``:
      caption listeners at once.
    * ``workers``, ``threads``: model workers and CPU threads per decode (None: see
      :func:`~livewhisper.server.pool.default_workers`).
    * ``idle_timeout``: seconds a listen client may stay silent (no frame at all) before
      the session is closed.
    * ``allowed_origins``: browser origins allowed besides the server's own
      (e.g. ``"https://example.org"``).
    * ``max_queued_finals``: events a connection may fall behind by before it is dropped
      as too slow (partials are dropped long before that).
    * ``max_upload_bytes``, ``max_upload_seconds``: the largest file, in bytes and in
      seconds of audio, that the API takes; ``body_timeout``: seconds an upload may stop
      sending before it is given up.
    * ``max_jobs``: files transcribed at once; ``max_waiting_jobs``: files queued behind
      them before new ones get HTTP 429.
    * Per client (by its address; behind a proxy, the one it forwards: docs/serving.md):
      ``max_sessions_per_client`` audio sessions at once (None: all but one of
      ``max_sessions``, so one address never holds every slot) and
      ``max_uploads_per_client`` files running or queued.
    * The pace of a live session (:class:`~livewhisper.server.pacing.PaceLimits`):
      ``max_ahead`` seconds of audio a client may send ahead of real time before the
      server stops reading until it is due; ``min_audio_rate``: seconds of audio per
      second a session must send (over each 10 s; 0 disables); ``max_session_seconds``:
      the longest a session may last (None: no limit).
    * ``max_output_bytes``: bytes a WebSocket may leave unread in the server's send
      buffer, and ``max_pings_per_second`` (over a burst of as many), past which the
      client is dropped (close 1008); ``request_timeout``: seconds an upload's whole body
      may take to arrive.

    Example: ``ServerConfig(host="0.0.0.0", port=9000, token="s3cret", mic=True)``.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    language: str | None = None
    vocabulary: tuple[str, ...] = ()
    mic: bool = False
    mic_device: int | str | None = None
    token: str | None = None
    max_sessions: int = 4
    max_listeners: int = 1000
    workers: int | None = None
    threads: int | None = None
    idle_timeout: float = 30.0
    allowed_origins: tuple[str, ...] = ()
    max_queued_finals: int = 256
    max_upload_bytes: int = 100_000_000
    max_upload_seconds: float = 2 * 3600.0
    body_timeout: float = 60.0
    max_jobs: int = 1
    max_waiting_jobs: int = 4
    max_sessions_per_client: int | None = None
    max_uploads_per_client: int = 2
    max_ahead: float = 10.0
    min_audio_rate: float = 0.5
    max_session_seconds: float | None = None
    max_output_bytes: int = 1_000_000
    max_pings_per_second: float = 10.0
    request_timeout: float = 900.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
        if not self.models:
            raise ConfigError("the server needs at least one model")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be within 0..65535, not {self.port}")
        if self.max_waiting_jobs < 0:
            raise ConfigError("max_waiting_jobs must not be negative")
        for name in _COUNTS:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in _SECONDS:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number")
        if not 0.0 <= self.min_audio_rate <= 1.0:
            raise ConfigError(
                "min_audio_rate must be from 0 to 1 (seconds of audio per second; 0 disables it)"
            )
        if self.token is not None and not self.token.strip():
            raise ConfigError("the token must not be empty")
        if not is_loopback(self.host) and self.token is None:
            raise ConfigError(
                f"listening on {self.host!r} exposes the server beyond this machine: "
                "set a token (--token or LIVEWHISPER_TOKEN) that clients must present, "
                "or keep the default --host 127.0.0.1"
            )

    @property
    def sessions_per_client(self) -> int:
        """The audio sessions one client address may hold at once.

        Example::

            >>> ServerConfig(max_sessions=4).sessions_per_client
            3
        """
        if self.max_sessions_per_client is not None:
            return self.max_sessions_per_client
        return max(1, self.max_sessions - 1)

    @property
    def pace(self) -> PaceLimits:
        """The pace every live session keeps (:class:`~livewhisper.server.pacing.PaceLimits`).

        Example: ``ServerConfig(max_ahead=5).pace.max_ahead`` is 5.0.
        """
        return PaceLimits(
            max_ahead=self.max_ahead,
            min_rate=self.min_audio_rate,
            first_audio=self.idle_timeout,
            max_length=self.max_session_seconds,
        )
