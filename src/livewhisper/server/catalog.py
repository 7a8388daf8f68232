"""What the transcription API offers: the served models, their speed, languages.

:class:`ModelCatalog` lists the models the server was started with (``--model``) and
no other: a client cannot make the server load a model nobody chose to serve. Each
comes with its file size and the speed last measured on a file
(:attr:`JobRegistry.speeds <livewhisper.server.jobs.JobRegistry.speeds>`).

Example::

    catalog = ModelCatalog(pool, jobs.speeds)
    for entry in catalog.entries():
        print(entry.name, entry.size_bytes, entry.speed)
    name = catalog.find("whisper-1").name          # OpenAI's name: the server's default
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from livewhisper.errors import ModelError, UnknownModelError
from livewhisper.models.names import ModelName
from livewhisper.server.pool import ModelPool, not_served

__all__ = [
    "OPENAI_MODEL",
    "OPENAI_MODELS",
    "ModelCatalog",
    "ModelEntry",
    "served_name",
]

OPENAI_MODEL = "whisper-1"
"""The model name OpenAI clients send by default; it means the server's default model."""

OPENAI_MODELS = (OPENAI_MODEL, "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
"""OpenAI's transcription models: each an alias of the server's default model."""


def served_name(requested: str | None) -> str | None:
    """The model an OpenAI-style ``model`` field asks the pool for: None (the server's
    default) for nothing, ``""`` or one of :data:`OPENAI_MODELS`, else the name stripped.

    Example:
        >>> served_name("gpt-4o-transcribe") is None, served_name(" base-q8_0 ")
        (True, 'base-q8_0')
    """
    name = (requested or "").strip()
    return None if not name or name in OPENAI_MODELS else name


@dataclass(frozen=True)
class ModelEntry:
    """One model a file may be transcribed with.

    ``status`` is ``"loaded"``: the server started with it (the only models served).
    ``speed`` is seconds of audio transcribed per second, as measured on the last
    file transcribed with it (beside live sessions, whose decodes go first), None until
    one was.

    Example: ``ModelEntry("base-q8_0", 81768585, True, "loaded", 8.3)``.
    """

    name: str
    size_bytes: int | None
    multilingual: bool
    status: str
    speed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry for ``/v1/info`` and ``/v1/models``."""
        return asdict(self)


def _canonical(name: str) -> str:
    """``"tiny.en"`` -> ``"tiny.en-f16"``; a path or other name stays as it is."""
    try:
        return str(ModelName.parse(name))
    except ModelError:
        return name


class ModelCatalog:
    """The models of :class:`ModelPool`, for the file API: the served ones only.

    ``speeds`` maps model names (``"tiny.en-q8_0"``) to their measured speed; the
    catalog reads it at each call, so it may be a dict that others fill.

    Example::

        catalog = ModelCatalog(pool)
        entry = catalog.find("base")      # UnknownModelError unless the server serves it
    """

    def __init__(self, pool: ModelPool, speeds: Mapping[str, float] | None = None) -> None:
        self.pool = pool
        self.speeds: Mapping[str, float] = speeds if speeds is not None else {}

    def entries(self) -> list[ModelEntry]:
        """The models offered: the served ones, the default first."""
        entries = []
        for name in self.pool.models:
            path = self.pool.engine(name).path  # a handle only: loads nothing
            size = path.stat().st_size if path.is_file() else None
            speed = self.speeds.get(name, self.speeds.get(_canonical(name)))
            entries.append(ModelEntry(name, size, self.pool.multilingual(name), "loaded", speed))
        return entries

    def find(self, requested: str | None) -> ModelEntry:
        """The entry for a ``model`` field; None, ``""`` and :data:`OPENAI_MODELS` give the
        default.

        Raises :class:`~livewhisper.errors.UnknownModelError` for any model the server
        does not serve (installed on this machine or not), listing the ones it does.
        """
        entries = self.entries()
        name = served_name(requested)
        if name is None:
            return entries[0]
        wanted = _canonical(name)
        for entry in entries:
            if name == entry.name or wanted == _canonical(entry.name):
                return entry
        served = [entry.name for entry in entries]
        raise UnknownModelError(not_served(name, served, OPENAI_MODELS))
