"""Typing finals into the focused window, as keystrokes.

:class:`TypeSink` takes :class:`~livewhisper.events.Final` events (it is an ``on_final``
callback), turns their text into edits with :class:`~livewhisper.commands.SpokenCommands`
and types them on its own thread, so a slow keyboard never holds up the audio. A
:class:`Keyboard` does the keystrokes through a system tool:

* X11: the XTEST extension through python-xlib (``pip install python-xlib``), else
  ``xdotool`` (``apt-get install xdotool``);
* Wayland: ``wtype`` (wlroots compositors: Sway, Hyprland...) or ``ydotool`` (any
  compositor, through the kernel's uinput; its ``ydotoold`` daemon must be running).

Every tool runs in its own session, so the Ctrl-C that stops a dictation never cuts one
in the middle of a keystroke (XTEST keys are sent by the typing thread, which Ctrl-C
does not interrupt), and :meth:`TypeSink.close` releases the modifiers last.

Example::

    import livewhisper
    from livewhisper.keyboard import TypeSink

    with TypeSink(language="en") as sink:  # XTEST, xdotool, wtype or ydotool, found
        with livewhisper.Dictation(language="en", on_final=sink):
            input("Speak into any window; Enter here to stop.\\n")
"""

from __future__ import annotations

import abc
import importlib.util
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from livewhisper.commands import Backspace, EditAction, Pause, Resume, SpokenCommands, TypeText
from livewhisper.errors import DependencyError, DeviceError
from livewhisper.events import Final

__all__ = [
    "KEYBOARDS",
    "Keyboard",
    "PrintKeyboard",
    "TypeSink",
    "Wtype",
    "XTest",
    "Xdotool",
    "Ydotool",
    "describe",
    "find_keyboard",
]

logger = logging.getLogger(__name__)

# Keystroke pacing: X11 applications drop keys sent faster than they read them.
_KEY_DELAY_MS = 8
_BACKSPACES_PER_CALL = 100
_MODIFIER_WAIT = 10.0  # the longest typing waits for a held Ctrl, Alt... to be let go
_POLL = 0.25


class Keyboard(abc.ABC):
    """Keystrokes into the focused window.

    Example::

        keyboard = find_keyboard()       # Xdotool() on an X11 desktop
        keyboard.type_text("¿Qué tal?\\n")
        keyboard.backspace(2)
    """

    name = ""
    package = ""

    @abc.abstractmethod
    def type_text(self, text: str) -> None:
        """Type ``text`` (any Unicode, ``\\n`` as Return)."""

    @abc.abstractmethod
    def backspace(self, count: int) -> None:
        """Press BackSpace ``count`` times."""

    def release_modifiers(self) -> None:  # noqa: B027  (an optional hook)
        """Release Shift, Ctrl, Alt and Super, in case a keystroke was cut short."""

    def check(self) -> None:  # noqa: B027  (an optional hook)
        """Raise :class:`~livewhisper.errors.DeviceError` if no keystroke can be sent."""

    def interrupt(self) -> None:  # noqa: B027  (an optional hook)
        """Cut the text being typed short at the next key, where the tool allows it (a
        quit-now Ctrl-C); the keyboard types nothing more."""

    def close(self) -> None:  # noqa: B027  (an optional hook)
        """Free what the keyboard holds (an X connection...)."""

    def apply(self, action: EditAction) -> None:
        """Make one edit of :class:`~livewhisper.commands.SpokenCommands` (pauses are no
        keystrokes)."""
        if isinstance(action, TypeText):
            self.type_text(action.text)
        elif isinstance(action, Backspace):
            self.backspace(action.count)

    def _run(self, argv: Sequence[str], keys: int = 0) -> None:
        # A new session: the terminal's Ctrl-C goes to livewhisper, not to a tool that
        # has Shift down for a capital letter.
        timeout = 10.0 + keys * (_KEY_DELAY_MS / 1000 + 0.02)
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
                check=False,
            )
        except FileNotFoundError:
            raise DependencyError(
                f"{self.name} is not installed: apt-get install {self.package}"
            ) from None
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.name} did not finish typing in {timeout:.0f} s") from None
        if result.returncode != 0:
            detail = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
            raise DeviceError(f"{self.name} could not type: {detail}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Xdotool(Keyboard):
    """X11 keystrokes through ``xdotool`` (XTEST); characters missing from the keymap,
    such as ñ or ¿ on a US layout, are mapped to a spare key for the moment they are typed.
    """

    name = package = "xdotool"

    def type_text(self, text: str) -> None:
        # xdotool binds a character missing from the keymap to a spare key with one
        # keysym, which X reads as a lower/upper case pair: "Á" would arrive as "á".
        # Those capitals go as Shift plus their keysym instead.
        for capitals, rest in _split_capitals(text):
            if capitals:
                keys = [f"shift+U{ord(c):04X}" for c in capitals]
                self._run(["xdotool", "key", "--delay", str(_KEY_DELAY_MS), *keys], len(keys))
            if rest:
                self._run(["xdotool", "type", "--delay", str(_KEY_DELAY_MS), "--", rest], len(rest))

    def backspace(self, count: int) -> None:
        while count > 0:
            n = min(count, _BACKSPACES_PER_CALL)
            self._run(["xdotool", "key", "--delay", str(_KEY_DELAY_MS), *["BackSpace"] * n], n)
            count -= n

    def release_modifiers(self) -> None:
        keys = ["Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R"]
        self._run(["xdotool", "keyup", *keys, "Super_L", "Super_R", "ISO_Level3_Shift"])

    def check(self) -> None:
        self._run(["xdotool", "getmouselocation"])


class XTest(Keyboard):
    """X11 keystrokes through the XTEST extension, with python-xlib (``pip install
    python-xlib``; the ``type`` extra). The default on X11 when installed.

    A character missing from the keymap (ñ, ¿, Ω... on a US layout) is bound to a spare
    key code, both cases to the same symbol, and stays bound while this keyboard is open:
    xdotool unbinds it at once, and an application that reads the keymap after that
    loses the character (about one accented word in ten, in our tests). :meth:`close`
    gives the spare codes back.
    """

    name = "xtest"
    package = "python-xlib"

    def __init__(self, display: str | None = None) -> None:
        self.display_name = display
        self._display: Any = None
        self._where: dict[int, tuple[int, int]] = {}  # keysym -> (keycode, level)
        self._spare: list[int] = []  # free key codes, least recently bound first
        self._bound: dict[int, int] = {}  # keycode -> the keysym we bound to it
        self._width = 2
        self._modifiers: list[int] = []  # key codes of Shift, Ctrl, Alt, Super, AltGr
        self._interrupted = threading.Event()

    def _open(self) -> Any:
        if self._display is not None:
            return self._display
        try:
            from Xlib import display as xdisplay
            from Xlib.error import DisplayError
        except ImportError:
            raise DependencyError("python-xlib is not installed: pip install python-xlib") from None
        name = self.display_name or os.environ.get("DISPLAY", "")
        try:
            display = xdisplay.Display(self.display_name)
        except (DisplayError, OSError) as exc:
            raise DeviceError(f"cannot open the X display {name!r}: {exc}") from None
        if not display.has_extension("XTEST"):
            display.close()
            raise DeviceError(f"the X display {name!r} has no XTEST extension")
        self._display = display
        self._read_keymap()
        # Caps Lock and Num Lock (Lock, Mod2) are states, not keys held down.
        rows = display.get_modifier_mapping()
        self._modifiers = [
            code for i, row in enumerate(rows) if i not in (1, 4) for code in row if code
        ]
        return display

    def _read_keymap(self) -> None:
        info = self._display.display.info
        first, count = info.min_keycode, info.max_keycode - info.min_keycode + 1
        rows = self._display.get_keyboard_mapping(first, count)
        self._width = max(2, len(rows[0]) if rows else 2)
        self._where.clear()
        for offset, row in enumerate(rows):
            code = first + offset
            if not any(row):
                if code not in self._spare:
                    self._spare.append(code)
                continue
            for level in (1, 0):  # level 0 wins: no Shift when none is needed
                if level < len(row) and row[level]:
                    self._where[row[level]] = (code, level)

    def _keycode(self, keysym: int) -> tuple[int, int]:
        found = self._where.get(keysym)
        if found is not None:
            return found
        if not self._spare:
            raise DeviceError("no spare key code to type a character missing from the keymap")
        code = self._spare.pop(0)  # the least recently bound
        old = self._bound.pop(code, None)
        if old is not None:
            self._where.pop(old, None)
        self._display.change_keyboard_mapping(code, [(keysym,) * self._width])
        self._display.sync()
        self._bound[code] = keysym
        self._spare.append(code)
        self._where[keysym] = (code, 0)
        return code, 0

    def _press(self, keycode: int, shift: bool = False) -> None:
        from Xlib import XK, X
        from Xlib.ext import xtest

        display = self._display
        shift_code = display.keysym_to_keycode(XK.XK_Shift_L) if shift else 0
        if shift_code:
            xtest.fake_input(display, X.KeyPress, shift_code)
        xtest.fake_input(display, X.KeyPress, keycode)
        xtest.fake_input(display, X.KeyRelease, keycode)
        if shift_code:
            xtest.fake_input(display, X.KeyRelease, shift_code)
        display.sync()
        time.sleep(_KEY_DELAY_MS / 1000)  # applications drop keys sent faster

    def _wait_for_modifiers_up(self) -> None:
        """Wait while the user holds Ctrl, Alt, Shift, Super or AltGr (a hotkey just
        pressed): with one held, "s" would arrive as Ctrl+S. Bounded: a key that stays
        down (a stuck key) delays the typing, never stops it."""
        end = time.monotonic() + _MODIFIER_WAIT
        while time.monotonic() < end and not self._interrupted.is_set():
            keys = self._display.query_keymap()
            if not any(keys[code // 8] & (1 << (code % 8)) for code in self._modifiers):
                return
            time.sleep(0.02)
        logger.warning("a modifier key stayed down for %.0f s: typing anyway", _MODIFIER_WAIT)

    def type_text(self, text: str) -> None:
        self._open()
        self._wait_for_modifiers_up()
        for char in text:
            if self._interrupted.is_set():
                return
            code, level = self._keycode(_keysym(char))
            self._press(code, shift=level == 1)

    def backspace(self, count: int) -> None:
        from Xlib import XK

        self._open()
        self._wait_for_modifiers_up()
        code, _ = self._keycode(XK.XK_BackSpace)
        for _ in range(count):
            if self._interrupted.is_set():
                return
            self._press(code)

    def interrupt(self) -> None:
        self._interrupted.set()

    def release_modifiers(self) -> None:
        from Xlib import XK, X
        from Xlib.ext import xtest

        display = self._open()
        for name in ("Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R"):
            code = display.keysym_to_keycode(XK.string_to_keysym(name))
            if code:
                xtest.fake_input(display, X.KeyRelease, code)
        display.sync()

    def check(self) -> None:
        self._open()

    def close(self) -> None:
        """Give back the spare key codes and close the connection."""
        if self._display is None:
            return
        # The last keys may still be in an application's queue, to be read with the
        # keymap: give them a moment before their codes go.
        time.sleep(0.5)
        for code in self._bound:
            self._display.change_keyboard_mapping(code, [(0,) * self._width])
        self._bound.clear()
        self._display.close()
        self._display = None


def _keysym(char: str) -> int:
    """The X keysym that types ``char``: Latin-1 as itself, the rest as Unicode keysyms."""
    special = {"\n": 0xFF0D, "\r": 0xFF0D, "\t": 0xFF09, "\b": 0xFF08}
    if char in special:
        return special[char]
    point = ord(char)
    if 0x20 <= point <= 0x7E or 0xA0 <= point <= 0xFF:
        return point
    return 0x01000000 + point


def _split_capitals(text: str) -> list[tuple[str, str]]:
    """``text`` as (non-ASCII capitals, the rest) pairs, in order.

    Example:

        >>> _split_capitals("Él dijo ÁÉ, adiós")
        [('É', 'l dijo '), ('ÁÉ', ', adiós')]
    """
    pairs: list[tuple[str, str]] = []
    for char in text:
        capital = not char.isascii() and char.isupper() and char.lower() != char
        if not pairs or (capital and pairs[-1][1]):
            pairs.append(("", ""))
        capitals, rest = pairs[-1]
        pairs[-1] = (capitals + char, rest) if capital else (capitals, rest + char)
    return pairs


class Wtype(Keyboard):
    """Wayland keystrokes through ``wtype`` (compositors with the virtual-keyboard
    protocol: Sway, Hyprland, river...; not GNOME or KDE)."""

    name = package = "wtype"
    # wtype sends its keymap, then the keys at once: the application may read the first
    # key with the old keymap and lose it (5 times in 8 in our tests under Sway and foot).
    # A pause after the keymap keeps it.
    _SETTLE = ("-s", "50")

    def type_text(self, text: str) -> None:
        self._run(["wtype", *self._SETTLE, "-d", str(_KEY_DELAY_MS), "--", text], len(text))

    def backspace(self, count: int) -> None:
        while count > 0:
            n = min(count, _BACKSPACES_PER_CALL)
            self._run(["wtype", *self._SETTLE, *["-k", "BackSpace"] * n], n)
            count -= n

    def release_modifiers(self) -> None:
        self._run(["wtype", "-m", "shift", "-m", "ctrl", "-m", "alt", "-m", "logo"])


class Ydotool(Keyboard):
    """Keystrokes through ``ydotool`` and the kernel's uinput: any Wayland compositor (and
    X11), with the ``ydotoold`` daemon running and access to ``/dev/uinput``."""

    name = package = "ydotool"
    _BACKSPACE = ("14:1", "14:0")  # Linux input event codes: KEY_BACKSPACE
    _MODIFIERS = ("42:0", "54:0", "29:0", "97:0", "56:0", "100:0", "125:0", "126:0")

    def type_text(self, text: str) -> None:
        self._run(["ydotool", "type", "--", text], len(text))

    def backspace(self, count: int) -> None:
        while count > 0:
            n = min(count, _BACKSPACES_PER_CALL)
            self._run(["ydotool", "key", *self._BACKSPACE * n], n)
            count -= n

    def release_modifiers(self) -> None:
        self._run(["ydotool", "key", *self._MODIFIERS])


class PrintKeyboard(Keyboard):
    """No keystrokes: each edit written as a line to ``file`` (a dry run, or a test).

    Example:

        >>> import io
        >>> out = io.StringIO()
        >>> keyboard = PrintKeyboard(out)
        >>> keyboard.type_text("Hola\\n"); keyboard.backspace(3)
        >>> print(out.getvalue(), end="")
        type 'Hola\\n'
        backspace 3
    """

    name = "print"

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def type_text(self, text: str) -> None:
        print(f"type {text!r}", file=self.file, flush=True)

    def backspace(self, count: int) -> None:
        print(f"backspace {count}", file=self.file, flush=True)


KEYBOARDS: dict[str, type[Keyboard]] = {
    "xtest": XTest,
    "xdotool": Xdotool,
    "wtype": Wtype,
    "ydotool": Ydotool,
}
"""The keystroke tools by name, as ``--keyboard`` takes them."""


def find_keyboard(name: str = "auto", environ: dict[str, str] | None = None) -> Keyboard:
    """The keystroke tool for this desktop, or the one named.

    ``auto`` picks ``wtype`` then ``ydotool`` on Wayland (``WAYLAND_DISPLAY`` set), and on
    X11 (``DISPLAY`` set) XTEST through python-xlib, else ``xdotool``. Raises
    :class:`~livewhisper.errors.DeviceError` when there is no desktop to type into, and
    :class:`~livewhisper.errors.DependencyError` naming the package to install. Nothing
    is opened yet: :meth:`Keyboard.check` does.

    Example::

        find_keyboard()           # XTest() under X11
        find_keyboard("ydotool")  # DependencyError: ydotool is not installed: ...
    """
    env = os.environ if environ is None else environ
    if name != "auto":
        try:
            keyboard = KEYBOARDS[name]
        except KeyError:
            raise DeviceError(f"unknown keyboard {name!r}: one of {', '.join(KEYBOARDS)}") from None
        if keyboard is XTest:
            if not _has_xlib():
                raise DependencyError(
                    "xtest needs python-xlib: pip install 'livewhisper[type]' (or python-xlib)"
                )
        elif shutil.which(keyboard.name) is None:
            raise DependencyError(f"{name} is not installed: apt-get install {keyboard.package}")
        needed = _DESKTOP_OF.get(keyboard)
        if needed is not None and not env.get(needed):
            raise DeviceError(f"{name} types into a desktop, but {needed} is not set")
        return keyboard()
    wayland, x11 = bool(env.get("WAYLAND_DISPLAY")), bool(env.get("DISPLAY"))
    if wayland:
        for keyboard in (Wtype, Ydotool):
            if shutil.which(keyboard.name):
                return keyboard()
        raise DependencyError(
            "typing on Wayland needs wtype (apt-get install wtype; Sway, Hyprland and other "
            "wlroots desktops) or ydotool (apt-get install ydotool, with ydotoold running; "
            "GNOME, KDE)"
        )
    if x11:
        if _has_xlib():
            return XTest()
        if shutil.which("xdotool"):
            return Xdotool()
        raise DependencyError(
            "typing on X11 needs python-xlib (pip install python-xlib) or xdotool "
            "(apt-get install xdotool)"
        )
    raise DeviceError(
        "no desktop to type into: neither DISPLAY (X11) nor WAYLAND_DISPLAY (Wayland) is set"
    )


# The variable that names the desktop a keystroke tool types into (ydotool needs none).
_DESKTOP_OF: dict[type[Keyboard], str] = {
    XTest: "DISPLAY",
    Xdotool: "DISPLAY",
    Wtype: "WAYLAND_DISPLAY",
}


def _has_xlib() -> bool:
    return importlib.util.find_spec("Xlib") is not None


class TypeSink:
    """Types each final into the focused window, with spoken commands, on its own thread.

    Call it with :class:`~livewhisper.events.Final` events (pass it as ``on_final``): the
    call only queues the final, so the audio never waits for the keyboard. Each final is
    typed once (one repeated with the same times and text is skipped), joined to the last
    by a space (or a line break: ``join="\\n"``). ``keyboard`` is a :class:`Keyboard` or a
    name for :func:`find_keyboard`; ``commands`` a :class:`SpokenCommands` (by default
    one for ``language``, with ``replacements``). ``on_action`` sees every edit once made
    (pauses too), on the typing thread; ``on_error`` an error of the keyboard, after which
    the sink types nothing more.

    Example:

        >>> import io
        >>> from livewhisper.events import Final
        >>> out = io.StringIO()
        >>> with TypeSink(PrintKeyboard(out), language="en") as sink:
        ...     sink(Final("Hello, comma, new line", 0.0, 1.5))
        ...     sink(Final("Scratch that.", 2.0, 2.8))
        >>> print(out.getvalue(), end="")
        type 'Hello,\\n'
        backspace 7
        >>> sink.text
        ''
    """

    def __init__(
        self,
        keyboard: Keyboard | str = "auto",
        *,
        language: str | None = "en",
        replacements: Iterable[tuple[str, str]] = (),
        commands: SpokenCommands | None = None,
        join: str = " ",
        on_action: Callable[[EditAction], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        max_pending: int = 256,
    ) -> None:
        self.keyboard = find_keyboard(keyboard) if isinstance(keyboard, str) else keyboard
        self.commands = commands or SpokenCommands(language, replacements=replacements, join=join)
        self._on_action, self._on_error = on_action, on_error
        self._queue: queue.Queue[Final | None] = queue.Queue(max_pending)
        self._seen: deque[tuple[float, float, str]] = deque(maxlen=64)
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._stopping = threading.Event()
        self._on = threading.Event()
        self._on.set()
        self._free = threading.Event()  # cleared while held: typing waits
        self._free.set()

    @property
    def text(self) -> str:
        """What has been typed and not deleted (as far as this sink knows)."""
        return self.commands.text

    @property
    def paused(self) -> bool:
        """True after "stop listening", until "start listening"."""
        return self.commands.paused

    @property
    def error(self) -> BaseException | None:
        """The keyboard error that stopped the typing, if any."""
        return self._failed

    def start(self) -> TypeSink:
        """Start the typing thread (``with`` and the first final do it too)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="livewhisper-type", daemon=True)
            self._thread.start()
        return self

    @property
    def on(self) -> bool:
        """False while switched off (:meth:`switch`): finals are then dropped, untyped."""
        return self._on.is_set()

    def switch(self, on: bool | None = None) -> bool:
        """Switch typing on or off (``None``: the other way); the new state.

        For a toggle hotkey: unlike "stop listening", it needs no speech, and a final
        heard while off is never typed, even after switching back on.

        Example::

            sink.switch()        # False: what is said now is not typed
            sink.switch(True)    # True
        """
        if on is None:
            on = not self._on.is_set()
        if on:
            self._on.set()
        else:
            self._on.clear()
        return on

    @property
    def held(self) -> bool:
        """True while :meth:`hold` keeps typing waiting."""
        return not self._free.is_set()

    def hold(self, held: bool = True) -> None:
        """Make typing wait (``held=True``) until ``hold(False)``; finals queue meanwhile.

        For a hotkey: while a key grabbed on X11 is down, the X server sends every
        keystroke to the program that grabbed it, not to the focused window. A final
        already being typed is finished first. :meth:`close` lets go of a hold.

        Example::

            sink.hold()          # the push-to-talk key went down
            sink.hold(False)     # up: what was said is typed now
        """
        if held:
            self._free.clear()
        else:
            self._free.set()

    def __call__(self, final: Final) -> None:
        """Queue ``final`` to be typed; never blocks (a final over ``max_pending`` queued
        is dropped, with a warning; one heard while switched off, silently)."""
        if not self._on.is_set():
            return
        self.start()
        try:
            self._queue.put_nowait(final)
        except queue.Full:
            logger.warning(
                "typing is %d finals behind: dropped %r", self._queue.qsize(), final.text
            )

    def close(self, timeout: float | None = 30.0, *, drain: bool = True) -> bool:
        """Type what is queued (``drain=False``: drop it), stop the thread, release the
        modifiers; True if the thread stopped within ``timeout``."""
        thread = self._thread
        if thread is None:
            return True
        if not drain:
            self._stopping.set()
            self.keyboard.interrupt()
        self._free.set()
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            self._stopping.set()
        thread.join(timeout)
        stopped = not thread.is_alive()
        if stopped:
            try:
                self.keyboard.release_modifiers()
                self.keyboard.close()
            except (DeviceError, DependencyError) as exc:
                logger.warning("could not release the modifier keys: %s", exc)
        return stopped

    def __enter__(self) -> TypeSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close(drain=exc_info[0] is None)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                final = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if final is None:
                return
            key = (final.start, final.end, final.text)
            if key in self._seen or self._failed is not None:
                continue
            while not self._free.wait(_POLL):
                if self._stopping.is_set():
                    return
            self._seen.append(key)
            # Commands in the language each final was heard in, unless one was set.
            language = final.language or None if self.commands.language is None else None
            for action in self.commands.apply(final.text, language):
                try:
                    self.keyboard.apply(action)
                except Exception as exc:
                    self._failed = exc
                    logger.error("typing stopped: %s", exc)
                    if self._on_error is not None:
                        self._on_error(exc)
                    break
                if self._on_action is not None:
                    self._on_action(action)


def describe(action: EditAction) -> str:
    """One line about an edit, for a log: ``typed 12 characters``, ``paused``...

    Example:

        >>> describe(Backspace(3)), describe(Pause())
        ('deleted 3 characters', 'paused: say "start listening" to go on')
    """
    if isinstance(action, TypeText):
        return f"typed {action.text!r}"
    if isinstance(action, Backspace):
        return f"deleted {action.count} characters"
    if isinstance(action, Pause):
        return 'paused: say "start listening" to go on'
    assert isinstance(action, Resume)
    return "listening again"
