"""Lazy imports of the ``finetune`` extra (PyTorch, transformers) and of ``datasets``.

livewhisper itself never needs them: they are imported the first time fine-tuning code
runs, and a missing one becomes a :class:`~livewhisper.errors.DependencyError` that
names the command that installs it.

Example::

    torch = require_torch()          # DependencyError if the extra is not installed
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from livewhisper.errors import DependencyError

EXTRA_HINT = 'pip install "livewhisper[finetune]"'
"""The command that installs what fine-tuning needs."""

DEFAULT_THREADS = 2
"""PyTorch threads unless ``LIVEWHISPER_TORCH_THREADS`` says otherwise: a laptop's
fine-tuning shares its cores with everything else, and 2 threads keep it responsive."""

_configured = False


def _import(name: str, hint: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DependencyError(
            f"fine-tuning needs the Python package {name!r}, which is not installed "
            f"({exc}); install it with: {hint}"
        ) from exc


def require_torch() -> ModuleType:
    """The ``torch`` module, set to a bounded number of CPU threads on first use."""
    global _configured
    torch = _import("torch", EXTRA_HINT)
    if not _configured:
        threads = int(os.environ.get("LIVEWHISPER_TORCH_THREADS", DEFAULT_THREADS))
        torch.set_num_threads(max(1, threads))
        _configured = True
    return torch


def require_transformers() -> ModuleType:
    """The ``transformers`` module (and torch, which it needs), offline-safe.

    No model hub is contacted: every object is built from local files.
    """
    require_torch()
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    return _import("transformers", EXTRA_HINT)


def require_datasets() -> ModuleType:
    """The Hugging Face ``datasets`` module, needed only for ``--hub-dataset``."""
    return _import("datasets", 'pip install "datasets>=3"')
