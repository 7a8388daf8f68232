"""A real X server (Xvfb) and a real text widget with the keyboard focus, for typing tests.

``x_display`` starts Xvfb once per module and gives its ``DISPLAY``; ``text_box`` opens a
Tk ``Text`` window there that holds the focus and writes what it contains to a file
after every change, so a test reads exactly what a user would see in the widget.
Import the fixtures as ``from x11_fixtures import fixture_text_box  # noqa: F401``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The widget's side: a Text window that takes the focus back if it ever loses it, and
# writes "F" (focused) or "-" then its content to OUT, atomically, on every change.
_TEXT_BOX = r"""
import os, sys, tkinter as tk
out = sys.argv[1]
root = tk.Tk()
root.title("livewhisper test box")
root.geometry("700x300+0+0")
text = tk.Text(root)
text.pack(fill="both", expand=True)
last = [None]
def dump():
    focused = root.focus_get() is text
    state = ("F" if focused else "-") + text.get("1.0", "end-1c")
    if state != last[0]:
        with open(out + ".tmp", "w", encoding="utf-8") as file:
            file.write(state)
        os.replace(out + ".tmp", out)
        last[0] = state
    if not focused:
        root.focus_force()
        text.focus_set()
    root.after(30, dump)
root.after(50, dump)
root.mainloop()
"""


def need(*tools: str) -> None:
    """Fail (not skip: scripts/test.sh installs them) when a system tool is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} needed: apt-get install xvfb xdotool")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds (a
    bound against a hang, far above the time the condition takes)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate ``process`` and wait for it; kill it if it lingers."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module", name="x_display")
def fixture_x_display() -> Iterator[str]:
    """A fresh Xvfb server: its ``DISPLAY`` string (``":5"``)."""
    need("Xvfb", "xdotool")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        # Xvfb writes the display number once it accepts connections.
        ready, _, _ = select.select([read], [], [], 60)
        number = os.read(read, 64).decode().strip() if ready else ""
        if not number:
            pytest.fail(f"Xvfb did not start (exit status {server.poll()})")
        yield f":{number}"
    finally:
        os.close(read)
        stop_process(server)


@dataclass
class TextBox:
    """A focused Tk Text window on ``display``; :meth:`text` is what it holds."""

    display: str
    state_file: Path

    def _state(self) -> str:
        try:
            return self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    @property
    def focused(self) -> bool:
        return self._state().startswith("F")

    def text(self) -> str:
        return self._state()[1:]

    def wait_for_text(self, expected: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while self.text() != expected:
            if time.monotonic() > end:
                pytest.fail(f"the widget holds {self.text()!r}, not {expected!r}")
            time.sleep(0.05)

    def wait_still(self, quiet: float = 1.0, timeout: float = 60) -> str:
        """The text once it has not changed for ``quiet`` seconds."""
        last, since = self.text(), time.monotonic()

        def settled() -> bool:
            nonlocal last, since
            now = self.text()
            if now != last:
                last, since = now, time.monotonic()
            return time.monotonic() - since >= quiet

        wait_for(settled, timeout, "the widget to stop changing")
        return last

    def env(self) -> dict[str, str]:
        """The environment of a program that types into this window."""
        env = dict(os.environ, DISPLAY=self.display)
        env.pop("WAYLAND_DISPLAY", None)
        return env


@pytest.fixture(name="text_box")
def fixture_text_box(x_display: str, tmp_path: Path) -> Iterator[TextBox]:
    """A new, empty, focused text window for each test."""
    script = tmp_path / "text_box.py"
    script.write_text(_TEXT_BOX, encoding="utf-8")
    box = TextBox(x_display, tmp_path / "text_box.state")
    window = subprocess.Popen(
        [sys.executable, str(script), str(box.state_file)],
        env=box.env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: box.focused or window.poll() is not None, 60, "the window's focus")
        if window.poll() is not None:
            pytest.fail(f"the Tk window did not open: {window.communicate()[1].strip()}")
        # Without a window manager X gives the keys to the window under the pointer
        # unless a client set the focus; the pointer over the window settles both.
        subprocess.run(["xdotool", "mousemove", "200", "150"], env=box.env(), check=True)
        yield box
    finally:
        stop_process(window)
