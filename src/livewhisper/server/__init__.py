"""The caption server: audio in from any client, captions out to everyone listening.

One port serves the caption page (``/``), audio sessions (``/v1/listen``), caption feeds
(``/v1/captions``), ``/v1/info``, ``/healthz`` and OpenAI's transcription API
(``/v1/models``, ``POST /v1/audio/transcriptions`` and ``/translations``); protocol 1
and the API are described in ``docs/protocol.md``. Needs the ``server`` extra
(Starlette, uvicorn, python-multipart, websockets).

Modules: ``app`` (life cycle), ``web`` (routes; domain errors to HTTP), ``access``
(Host, Origin, token), ``sessions`` (per connection), ``pool`` (model workers),
``jobs``, ``uploads``, ``catalog`` and ``errors`` (the file API), ``static/`` (the page).

Example::

    from livewhisper.server import ServerConfig, ServerThread

    with ServerThread(ServerConfig(port=8765, mic=True)) as server:
        input(f"Captions at {server.url}; press Enter to stop.\\n")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livewhisper.protocol import PROTOCOL_VERSION, ErrorCode, ProtocolError
    from livewhisper.server.app import MIC_SESSION, CaptionServer, ServerThread
    from livewhisper.server.config import ServerConfig, is_loopback
    from livewhisper.server.pool import ModelPool, PooledEngine, default_workers

# Loaded on first use: ``ServerConfig`` alone needs neither uvicorn nor Starlette.
_HOMES = {
    "MIC_SESSION": "app",
    "CaptionServer": "app",
    "ServerThread": "app",
    "ServerConfig": "config",
    "is_loopback": "config",
    "ModelPool": "pool",
    "PooledEngine": "pool",
    "default_workers": "pool",
    "PROTOCOL_VERSION": "livewhisper.protocol",
    "ErrorCode": "livewhisper.protocol",
    "ProtocolError": "livewhisper.protocol",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'livewhisper.server' has no attribute {name!r}")
    module = home if "." in home else f"livewhisper.server.{home}"
    return getattr(importlib.import_module(module), name)


__all__ = [
    "MIC_SESSION",
    "PROTOCOL_VERSION",
    "CaptionServer",
    "ErrorCode",
    "ModelPool",
    "PooledEngine",
    "ProtocolError",
    "ServerConfig",
    "ServerThread",
    "default_workers",
    "is_loopback",
]
