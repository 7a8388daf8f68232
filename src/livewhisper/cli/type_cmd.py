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
from pathlib import Path
from typing import Any

from livewhisper.audio.sources import AudioSource, FileSource, Microphone
from livewhisper.cli.common import add_decode_flags, decode_options, positive_float
from livewhisper.commands import EditAction, Pause, Resume, SpokenCommands, load_replacements
from livewhisper.dictation import Dictation
from livewhisper.engine import Engine, check_options
from livewhisper.events import Final
from livewhisper.gate import StreamConfig
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
  livewhisper type --off & livewhisper type --toggle  # a hotkey switches typing on/off

Each final (at a pause in speech) is typed once, joined to the last by a space, and
printed on stdout. X11 needs python-xlib (pip install python-xlib) or xdotool;
Wayland needs wtype (Sway, Hyprland) or ydotool with ydotoold running (GNOME, KDE).
Ctrl-C types the sentence in progress and exits; a second Ctrl-C quits at once.
For a hotkey, bind the command 'livewhisper type --toggle' to a key in the desktop's
keyboard settings (Sway: bindsym $mod+d exec livewhisper type --toggle): it works the
same on X11 and Wayland.
"""

_FINISH_TIMEOUT = 30.0
_POLL = 0.25


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
    source = parser.add_argument_group("audio source (default: the default microphone)")
    exclusive = source.add_mutually_exclusive_group()
    exclusive.add_argument(
        "-d", "--device", metavar="DEVICE", help="input device, by index or name"
    )
    exclusive.add_argument(
        "-i",
        "--input",
        type=Path,
        metavar="FILE",
        help="play an audio file as if it were a microphone",
    )
    source.add_argument(
        "--speed",
        type=positive_float,
        help="with --input: play the file this many times faster than real time",
    )
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
    hotkey = parser.add_argument_group(
        "hotkey (bind 'livewhisper type --toggle' to a key in your desktop's settings)"
    )
    hotkey.add_argument(
        "--toggle",
        action="store_true",
        help="switch typing off or on in the 'livewhisper type' already running, and exit",
    )
    hotkey.add_argument(
        "--off", action="store_true", help="start switched off: type nothing until --toggle"
    )
    add_decode_flags(parser)
    parser.set_defaults(handler=_type, usage_error=parser.error)


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


def _source(args: argparse.Namespace) -> AudioSource:
    if args.input is not None:
        return FileSource(args.input, realtime=True, speed=args.speed or 1.0)
    device: str | None = args.device
    return Microphone(int(device) if device is not None and device.isdigit() else device)


def _type(args: argparse.Namespace) -> int:
    if args.toggle:
        return _toggle()
    if args.speed is not None and args.input is None:
        args.usage_error("--speed needs --input: a microphone plays at its own pace")
    replacements = load_replacements(args.replacements) if args.replacements else []
    # The keyboard before the model: no desktop or no keystroke tool is said at once.
    keyboard: Keyboard = PrintKeyboard(sys.stdout) if args.dry_run else find_keyboard(args.keyboard)
    keyboard.check()
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
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(_source(args))
            idle = False
            status, idle = _run(args, engine, source, options.language, keyboard, commands)
    finally:
        if idle:
            engine.close()
    return status


def _run(
    args: argparse.Namespace,
    engine: Engine,
    source: AudioSource,
    language: str | None,
    keyboard: Keyboard,
    commands: SpokenCommands,
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
    sink.switch(not args.off)
    switched = threading.Event()

    def on_hotkey(signum: int, frame: object) -> None:
        sink.switch()
        switched.set()  # said by the main loop, not inside the signal handler

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
    sink.start()
    pid_file = _pid_file()
    previous = signal.signal(signal.SIGUSR1, on_hotkey)
    drain = True
    try:
        pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
        dictation.start()
        heard = language or ("auto-detect" if engine.multilingual else "en")
        mode = "commands off" if args.no_commands else "spoken commands on"
        where = "printing the edits" if args.dry_run else f"typing with {keyboard.name}"
        print(
            f"livewhisper: {where}; {engine.model_name}, {source.name}, language {heard}, "
            f"{mode}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        if args.off:
            print("livewhisper: typing off: run 'livewhisper type --toggle'", file=sys.stderr)
        try:
            while not dictation.wait(_POLL) and not failed.is_set():
                if switched.is_set():
                    switched.clear()
                    state = "on" if sink.on else "off"
                    print(f"livewhisper: typing {state}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print(
                "livewhisper: typing the last sentence (Ctrl-C again to quit now)",
                file=sys.stderr,
                flush=True,
            )
        try:
            dictation.stop(timeout=_FINISH_TIMEOUT)
        except KeyboardInterrupt:
            drain = False  # a second Ctrl-C: type nothing more
            print("livewhisper: interrupted", file=sys.stderr, flush=True)
    finally:
        # Whatever happened, the typing thread ends and releases the modifier keys.
        sink.close(_FINISH_TIMEOUT, drain=drain)
        signal.signal(signal.SIGUSR1, previous)
        with contextlib.suppress(OSError):
            if pid_file.read_text(encoding="ascii").strip() == str(os.getpid()):
                pid_file.unlink()
    status = 1 if failed.is_set() else (0 if drain else 130)
    return status, dictation.transcriber.join(0)
