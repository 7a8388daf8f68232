"""A headless Wayland desktop (Sway) with a terminal (foot) holding the keyboard focus.

``wayland_box`` starts Sway on its headless backend with one window: foot running a
small reader that applies what it receives (Return, BackSpace, UTF-8 text) and writes
the text to a file after every key, so a test reads what the terminal was typed. Sway
refuses to run as root: as root, it runs as ``nobody``. Import it as
``from wayland_fixtures import fixture_wayland_box  # noqa: F401``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import deadline
from x11_fixtures import TextBox, stop_process

# The terminal's side: raw input, applied as an editor would, saved atomically.
_READER = r"""
import codecs, os, sys, tty
out = sys.argv[1]
tty.setraw(0)
decoder, text = codecs.getincrementaldecoder("utf-8")(), ""
open(out + ".ready", "w").close()
while chunk := os.read(0, 1024):
    for char in decoder.decode(chunk):
        if char in "\x7f\b":
            text = text[:-1]
        else:
            text += "\n" if char == "\r" else char
    with open(out + ".tmp", "w", encoding="utf-8") as file:
        file.write("F" + text)  # "F": focused, as the X text box says
    os.replace(out + ".tmp", out)
"""


class WaylandBox(TextBox):
    """A focused terminal on the Wayland display ``display`` (its socket's path);
    :meth:`text` is what it was typed."""

    def env(self) -> dict[str, str]:
        """The environment of a program that types into this terminal (Wayland only)."""
        env = dict(os.environ, WAYLAND_DISPLAY=self.display)
        env.pop("DISPLAY", None)
        return env


@pytest.fixture(scope="module", name="wayland_box")
def fixture_wayland_box() -> Iterator[WaylandBox]:
    """Sway (headless) with one foot terminal that has the focus."""
    missing = [tool for tool in ("sway", "foot", "wtype") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} needed: apt-get install sway foot wtype")
    # Not under pytest's own temporary folder, which "nobody" may not enter.
    home = Path(tempfile.mkdtemp(prefix="livewhisper-wayland-"))
    try:
        yield from _run_sway(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# The reader runs as "nobody", who may not reach a virtualenv inside the checkout.
_SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


def _run_sway(home: Path) -> Iterator[WaylandBox]:
    run, out = home / "run", home / "out"
    run.mkdir(mode=0o700)
    out.mkdir()
    (home / "reader.py").write_text(_READER, encoding="utf-8")
    state = out / "typed"
    (home / "sway.cfg").write_text(
        "output HEADLESS-1 resolution 800x600\n"
        "xwayland disable\n"
        f"exec foot {_SYSTEM_PYTHON} {home / 'reader.py'} {state}\n",
        encoding="utf-8",
    )
    prefix: list[str] = []
    if os.geteuid() == 0:  # "Unable to drop root": Sway will not run as root
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        for path in (home, run, out):
            shutil.chown(path, "nobody", "nogroup")
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(run))
    env.update(WLR_BACKENDS="headless", WLR_LIBINPUT_NO_DEVICES="1", WLR_RENDERER="pixman")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    log = (home / "sway.log").open("w")
    sway = subprocess.Popen(
        [*prefix, "sway", "-c", str(home / "sway.cfg")],
        env=env,
        stdout=log,
        stderr=log,
        cwd=home,  # "nobody" may not enter the checkout (CI clones into a 0700 folder)
    )
    try:
        end = time.monotonic() + deadline(60)
        while not (out / "typed.ready").exists():
            if sway.poll() is not None or time.monotonic() > end:
                pytest.fail(f"Sway and foot did not start: {(home / 'sway.log').read_text()}")
            time.sleep(0.05)
        socket = next(p for p in run.iterdir() if p.name.startswith("wayland-") and p.is_socket())
        yield WaylandBox(str(socket), state)
    finally:
        stop_process(sway)
        log.close()
