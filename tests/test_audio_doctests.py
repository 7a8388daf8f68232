"""The examples in the docstrings of the pure audio modules run and give what they show."""

from __future__ import annotations

import doctest
from pathlib import Path
from types import ModuleType

import pytest

from livewhisper.audio import decode, resample, ring

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module", [decode, resample, ring], ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # examples refer to examples/jfk.wav
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
