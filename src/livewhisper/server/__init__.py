"""The live caption server: audio in from any client, captions out to everyone listening.

One port serves the caption page (``/``), audio sessions (``/v1/listen``), caption feeds
(``/v1/captions``), ``/v1/info`` and ``/healthz``; protocol 1 is described in
``docs/protocol.md``. The next port takes file uploads (``POST
/v1/audio/transcriptions``, OpenAI's transcription API). Needs the ``server`` extra
(websockets).

Modules: :mod:`~livewhisper.server.protocol` (messages and validation, no I/O),
:mod:`~livewhisper.server.pool` (the model workers sessions and file jobs share),
:mod:`~livewhisper.server.sessions` (per-connection logic), :mod:`~livewhisper.server.app`
(the websockets server and its HTTP routes), :mod:`~livewhisper.server.access` (Host,
Origin and token checks), :mod:`~livewhisper.server.uploads` (multipart parsing and form
checks, no I/O), :mod:`~livewhisper.server.catalog` (models and languages offered),
:mod:`~livewhisper.server.jobs` (file jobs and their progress),
:mod:`~livewhisper.server.httpapi` (the upload port), ``static/`` (the page).

Example::

    from livewhisper.server import ServerConfig, ServerThread

    with ServerThread(ServerConfig(port=8765, mic=True)) as server:
        input(f"Captions at {server.url}; press Enter to stop.\\n")
"""

from livewhisper.server.app import MIC_SESSION, CaptionServer, ServerThread
from livewhisper.server.config import ServerConfig, is_loopback
from livewhisper.server.pool import ModelPool, PooledEngine, default_workers
from livewhisper.server.protocol import PROTOCOL_VERSION, ErrorCode, ProtocolError

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
