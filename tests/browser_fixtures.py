"""What the browser tests share: headless Chromium from Debian, launched by Playwright, a
page that records what it logs, the caption server it opens, and the folder their
screenshots go to (build/test-artifacts/ or $LIVEWHISPER_ARTIFACTS).

A test module imports ``fixture_server_pool`` (server_fixtures.py) beside the fixtures here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, deadline
from server_fixtures import running_server

from livewhisper.server import ModelPool, ServerThread

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


@contextmanager
def open_page(*args: str, width: int = 1280, height: int = 720) -> Iterator[tuple[Any, list[str]]]:
    """A page of a headless Chromium (launched with ``args``) that accepts downloads, and
    the list its console messages and uncaught errors go to; Playwright's own waits get
    ``deadline(30)``. ``page.context`` opens more tabs. The browser closes at the end."""
    from playwright.sync_api import sync_playwright  # CI: pip install playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *args)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, accept_downloads=True
            )
            context.set_default_timeout(deadline(30_000))
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.on("pageerror", lambda error: console.append(f"page error: {error}"))
            yield page, console
        finally:
            browser.close()


def errors(console: list[str]) -> list[str]:
    """The lines of a page's ``console`` that report an error."""
    return [line for line in console if "error" in line.lower()]


@pytest.fixture(name="server")
def fixture_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    """A caption server for one page and a follower tab (two sessions)."""
    with running_server(server_pool, max_sessions=2) as server:
        yield server


@pytest.fixture(name="artifacts")
def fixture_artifacts() -> Path:
    path = Path(os.environ.get("LIVEWHISPER_ARTIFACTS", REPO / "build" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
