"""``livewhisper type``: dictate into any application, typing at the cursor.

Example::

    $ livewhisper type --language es --replacements names.tsv
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livewhisper.audio.sources import AudioSource
from livewhisper.cli.common import (
    FINISH_TIMEOUT,
    add_decode_flags,
    add_source_flags,
    check_source_flags,
    decode_options,
    run_until_stopped,
    source_from_args,
)
from livewhisper.commands import EditAction, Pause, Resume, SpokenCommands, load_replacements
from livewhisper.dictation import Dictation
from livewhisper.engine import Engine, check_options
from livewhisper.errors import DeviceError, LiveWhisperError
from livewhisper.events import Final
from livewhisper.gate import StreamConfig
from livewhisper.hotkey import KeyCombo, X11Hotkey, parse_combo
from livewhisper.keyboard import KEYBOARDS, Keyboard, PrintKeyboard, TypeSink, find_keyboard

EXAMPLES = """spoken commands (said on their own, not typed):
  "period" / "full stop"  .        "comma"  ,        "colon"  :      "semicolon"  ;
  "question mark"  ?               "exclamation mark"  !
  "open quote" ... "close quote"  "..."
  "new line"                       "new paragraph"   (a blank line)
  "scratch that"                   deletes the last sentence typed
  "stop listening" ... "start listening"   types nothing in between
  Spanish (--language es): "punto", "coma", "dos puntos", "punto y coma",
  "abre interrogación" ... "signo de interrogación"  ¿...?, "abre exclamación" ¡,
  "nueva línea", "nuevo párrafo", "punto y aparte", "abre/cierra comillas",
  "borra eso", "deja de escuchar", "empieza a escuchar"

examples:
  livewhisper type                                    # type into the focused window
  livewhisper type --language es --model base-q8_0    # Spanish, ¿accents? ¡intact!
  livewhisper type --replacements names.tsv           # "jay son<TAB>JSON" per line
  livewhisper type --no-commands --join line          # every word as said, a line each
  livewhisper type --input memo.wav --dry-run         # show the edits, type nothing
  livewhisper type --hotkey ctrl+alt+d                # the keys switch listening on/off
  livewhisper type --push-to-talk F9                  # listens only while F9 is held
  livewhisper type --off & livewhisper type --toggle  # any hotkey tool, Wayland too

Each final (at a pause in speech) is typed once, joined to the last by a space, and
printed on stdout. X11 needs python-xlib (pip install python-xlib) or xdotool;
Wayland needs wtype (Sway, Hyprland) or ydotool with ydotoold running (GNOME, KDE).
Ctrl-C types the sentence in progress and exits; a second Ctrl-C quits at once.
While listening is off nothing is recorded, decoded or typed. --hotkey and
--push-to-talk grab the key on X11 (python-xlib); on Wayland, where no program may grab
a key, bind the command 'livewhisper type --toggle' to a key in the compositor's
settings (Sway: bindsym $mod+d exec livewhisper type --toggle).
"""


def register(commands: Any) -> None:
    """Add the ``type`` command to the top-level parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "type",
        help="dictate into any application: type what is said where the cursor is",
        description="Type speech into the focused window as keystrokes, a sentence at each "
        "pause, with spoken punctuation and editing commands.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_flags(parser)
    typing = parser.add_argument_group("typing")
    typing.add_argument(
        "--keyboard",
        choices=("auto", *KEYBOARDS),
        default="auto",
        help="the keystroke tool (default: wtype or ydotool on Wayland; on X11 xtest, "
        "with python-xlib, else xdotool)",
    )
    typing.add_argument(
        "--dry-run",
        action="store_true",
        help="print the edits on stdout instead of typing them (no desktop needed)",
    )
    typing.add_argument(
        "--replacements",
        type=Path,
        metavar="FILE",
        help="words to write otherwise: one 'spoken<TAB>written' pair a line",
    )
    typing.add_argument(
        "--no-commands",
        action="store_true",
        help="type every word as said: no spoken punctuation or editing commands",
    )
    typing.add_argument(
        "--join",
        choices=("space", "line"),
        default="space",
        help="what goes between two finals (default: a space)",
    )
    hotkey = parser.add_argument_group("hotkeys (listening off: nothing recorded or typed)")
    keys = hotkey.add_mutually_exclusive_group()
    keys.add_argument(
        "--hotkey",
        type=_combo,
        metavar="KEYS",
        help="keys that switch listening off and on, e.g. ctrl+alt+d (X11)",
    )
    keys.add_argument(
        "--push-to-talk",
        type=_combo,
        metavar="KEY",
        help="listen only while this key is held, e.g. F9 or Pause (X11)",
    )
    hotkey.add_argument(
        "--toggle",
        action="store_true",
        help="switch listening off or on in the 'livewhisper type' already running, and "
        "exit: bind it to a key in your desktop's settings (works on Wayland too)",
    )
    hotkey.add_argument(
        "--off", action="store_true", help="start with listening off, until a hotkey or --toggle"
    )
    add_decode_flags(parser)
    parser.set_defaults(handler=_type, usage_error=parser.error)


def _combo(text: str) -> KeyCombo:
    try:
        return parse_combo(text)
    except LiveWhisperError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pid_file() -> Path:
    """Where the running ``livewhisper type`` leaves its process id for ``--toggle``."""
    folder = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(folder) / f"livewhisper-type-{os.getuid()}.pid"


def _toggle() -> int:
    try:
        pid = int(_pid_file().read_text(encoding="ascii").strip())
        # SIGUSR1 ends a process that does not expect it: only to livewhisper type.
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        command = []
    if not any(b"livewhisper" in part for part in command) or b"type" not in command:
        print("livewhisper: error: no 'livewhisper type' is running", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGUSR1)
    return 0


def _type(args: argparse.Namespace) -> int:
    if args.toggle:
        return _toggle()
    check_source_flags(args)
    replacements = load_replacements(args.replacements) if args.replacements else []
    # The keyboard and the hotkey before the model: what is missing is said at once.
    keyboard: Keyboard = PrintKeyboard(sys.stdout) if args.dry_run else find_keyboard(args.keyboard)
    keyboard.check()
    with contextlib.ExitStack() as stack:
        hotkey = _hotkey(args)
        if hotkey is not None:
            stack.callback(hotkey.close)
        return _load_and_type(args, keyboard, replacements, hotkey)


def _hotkey(args: argparse.Namespace) -> _KeyActions | None:
    """The X11 key grab that --hotkey or --push-to-talk ask for, started (its callbacks
    are set by _run); None without either flag."""
    combo: KeyCombo | None = args.hotkey or args.push_to_talk
    if combo is None:
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        raise DeviceError(
            f"{'--hotkey' if args.hotkey else '--push-to-talk'} grabs a key on X11; Wayland "
            "lets no program do that: bind 'livewhisper type --toggle' to a key in your "
            "compositor's settings instead"
        )
    if not os.environ.get("DISPLAY"):
        raise DeviceError("a hotkey needs an X11 desktop: DISPLAY is not set")
    actions = _KeyActions()
    # Looked up at each event: _run sets them once the dictation exists.
    actions.grab = X11Hotkey(combo, lambda: actions.press(), lambda: actions.release())
    actions.grab.start()
    return actions


def _load_and_type(
    args: argparse.Namespace,
    keyboard: Keyboard,
    replacements: list[tuple[str, str]],
    hotkey: _KeyActions | None,
) -> int:
    engine = Engine(args.model, threads=args.threads)
    idle = True
    try:
        options = decode_options(args)
        check_options(options, engine.model_name, engine.multilingual)
        # English-only models hear English; a multilingual one without --language has
        # the commands of the language each final was heard in.
        language = options.language or (None if engine.multilingual else "en")
        commands = SpokenCommands(
            language,
            commands=not args.no_commands,
            replacements=replacements,
            join="\n" if args.join == "line" else " ",
        )
        with source_from_args(args) as source:
            idle = False
            status, idle = _run(args, engine, source, options.language, keyboard, commands, hotkey)
    finally:
        if idle:
            engine.close()
    return status


class _KeyActions:
    """What the grabbed key does, set once the dictation and the sink exist."""

    def __init__(self) -> None:
        self.grab: X11Hotkey | None = None
        self.press: Callable[[], None] = lambda: None
        self.release: Callable[[], None] = lambda: None

    def close(self) -> None:
        if self.grab is not None:
            self.grab.close()


def _run(
    args: argparse.Namespace,
    engine: Engine,
    source: AudioSource,
    language: str | None,
    keyboard: Keyboard,
    commands: SpokenCommands,
    hotkey: _KeyActions | None,
) -> tuple[int, bool]:
    failed = threading.Event()

    def on_action(action: EditAction) -> None:
        if isinstance(action, (Pause, Resume)):
            note = 'paused: say "start listening"' if isinstance(action, Pause) else "listening"
            print(f"livewhisper: {note}", file=sys.stderr, flush=True)

    def on_error(exc: BaseException) -> None:
        failed.set()
        print(f"livewhisper: error: {exc}", file=sys.stderr, flush=True)

    sink = TypeSink(keyboard, commands=commands, on_action=on_action, on_error=on_error)

    def on_final(final: Final) -> None:
        if not args.dry_run:
            print(final.text.strip(), flush=True)
        sink(final)

    dictation = Dictation(
        engine,
        source=source,
        decode=decode_options(args),
        stream=StreamConfig(partials=False),  # nothing shows them: no decodes for them
        on_final=on_final,
        on_error=on_error,
    )
    talk = args.push_to_talk is not None
    if args.off or talk:
        dictation.pause()
    switched = threading.Event()  # said by the main loop, not inside a signal handler

    def listen(on: bool) -> None:
        # From the hotkey thread or a signal handler: a failure ends the run, in one line.
        try:
            if on:
                dictation.resume()
            else:
                dictation.pause()
        except LiveWhisperError as exc:
            on_error(exc)
        switched.set()

    def toggle() -> None:
        listen(not dictation.listening)

    def press() -> None:
        # The grab sends every keystroke to us while the key is down: type after it.
        sink.hold()
        listen(True if talk else not dictation.listening)

    def release() -> None:
        if talk:
            listen(False)  # the final of what was said comes, typed once let go
        sink.hold(False)

    def tick() -> None:
        if switched.is_set():
            switched.clear()
            state = "on" if dictation.listening else "off"
            print(f"livewhisper: listening {state}", file=sys.stderr, flush=True)

    if hotkey is not None:
        hotkey.press, hotkey.release = press, release
    sink.start()
    pid_file = _pid_file()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: toggle())
    finished = True
    try:
        pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
        dictation.start()
        _say_started(args, engine, source, language, keyboard)
        finished = run_until_stopped(
            dictation,
            finishing="typing the last sentence",
            stop_early=failed.is_set,
            tick=tick,
        )
    finally:
        # Whatever happened, the typing thread ends and releases the modifier keys.
        sink.close(FINISH_TIMEOUT, drain=finished)
        signal.signal(signal.SIGUSR1, previous)
        with contextlib.suppress(OSError):
            if pid_file.read_text(encoding="ascii").strip() == str(os.getpid()):
                pid_file.unlink()
    status = 1 if failed.is_set() else (0 if finished else 130)
    return status, dictation.transcriber.join(0)


def _say_started(
    args: argparse.Namespace,
    engine: Engine,
    source: AudioSource,
    language: str | None,
    keyboard: Keyboard,
) -> None:
    heard = language or ("auto-detect" if engine.multilingual else "en")
    mode = "commands off" if args.no_commands else "spoken commands on"
    where = "printing the edits" if args.dry_run else f"typing with {keyboard.name}"
    print(
        f"livewhisper: {where}; {engine.model_name}, {source.name}, language {heard}, "
        f"{mode}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    if args.push_to_talk is not None:
        note = f"listening while {args.push_to_talk} is held"
    elif args.off:
        how = f"press {args.hotkey}" if args.hotkey else "run 'livewhisper type --toggle'"
        note = f"listening off: {how}"
    elif args.hotkey is not None:
        note = f"{args.hotkey} switches listening off and on"
    else:
        return
    print(f"livewhisper: {note}", file=sys.stderr, flush=True)
