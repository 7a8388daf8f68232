"""TypeSink and the keystroke tools without a desktop: threads, queues, errors, choice."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

import livewhisper.keyboard as keyboard_module
from livewhisper.commands import Backspace, EditAction, Pause, TypeText
from livewhisper.errors import DependencyError, DeviceError
from livewhisper.events import Final
from livewhisper.keyboard import (
    Keyboard,
    TypeSink,
    Wtype,
    Xdotool,
    XTest,
    Ydotool,
    _split_capitals,
    find_keyboard,
)


class FakeKeyboard(Keyboard):
    """Records keystrokes; each waits for ``go`` (set by default)."""

    name = "fake"

    def __init__(self) -> None:
        self.edits: list[EditAction] = []
        self.go = threading.Event()
        self.go.set()
        self.started = threading.Event()
        self.released = 0
        self.fail_on: str | None = None

    def type_text(self, text: str) -> None:
        self.started.set()
        assert self.go.wait(60), "the test never let the keyboard go"
        if text.strip() == self.fail_on:
            raise DeviceError("the display went away")
        self.edits.append(TypeText(text))

    def backspace(self, count: int) -> None:
        self.edits.append(Backspace(count))

    def release_modifiers(self) -> None:
        self.released += 1


def test_a_slow_keyboard_never_blocks_the_caller() -> None:
    keyboard = FakeKeyboard()
    keyboard.go.clear()
    sink = TypeSink(keyboard).start()
    sink(Final("One.", 0, 1))
    assert keyboard.started.wait(60)
    # The keyboard is stuck in a keystroke; the audio side still hands finals over.
    done = threading.Event()

    def more() -> None:
        for i in range(2, 50):
            sink(Final(f"Word {i}.", i, i + 0.5))
        done.set()

    threading.Thread(target=more, name="test-finals").start()
    assert done.wait(60)
    assert keyboard.edits == []
    keyboard.go.set()
    assert sink.close(60)
    assert len(keyboard.edits) == 49 and keyboard.released == 1


def test_a_full_queue_drops_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    keyboard = FakeKeyboard()
    keyboard.go.clear()
    sink = TypeSink(keyboard, max_pending=2).start()
    sink(Final("Held.", 0, 1))
    assert keyboard.started.wait(60)
    with caplog.at_level(logging.WARNING, logger="livewhisper"):
        for i in range(3):
            sink(Final(f"Queued {i}.", i + 1, i + 1.5))
    assert "dropped 'Queued 2.'" in caplog.text
    keyboard.go.set()
    assert sink.close(60)
    assert sink.text == "Held. Queued 0. Queued 1."


def test_each_final_is_typed_once() -> None:
    keyboard = FakeKeyboard()
    with TypeSink(keyboard) as sink:
        final = Final("Only once.", 1.0, 2.0)
        sink(final)
        sink(final)
        sink(Final("Only once.", 3.0, 4.0))  # said again later: typed again
    assert keyboard.edits == [TypeText("Only once."), TypeText(" Only once.")]


def test_close_without_draining_drops_the_queue() -> None:
    keyboard = FakeKeyboard()
    keyboard.go.clear()
    sink = TypeSink(keyboard).start()
    sink(Final("First.", 0, 1))
    assert keyboard.started.wait(60)
    sink(Final("Never typed.", 1, 2))
    closing = threading.Thread(target=lambda: sink.close(60, drain=False), name="test-close")
    closing.start()
    keyboard.go.set()
    closing.join(60)
    assert not closing.is_alive()
    assert keyboard.edits == [TypeText("First.")] and keyboard.released == 1


def test_a_keyboard_error_stops_typing_and_is_reported() -> None:
    keyboard = FakeKeyboard()
    keyboard.fail_on = "Two."
    errors: list[BaseException] = []
    actions: list[EditAction] = []
    with TypeSink(keyboard, on_error=errors.append, on_action=actions.append) as sink:
        for i, text in enumerate(["One.", "Two.", "Three.", "Stop listening."]):
            sink(Final(text, i, i + 0.5))
    assert keyboard.edits == [TypeText("One.")]
    assert [str(e) for e in errors] == ["the display went away"]
    assert isinstance(sink.error, DeviceError)
    assert actions == [TypeText("One.")]


def test_switched_off_finals_are_never_typed() -> None:
    keyboard = FakeKeyboard()
    with TypeSink(keyboard) as sink:
        sink(Final("One.", 0, 1))
        assert sink.switch() is False and not sink.on
        sink(Final("Two.", 1, 2))
        assert sink.switch() is True and sink.on
        sink(Final("Three.", 2, 3))
        assert sink.switch(True) is True
    assert sink.text == "One. Three."


def test_pauses_reach_on_action() -> None:
    actions: list[EditAction] = []
    with TypeSink(FakeKeyboard(), on_action=actions.append) as sink:
        sink(Final("Hello. Stop listening.", 0, 1))
    assert actions == [TypeText("Hello."), Pause()] and sink.paused


def test_commands_follow_each_finals_language_unless_one_is_set() -> None:
    keyboard = FakeKeyboard()
    with TypeSink(keyboard, language=None) as sink:
        sink(Final("Hola coma amigo", 0, 1, language="es"))
        sink(Final("and comma you", 1, 2, language="en"))
    assert sink.text == "Hola, amigo and, you"
    with TypeSink(FakeKeyboard(), language="en") as sink:
        sink(Final("Hola coma amigo", 0, 1, language="es"))
    assert sink.text == "Hola coma amigo"


def test_capitals_outside_ascii_are_split_out() -> None:
    assert _split_capitals("ÁBC ñ Ñ") == [("Á", "BC ñ "), ("Ñ", "")]
    assert _split_capitals("plain") == [("", "plain")]
    assert _split_capitals("") == []


def _tools(tmp_path: Path, *names: str) -> str:
    """A PATH holding only fake tools of these names."""
    for name in names:
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    return str(tmp_path)


def test_find_keyboard_by_desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _tools(tmp_path, "xdotool", "wtype", "ydotool"))
    assert isinstance(find_keyboard(environ={"DISPLAY": ":0"}), XTest)  # nothing opened yet
    monkeypatch.setattr(keyboard_module, "_has_xlib", lambda: False)
    assert isinstance(find_keyboard(environ={"DISPLAY": ":0"}), Xdotool)
    assert isinstance(find_keyboard(environ={"WAYLAND_DISPLAY": "wayland-0"}), Wtype)
    both = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert isinstance(find_keyboard(environ=both), Wtype)
    assert isinstance(find_keyboard("ydotool", environ={}), Ydotool)
    (tmp_path / "wtype").unlink()
    assert isinstance(find_keyboard(environ={"WAYLAND_DISPLAY": "w"}), Ydotool)


def test_find_keyboard_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _tools(tmp_path))
    monkeypatch.setattr(keyboard_module, "_has_xlib", lambda: False)
    with pytest.raises(DeviceError, match="no desktop to type into"):
        find_keyboard(environ={})
    with pytest.raises(DependencyError, match=r"pip install python-xlib\) or xdotool"):
        find_keyboard(environ={"DISPLAY": ":0"})
    with pytest.raises(DependencyError, match="xtest needs python-xlib"):
        find_keyboard("xtest")
    with pytest.raises(DependencyError, match="wtype .* or ydotool"):
        find_keyboard(environ={"WAYLAND_DISPLAY": "wayland-0"})
    with pytest.raises(DependencyError, match="ydotool is not installed: apt-get install ydotool"):
        find_keyboard("ydotool")
    with pytest.raises(DeviceError, match="unknown keyboard 'xte'"):
        find_keyboard("xte")


def test_a_named_keyboard_needs_its_desktop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused before any audio is decoded, in one line, not after the first final.
    monkeypatch.setenv("PATH", _tools(tmp_path, "xdotool", "wtype", "ydotool"))
    with pytest.raises(DeviceError, match="wtype types into a desktop, but WAYLAND_DISPLAY"):
        find_keyboard("wtype", environ={"DISPLAY": ":0"})
    with pytest.raises(DeviceError, match="xdotool types into a desktop, but DISPLAY"):
        find_keyboard("xdotool", environ={"WAYLAND_DISPLAY": "w"})
    assert isinstance(find_keyboard("wtype", environ={"WAYLAND_DISPLAY": "w"}), Wtype)
    assert isinstance(find_keyboard("ydotool", environ={}), Ydotool)  # no display needed


def test_a_failing_tool_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "wtype"
    tool.write_text(
        "#!/bin/sh\necho 'Compositor does not support the virtual keyboard' >&2\n"
        "echo 'protocol' >&2\nexit 1\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError) as error:
        Wtype().type_text("hello")
    assert str(error.value) == (
        "wtype could not type: Compositor does not support the virtual keyboard protocol"
    )


def test_a_hold_keeps_finals_queued_until_let_go() -> None:
    keyboard = FakeKeyboard()
    sink = TypeSink(keyboard).start()
    sink.hold()  # a grabbed hotkey is down: keystrokes now would go to the grab
    sink(Final("One.", 0, 1))
    assert not keyboard.started.wait(0.3) and sink.held
    sink.hold(False)
    assert keyboard.started.wait(60)
    sink.hold()
    assert sink.close(60)  # closing lets go of a hold and types what is queued
    assert keyboard.edits == [TypeText("One.")]


def test_hotkey_combinations_are_parsed_and_refused_in_one_line() -> None:
    from livewhisper.errors import ConfigError
    from livewhisper.hotkey import KeyCombo, parse_combo

    assert parse_combo("Ctrl+Alt+d") == KeyCombo("d", frozenset({"ctrl", "alt"}))
    assert parse_combo("win+space") == KeyCombo("space", frozenset({"super"}))
    assert str(parse_combo("shift+control+pause")) == "ctrl+shift+Pause"
    for bad, said in [("", "joined by"), ("ctrl++d", "joined by"), ("meta+d", "'meta'")]:
        with pytest.raises(ConfigError, match=said):
            parse_combo(bad)
    with pytest.raises(ConfigError, match="no key is called 'F99'"):
        parse_combo("F99")
