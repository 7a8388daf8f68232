"""What the server's domain refuses, in its own words: no HTTP status in sight.

The web layer (:mod:`~livewhisper.server.web`) maps these, and the library's own errors
(:class:`~livewhisper.errors.AudioError`, model errors), to HTTP statuses and OpenAI's
error bodies in one table.

Example::

    raise InvalidRequest("temperature must be from 0 to 1", field="temperature")
"""

from __future__ import annotations

from livewhisper.errors import LiveWhisperError

__all__ = ["Busy", "InvalidRequest", "ShuttingDown"]


class InvalidRequest(LiveWhisperError):
    """A request whose content the server cannot take.

    ``field`` is the form field at fault, if one is; ``reason`` names the problem for
    programs (``"invalid_value"``, ``"empty_file"``, ``"file_too_large"``, ``"timeout"``).

    Example: ``InvalidRequest("'a.txt' is not audio", field="file", reason="invalid_file")``.
    """

    def __init__(
        self, message: str, *, field: str | None = None, reason: str = "invalid_value"
    ) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class Busy(LiveWhisperError):
    """Every place is taken (transcription slots, connections): try again later."""


class ShuttingDown(LiveWhisperError):
    """The server is stopping and takes nothing new."""
