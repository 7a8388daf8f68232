"""The audio input devices PortAudio sees, and the lazy import of sounddevice.

sounddevice is imported only when a device is needed, so that livewhisper works on files
and pushed audio on machines without PortAudio; its failures become
:class:`~livewhisper.errors.DependencyError` and :class:`~livewhisper.errors.DeviceError`.

Example::

    from livewhisper.audio import list_input_devices

    for dev in list_input_devices():
        print(("* " if dev.is_default else "  ") + f"{dev.index}: {dev.name}")
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from livewhisper.errors import DependencyError, DeviceError

__all__ = [
    "InputDevice",
    "describe_input_devices",
    "find_input_device",
    "import_sounddevice",
    "list_input_devices",
]


@dataclass(frozen=True)
class InputDevice:
    """An audio input device as PortAudio reports it.

    ``index`` is what :class:`~livewhisper.audio.Microphone` accepts as ``device``;
    ``channels`` is the most input channels it offers and ``default_sample_rate`` the rate
    it runs at unless told otherwise.

    Example::

        InputDevice(index=1, name="default", channels=32, default_sample_rate=44100.0,
                    is_default=True, host_api="ALSA")
    """

    index: int
    name: str
    channels: int
    default_sample_rate: float
    is_default: bool
    host_api: str = ""

    def __str__(self) -> str:
        mark = " (default)" if self.is_default else ""
        api = f", {self.host_api}" if self.host_api else ""
        return (
            f"[{self.index}] {self.name}{api}: {self.channels} ch, "
            f"{self.default_sample_rate:g} Hz{mark}"
        )


def import_sounddevice() -> ModuleType:
    """Import and return :mod:`sounddevice`, or raise :class:`DependencyError` saying how
    to install what is missing (the Python package or the PortAudio library).

    Example::

        sd = import_sounddevice()
        print(sd.get_portaudio_version()[1])
    """
    try:
        import sounddevice
    except OSError as exc:
        # sounddevice raises OSError("PortAudio library not found") when the shared
        # library is absent: a system package, not something pip can fix.
        raise DependencyError(
            f"the PortAudio library is missing ({exc}): install it with "
            "`apt-get install libportaudio2` (Debian/Ubuntu), `dnf install portaudio` "
            "(Fedora) or `brew install portaudio` (macOS)"
        ) from exc
    except ImportError as exc:
        raise DependencyError(
            "microphone input needs the sounddevice package: pip install 'livewhisper[mic]'"
        ) from exc
    except Exception as exc:
        # The import also initialises PortAudio, whose failure is a PortAudioError, a class
        # we cannot name here because the module that defines it failed to import.
        raise DeviceError(f"PortAudio could not be initialised: {exc}") from exc
    module: ModuleType = sounddevice
    return module


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel, in PortAudio's order.

    The list is the one PortAudio made when it was initialised (at the first import of
    sounddevice): devices plugged in later appear after a restart of the process. Raises
    :class:`DependencyError` without PortAudio and :class:`DeviceError` if PortAudio
    cannot be queried; no devices at all is an empty list, not an error.

    Example::

        names = [d.name for d in list_input_devices()]   # ['pulse', 'default'] with PulseAudio
    """
    sd = import_sounddevice()
    try:
        infos: list[dict[str, Any]] = list(sd.query_devices())
        host_apis: list[dict[str, Any]] = list(sd.query_hostapis())
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from exc
    default = _default_input_index(sd)
    devices = []
    for index, info in enumerate(infos):
        channels = int(info["max_input_channels"])
        if channels < 1:
            continue
        api = int(info.get("hostapi", -1))
        devices.append(
            InputDevice(
                index=index,
                name=str(info["name"]),
                channels=channels,
                default_sample_rate=float(info["default_samplerate"]),
                is_default=index == default,
                host_api=str(host_apis[api]["name"]) if 0 <= api < len(host_apis) else "",
            )
        )
    return devices


def find_input_device(device: int | str | None = None) -> InputDevice:
    """The input device to record from: by index, by name, or the default (``None``).

    A name matches a device whose name equals it (ignoring case), else the only device
    whose name contains it. Raises :class:`DeviceError` listing the devices that exist
    when nothing or more than one device matches.

    Example::

        mic = find_input_device("pulse")       # InputDevice(index=0, name='pulse', ...)
        default = find_input_device()          # the device marked is_default
    """
    devices = list_input_devices()
    if device is None:
        for dev in devices:
            if dev.is_default:
                return dev
        raise DeviceError(
            "no default audio input device. " + describe_input_devices(devices, choose=True)
        )
    if isinstance(device, bool) or not isinstance(device, (int, str)):
        raise DeviceError(f"device must be an index, a name or None, got {device!r}")
    if isinstance(device, int):
        for dev in devices:
            if dev.index == device:
                return dev
        raise DeviceError(
            f"no audio input device with index {device}. "
            + describe_input_devices(devices, choose=True)
        )
    wanted = device.strip().lower()
    exact = [dev for dev in devices if dev.name.lower() == wanted]
    partial = [dev for dev in devices if wanted in dev.name.lower()]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    if not matches:
        problem = f"no audio input device matches {device!r}. "
    else:
        problem = f"{len(matches)} audio input devices match {device!r}: pass an index. "
    raise DeviceError(problem + describe_input_devices(devices, choose=True))


def describe_input_devices(
    devices: list[InputDevice] | None = None, *, choose: bool = False
) -> str:
    """A sentence or two for error messages: the input devices that exist, or what to
    check when there are none. ``choose`` adds how to pick one.

    Example::

        raise DeviceError("cannot open the microphone. " + describe_input_devices())
    """
    if devices is None:
        try:
            devices = list_input_devices()
        except (DependencyError, DeviceError) as exc:
            return f"The device list is unavailable: {exc}"
    if not devices:
        return (
            "No audio input devices found: check that a microphone is connected and, on "
            "Linux, that PulseAudio or PipeWire is running (and PULSE_SERVER, if set, "
            "points to it) or that your user may use /dev/snd (the 'audio' group)."
        )
    listing = "; ".join(str(dev) for dev in devices)
    hint = " Choose one with its index or name." if choose else ""
    return f"Input devices: {listing}.{hint}"


def _default_input_index(sd: Any) -> int | None:
    try:
        index = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError):
        # PortAudio reports "no default input" as an error querying device -1.
        return None
    return index if index >= 0 else None
