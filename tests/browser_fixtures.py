"""What the browser tests share: headless Chromium from Debian, launched by Playwright,
and the folder their screenshots go to (build/test-artifacts/ or $LIVEWHISPER_ARTIFACTS)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed: apt-get install chromium fonts-liberation",
)

# No sandbox (root in a container), no GPU, and nothing that reaches the network.
_QUIET = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
)


def launch_chromium(playwright: Any, *args: str) -> Any:
    """A headless Chromium with the quiet flags plus ``args``."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*_QUIET, *args]
    )


@pytest.fixture(name="artifacts")
def fixture_artifacts() -> Path:
    path = Path(os.environ.get("LIVEWHISPER_ARTIFACTS", REPO / "build" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
