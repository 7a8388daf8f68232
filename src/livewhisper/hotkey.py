"""A global hotkey on X11: a key combination pressed anywhere, or a key held to talk.

:class:`X11Hotkey` grabs one key combination on the X server (``XGrabKey``, through
python-xlib: the ``type`` extra), so the focused application never receives it, and
calls ``on_press`` / ``on_release`` on its own thread. The auto-repeat of a held key is
not reported: one press, one release, however long the key is held.

While a grabbed key is down the X server sends every keystroke to the grabbing program:
keystrokes typed then would be lost, which is why ``livewhisper type`` holds its typing
until the key is released.

Wayland lets no application grab a key: there, bind ``livewhisper type --toggle`` to a
key in the compositor's settings (Sway: ``bindsym $mod+d exec livewhisper type
--toggle``).

Example::

    from livewhisper.hotkey import X11Hotkey

    with X11Hotkey("ctrl+alt+d", on_press=lambda: print("pressed")):
        input("Press Ctrl+Alt+D anywhere; Enter here to stop.\\n")
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livewhisper.errors import ConfigError, DependencyError, DeviceError

__all__ = ["MODIFIERS", "KeyCombo", "X11Hotkey", "parse_combo"]

MODIFIERS: dict[str, str] = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "shift": "shift",
    "alt": "alt",
    "super": "super",
    "win": "super",
    "logo": "super",
}
"""The modifier names a combination may use, each to the modifier it means."""

# A pressed key's release and the auto-repeat press after it come in one write from
# the X server; this is the wait for the press when only the release was read yet.
_REPEAT_GAP = 0.02
_IDLE_WAKE = 5.0  # the event thread wakes for close() or an event: this is a bound


@dataclass(frozen=True)
class KeyCombo:
    """A key and the modifiers held with it: ``ctrl+alt+d`` is ``KeyCombo("d", {"ctrl",
    "alt"})``. ``key`` is an X keysym name (``d``, ``F9``, ``Pause``, ``space``...).

    Example:

        >>> str(parse_combo("Alt+Ctrl+D"))
        'ctrl+alt+d'
    """

    key: str
    modifiers: frozenset[str] = frozenset()

    def __str__(self) -> str:
        order = ("ctrl", "shift", "alt", "super")
        return "+".join([m for m in order if m in self.modifiers] + [self.key])


def parse_combo(text: str) -> KeyCombo:
    """A combination as written on the command line: modifiers and one key joined by ``+``.

    Names are X keysym names in any case (``f9``, ``scroll_lock``, ``Pause``); modifiers
    are ``ctrl``, ``shift``, ``alt`` and ``super`` (also ``control``, ``win``, ``logo``).
    Raises :class:`~livewhisper.errors.ConfigError` naming the part not understood.

    Example:

        >>> combo = parse_combo("ctrl+alt+d")
        >>> combo.key, sorted(combo.modifiers)
        ('d', ['alt', 'ctrl'])
        >>> parse_combo("f9").key, parse_combo("scroll_lock").key
        ('F9', 'Scroll_Lock')
    """
    parts = [part.strip() for part in text.split("+")]
    if not text.strip() or any(not part for part in parts):
        raise ConfigError(f"hotkey {text!r}: write it as keys joined by '+', e.g. ctrl+alt+d")
    *mods, key = parts
    modifiers: set[str] = set()
    for name in mods:
        modifier = MODIFIERS.get(name.lower())
        if modifier is None:
            raise ConfigError(
                f"hotkey {text!r}: {name!r} is not a modifier (ctrl, shift, alt or super)"
            )
        modifiers.add(modifier)
    return KeyCombo(_keysym_name(key, text), frozenset(modifiers))


def _keysym_name(name: str, combo: str) -> str:
    """``name`` spelled as X spells its keysym: ``f9`` -> ``F9``, ``pause`` -> ``Pause``."""
    try:
        from Xlib import XK
    except ImportError:
        raise DependencyError("a hotkey needs python-xlib: pip install python-xlib") from None
    titled = "_".join(part[:1].upper() + part[1:].lower() for part in name.split("_"))
    # A letter is its key whatever the case: "D" is d (Shift is a modifier of its own).
    first = name.lower() if len(name) == 1 else name
    for spelling in (first, name.lower(), titled, name.upper()):
        if XK.string_to_keysym(spelling):
            return spelling
    raise ConfigError(f"hotkey {combo!r}: no key is called {name!r} (an X keysym name: F9, Pause)")


class X11Hotkey:
    """One key combination grabbed on an X display; callbacks on its own thread.

    ``combo`` is a :class:`KeyCombo` or a string for :func:`parse_combo`. ``on_press``
    runs when the combination is pressed, ``on_release`` when its key is released (auto-
    repeat excluded); both on the thread ``livewhisper-hotkey``, so keep them quick.
    :meth:`start` raises :class:`~livewhisper.errors.DependencyError` without
    python-xlib, and :class:`~livewhisper.errors.DeviceError` when there is no X display,
    no key for the combination or another program holds it.

    Example::

        hotkey = X11Hotkey("F9", on_press=talk, on_release=stop_talking).start()
        ...
        hotkey.close()
    """

    def __init__(
        self,
        combo: KeyCombo | str,
        on_press: Callable[[], None],
        on_release: Callable[[], None] | None = None,
        *,
        display: str | None = None,
    ) -> None:
        self.combo = parse_combo(combo) if isinstance(combo, str) else combo
        self._on_press, self._on_release = on_press, on_release
        self.display_name = display
        self._display: Any = None
        self._keycode = 0
        self._masks: list[int] = []
        self._down = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._put_back: Any = None  # an event read ahead, to be handled next

    @property
    def down(self) -> bool:
        """Whether the combination's key is held now (as far as the events said)."""
        return self._down

    def start(self) -> X11Hotkey:
        """Grab the combination and start listening; returns ``self``."""
        if self._thread is not None:
            return self
        try:
            from Xlib import XK, X
            from Xlib import display as xdisplay
            from Xlib import error as xerror
        except ImportError:
            raise DependencyError("a hotkey needs python-xlib: pip install python-xlib") from None
        name = self.display_name or os.environ.get("DISPLAY", "")
        try:
            display = xdisplay.Display(self.display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise DeviceError(f"cannot open the X display {name!r} for the hotkey: {exc}") from None
        keycode = display.keysym_to_keycode(XK.string_to_keysym(self.combo.key))
        if not keycode:
            display.close()
            raise DeviceError(f"no key of this keyboard types {self.combo.key!r}")
        masks = {"ctrl": X.ControlMask, "shift": X.ShiftMask, "alt": X.Mod1Mask}
        masks["super"] = X.Mod4Mask
        mask = 0
        for modifier in self.combo.modifiers:
            mask |= masks[modifier]
        # The combination whatever the state of Caps Lock (Lock) and Num Lock (Mod2).
        self._masks = [
            mask | extra for extra in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)
        ]
        taken = xerror.CatchError(xerror.BadAccess)
        root = display.screen().root
        for each in self._masks:
            root.grab_key(keycode, each, False, X.GrabModeAsync, X.GrabModeAsync, onerror=taken)
        display.sync()
        self._display, self._keycode = display, keycode
        if taken.get_error() is not None:
            self._ungrab()
            raise DeviceError(f"another program holds the key {self.combo}: choose another one")
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._listen, name="livewhisper-hotkey", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening and give the key back. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        thread.join(timeout)
        if not thread.is_alive():
            self._ungrab()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def __enter__(self) -> X11Hotkey:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ungrab(self) -> None:
        display, self._display = self._display, None
        if display is None:
            return
        root = display.screen().root
        for each in self._masks:
            root.ungrab_key(self._keycode, each)
        display.close()

    def _listen(self) -> None:
        from Xlib import X

        while not self._stop.is_set():
            event = self._next_event(_IDLE_WAKE)
            if event is None or getattr(event, "detail", None) != self._keycode:
                continue
            if event.type == X.KeyPress and not self._down:
                self._down = True
                self._on_press()
            elif event.type == X.KeyRelease and self._down:
                # Auto-repeat is a release and a press of the same key at the same time.
                follow = self._next_event(_REPEAT_GAP)
                if (
                    follow is not None
                    and follow.type == X.KeyPress
                    and follow.detail == event.detail
                    and follow.time == event.time
                ):
                    continue
                self._put_back = follow
                self._down = False
                if self._on_release is not None:
                    self._on_release()

    def _next_event(self, wait: float) -> Any:
        """The next X event, waiting up to ``wait`` s for one (None if none came)."""
        if self._put_back is not None:
            event, self._put_back = self._put_back, None
            return event
        display = self._display
        if not display.pending_events():
            select.select([display.fileno(), self._wake_r], [], [], wait)
            if not display.pending_events():
                return None
        return display.next_event()
