"""Every example in a docstring runs and gives what it shows.

The modules are found, not listed: any module under src/livewhisper with a ``>>>``
example is collected, so a new one is never forgotten. A module whose optional
dependencies are not installed is skipped, naming what is missing.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import livewhisper

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(livewhisper.__file__).parent  # the package under test, wherever it is


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found() -> None:
    # Modules at the top, in subpackages, and those with optional dependencies alike.
    some = {
        "livewhisper.wer",
        "livewhisper.audio.ring",
        "livewhisper.finetune.data",
        "livewhisper.server.access",
    }
    assert some <= set(MODULES) and len(MODULES) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "livewhisper":
            raise
        pytest.skip(f"{name} needs {exc.name}, an optional dependency that is not installed")
    monkeypatch.chdir(REPO)  # examples may refer to files such as examples/jfk.wav
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
