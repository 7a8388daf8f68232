"""``livewhisper devices``: the audio input devices, to pick one for ``dictate --device``.

Example::

    $ livewhisper devices
    * [1] default, ALSA: 32 ch, 44100 Hz (default)
      [0] pulse, ALSA: 32 ch, 44100 Hz
"""

from __future__ import annotations

import argparse
from typing import Any

from livewhisper.audio.devices import describe_input_devices, list_input_devices
from livewhisper.errors import DeviceError

EXAMPLES = """examples:
  livewhisper devices
  livewhisper dictate --device 3          # then record from one of them, by index
  livewhisper dictate --device pulse      # or by (part of) its name

The default input is marked with '*'. Exits with status 1 when there is none at all.
"""


def register(commands: Any) -> None:
    """Add the ``devices`` command to the top-level parser."""
    parser = commands.add_parser(
        "devices",
        help="list the audio input devices",
        description="List the audio input devices PortAudio sees.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    devices = list_input_devices()
    if not devices:
        raise DeviceError(describe_input_devices(devices))
    for device in sorted(devices, key=lambda d: not d.is_default):
        print(("* " if device.is_default else "  ") + str(device))
    return 0
