"""Typing on Wayland: wtype into a foot terminal under a headless Sway, the library and
``livewhisper type`` (which picks wtype by itself when WAYLAND_DISPLAY is set)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EN, reference
from wayland_fixtures import WaylandBox, fixture_wayland_box  # noqa: F401

from livewhisper.commands import SpokenCommands
from livewhisper.errors import DeviceError
from livewhisper.events import Final
from livewhisper.keyboard import TypeSink, Wtype, find_keyboard
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.models.resolve import resolve
from livewhisper.wer import word_error_rate

CLI = [sys.executable, "-m", "livewhisper.cli.main"]


def test_wtype_without_a_compositor_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("wtype") is None:
        pytest.skip("wtype is not installed (apt-get install wtype)")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no compositor's socket here
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-gone")
    with pytest.raises(DeviceError, match="wtype could not type: Wayland connection failed"):
        Wtype().type_text("x")


@pytest.mark.slow
def test_typing_into_a_wayland_terminal(
    wayland_box: WaylandBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in wayland_box.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert isinstance(find_keyboard(), Wtype)
    with TypeSink(language="es") as sink:
        sink(Final("Abre interrogación, qué tal, Ángel signo de interrogación.", 0.0, 2.0))
        sink(Final("Ñandú, coma, pingüino punto", 2.5, 4.0))
        sink(Final("Borra eso.", 4.5, 5.0))
        sink(Final("Nueva línea. Él dijo adiós punto", 5.5, 6.5))
    assert sink.error is None
    typed = "¿Qué tal, Ángel?\nÉl dijo adiós."
    assert sink.text == typed
    wayland_box.wait_for_text(typed)
    # The command, from speech: wtype is found without --keyboard.
    resolve(DEFAULT_MODEL, progress=False)
    args = ["type", "--input", str(EN / "ps_0930.wav"), "--speed", "2", "--join", "line"]
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=wayland_box.env(), timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "typing with wtype" in result.stderr
    editor = SpokenCommands("en", join="\n")
    for final in result.stdout.splitlines():
        editor.apply(final)
    wayland_box.wait_for_text(typed + editor.text)
    assert word_error_rate(reference("ps_0930"), editor.text) < 0.35, editor.text
