"""Every Python block of the README and every script in examples/ runs as written.

A README block runs from the repository's root in a fresh interpreter, unless the line
before it is ``<!-- readme-test: skip (the reason) -->`` (a microphone, a desktop): the
convention the README states. Each example runs with no argument, on the files beside it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, deadline

README = REPO / "README.md"
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
_SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->")


def _blocks() -> list[tuple[int, str, str | None]]:
    """(line, code, reason to skip or None) for each ```python block."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        skip = _SKIP.search(match.group("before"))
        found.append((line, match.group("code"), skip.group("why") if skip else None))
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=deadline(600),
        check=False,
    )


def test_the_readme_has_blocks_to_run_and_says_why_others_are_skipped() -> None:
    blocks = _blocks()
    assert len([b for b in blocks if b[2] is None]) >= 2
    text = README.read_text(encoding="utf-8")
    assert text.count("readme-test: skip") == len([b for b in blocks if b[2] is not None])


@pytest.mark.slow
@pytest.mark.parametrize(("line", "code", "skip"), _blocks(), ids=lambda v: str(v)[:12])
def test_readme_block_runs(model_cache: Path, line: int, code: str, skip: str | None) -> None:
    if skip is not None:
        pytest.skip(f"README line {line}: {skip}")
    result = _run(["-c", code])
    assert result.returncode == 0, f"README line {line}:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    assert result.stdout.strip(), f"README line {line} printed nothing"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_with_its_defaults(model_cache: Path, script: Path) -> None:
    result = _run([str(script)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stdout.strip()


def test_an_example_without_its_file_says_so_in_a_line(model_cache: Path) -> None:
    result = _run([str(REPO / "examples" / "transcribe_spanish.py"), "missing.ogg"])
    assert result.returncode == 1 and "not found" in result.stderr
    assert "Traceback" not in result.stderr
