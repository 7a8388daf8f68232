"""What the transcription API offers: models on this machine, their speed, languages.

:class:`ModelCatalog` lists the models a file may be transcribed with: those the server
was started with (loaded), then every other one this machine has (cached, or bundled in
an installed package and prepared on first use), each with its file size and, once a
file has been transcribed with it, the speed measured then (:attr:`JobRegistry.speeds
<livewhisper.server.jobs.JobRegistry.speeds>`). :func:`language_name` names Whisper's
languages as OpenAI's ``verbose_json`` reports them.

Example::

    catalog = ModelCatalog(pool, jobs.speeds)
    for entry in catalog.entries():
        print(entry.name, entry.size_bytes, entry.speed)
    name = catalog.find("whisper-1").name          # OpenAI's name: the server's default
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livewhisper.errors import ModelError, ModelNotFoundError, UnknownModelError
from livewhisper.languages import LANGUAGES
from livewhisper.models.names import ModelName
from livewhisper.models.resolve import list_models
from livewhisper.server.pool import ModelPool

__all__ = [
    "OPENAI_MODEL",
    "ModelCatalog",
    "ModelEntry",
    "language_name",
]

OPENAI_MODEL = "whisper-1"
"""The model name OpenAI clients send by default; it means the server's default model."""


def language_name(code: str) -> str:
    """The English name of a Whisper language code, as ``verbose_json`` gives it.

    Example::

        >>> language_name("es"), language_name("ht")
        ('spanish', 'haitian creole')
    """
    return LANGUAGES.get(code, code)


@dataclass(frozen=True)
class ModelEntry:
    """One model a file may be transcribed with.

    ``status`` is ``"loaded"`` (the server started with it), ``"cached"`` (ready on disk)
    or ``"bundled"`` (prepared from an installed package on first use, which takes a
    while). ``speed`` is seconds of audio transcribed per second, as measured on the last
    file transcribed with it (beside live sessions, whose decodes go first), None until
    one was.

    Example: ``ModelEntry("base-q8_0", 81768585, True, "cached", 8.3)``.
    """

    name: str
    size_bytes: int | None
    multilingual: bool
    status: str
    speed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry for ``/v1/info`` and ``/v1/models``."""
        return {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "multilingual": self.multilingual,
            "status": self.status,
            "speed": self.speed,
        }


def _canonical(name: str) -> str:
    """``"tiny.en"`` -> ``"tiny.en-f16"``; a path or other name stays as it is."""
    try:
        return str(ModelName.parse(name))
    except ModelError:
        return name


class ModelCatalog:
    """The models of :class:`ModelPool` and of this machine, for the file API.

    ``speeds`` maps model names (``"tiny.en-q8_0"``) to their measured speed; the
    catalog reads it at each call, so it may be a dict that others fill. The machine's
    models are listed afresh too, so a model pulled while the server runs shows up.

    Example::

        catalog = ModelCatalog(pool)
        entry = catalog.find("base")      # ModelNotFoundError if not on this machine
    """

    def __init__(self, pool: ModelPool, speeds: Mapping[str, float] | None = None) -> None:
        self.pool = pool
        self.speeds: Mapping[str, float] = speeds if speeds is not None else {}

    def entries(self) -> list[ModelEntry]:
        """The models offered: the served ones first (the default first of all)."""
        entries = []
        served = set()
        for name in self.pool.models:
            path = self.pool.engine(name).path  # a handle only: loads nothing
            canonical = _canonical(name)
            served.add(canonical)
            entries.append(
                ModelEntry(
                    name,
                    _size(path),
                    self.pool.multilingual(name),
                    "loaded",
                    self.speeds.get(name, self.speeds.get(canonical)),
                )
            )
        for status in list_models():
            if status.status == "download" or status.name in served:
                continue
            entries.append(
                ModelEntry(
                    status.name,
                    status.size_bytes,
                    ModelName.parse(status.name).multilingual,
                    status.status,
                    self.speeds.get(status.name),
                )
            )
        return entries

    def find(self, requested: str | None) -> ModelEntry:
        """The entry for a ``model`` field; None, ``""`` and ``whisper-1`` give the default.

        Raises :class:`~livewhisper.errors.UnknownModelError` for a name livewhisper does
        not know and :class:`~livewhisper.errors.ModelNotFoundError` for one not on this
        machine, each listing the ones that are.
        """
        entries = self.entries()
        name = (requested or "").strip()
        if not name or name == OPENAI_MODEL:
            return entries[0]
        wanted = _canonical(name)
        for entry in entries:
            if name == entry.name or wanted == _canonical(entry.name):
                return entry
        offered = ", ".join(entry.name for entry in entries)
        if wanted == name and not _is_known(name):
            raise UnknownModelError(f"unknown model {name!r}: this server offers {offered}")
        raise ModelNotFoundError(
            f"model {wanted} is not on this machine (`livewhisper models pull {wanted}` "
            f"gets it); this server offers {offered}"
        )


def _is_known(name: str) -> bool:
    try:
        ModelName.parse(name)
    except ModelError:
        return False
    return True


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
