"""Turn a model name or path into a ready, validated whisper.cpp file.

Resolution order: an existing file path; the user cache; an installed bundled weight
package, converted (and quantized) on first use and cached; a download of the official
file from the model hub; otherwise :class:`ModelNotFoundError` naming the command that
would provide the model.

Example::

    path = resolve("tiny.en-q8_0")   # ~/.cache/livewhisper/ggml-tiny.en-q8_0.bin
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from livewhisper.errors import ModelDownloadError, ModelFormatError, ModelNotFoundError
from livewhisper.models.bundled import find_bundled, install_hint
from livewhisper.models.cache import cache_dir, file_lock
from livewhisper.models.convert import convert_ct2
from livewhisper.models.ggml import read_ggml
from livewhisper.models.hub import download_model
from livewhisper.models.names import DEFAULT_MODEL, PRECISIONS, SIZES, ModelName

FINETUNED_MANIFEST = "livewhisper.json"
"""The file that makes a directory a model: it names the whisper.cpp file to load
(``livewhisper finetune`` writes one beside its exported files)."""


def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or text.endswith(".bin")
        or text.startswith(".")
        or os.path.isfile(os.path.join(text, FINETUNED_MANIFEST))
    )


def _model_in_dir(directory: Path) -> Path:
    """The whisper.cpp file that ``directory/livewhisper.json`` names."""
    manifest = directory / FINETUNED_MANIFEST
    if not manifest.is_file():
        raise ModelFormatError(
            f"{directory} is a directory without {FINETUNED_MANIFEST}; for a CTranslate2 model "
            f"run `livewhisper models convert {directory} OUT.bin`, then pass OUT.bin"
        )
    try:
        name = json.loads(manifest.read_text(encoding="utf-8"))["model"]
        return directory / Path(str(name)).name
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{manifest} does not name a model file: {exc}") from exc


def model_terms(path: Path) -> tuple[str, ...]:
    """The terms recorded for the whisper.cpp file at ``path`` (the ``terms`` of the
    ``livewhisper.json`` beside it that names it; see :mod:`livewhisper.finetune.terms`),
    or () for a model without any. Raises :class:`ModelFormatError` for a manifest whose
    ``terms`` is not a list of strings.

    Example: ``model_terms(resolve("my-model"))`` is ``("Siobhan Okonkwo", "Zyntrix")``
    for a model fine-tuned on sentences with those names.
    """
    manifest = path.parent / FINETUNED_MANIFEST
    if not manifest.is_file():
        return ()
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{manifest} is not readable JSON: {exc}") from exc
    if not isinstance(info, dict) or Path(str(info.get("model", ""))).name != path.name:
        return ()
    terms = info.get("terms", [])
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ModelFormatError(f"{manifest}: 'terms' must be a list of strings")
    return tuple(t for t in terms if t.strip())


def resolve(
    model: str | Path = DEFAULT_MODEL, *, download: bool = True, progress: bool = True
) -> Path:
    """The path of a validated whisper.cpp file for ``model`` (a name or a file path)."""
    if isinstance(model, Path) or _looks_like_path(model):
        path = Path(model).expanduser()
        if path.is_dir():
            path = _model_in_dir(path)
        if not path.is_file():
            raise ModelNotFoundError(f"no model file at {path}")
        read_ggml(path)
        return path
    name = ModelName.parse(model)
    target = cache_dir() / name.filename
    with file_lock(target):
        if target.is_file():
            try:
                read_ggml(target)
                return target
            except ModelFormatError:
                target.unlink()  # a damaged cache entry: prepare it again
        bundled = find_bundled(name.size)
        if bundled is not None:
            return convert_ct2(bundled, target, name.precision, progress=progress)
        if download:
            try:
                return download_model(name, target, progress=progress)
            except ModelDownloadError as exc:
                raise ModelNotFoundError(_not_found(name, str(exc))) from exc
    raise ModelNotFoundError(_not_found(name, "downloads are disabled"))


def _not_found(name: ModelName, why: str) -> str:
    hint = install_hint(name.size)
    ways = [f"`{hint}`"] if hint else []
    ways.append(f"`livewhisper models pull {name}` on a machine online")
    return f"model {name} is not available here ({why}); get it with " + " or ".join(ways)


@dataclass(frozen=True)
class ModelStatus:
    """Where a model stands on this machine: ``cached``, ``bundled`` or ``download``."""

    name: str
    status: str
    path: Path | None
    size_bytes: int | None


def list_models() -> list[ModelStatus]:
    """Every known model with its status here, cached and bundled ones first."""
    rows = []
    for size in SIZES:
        bundled = find_bundled(size) is not None
        for precision in PRECISIONS:
            name = ModelName(size, precision)
            path = cache_dir() / name.filename
            if path.is_file():
                rows.append(ModelStatus(str(name), "cached", path, path.stat().st_size))
            else:
                rows.append(
                    ModelStatus(str(name), "bundled" if bundled else "download", None, None)
                )
    order = {"cached": 0, "bundled": 1, "download": 2}
    return sorted(rows, key=lambda r: order[r.status])
