"""The exceptions livewhisper raises: one hierarchy rooted in :class:`LiveWhisperError`.

Every message names the problem and, where there is one, the step that fixes it.

Example::

    try:
        path = livewhisper.models.resolve("base-q8_0")
    except livewhisper.ModelNotFoundError as exc:
        print(exc)  # says which `pip install` or `livewhisper models pull` provides it
"""

from __future__ import annotations


class LiveWhisperError(Exception):
    """Base class of every error livewhisper raises on purpose."""


class ModelError(LiveWhisperError):
    """A problem with a model: its name, its file or how to obtain it."""


class UnknownModelError(ModelError):
    """A model name that livewhisper does not know (e.g. ``"tiny-q3"``)."""


class ModelNotFoundError(ModelError):
    """A known model that is neither cached, bundled nor downloadable from here."""


class ModelFormatError(ModelError):
    """A model file that is missing, truncated, corrupt or of the wrong format."""


class ModelDownloadError(ModelError):
    """A model download that failed (no network, hub unreachable, bad checksum)."""


class AudioError(LiveWhisperError):
    """Audio that cannot be used: unreadable file, empty, wrong shape, NaN, bad rate."""


class DecodeOptionsError(LiveWhisperError):
    """Decode options that are invalid (unknown language, temperature out of range...)."""


class DecodeCancelled(LiveWhisperError):
    """A decode stopped early because its ``cancel`` event was set."""


class ClosedError(LiveWhisperError):
    """An object used after it was closed: an :class:`~livewhisper.Engine` after
    ``close()``, a :class:`~livewhisper.Dictation` after ``stop()``, an audio source or a
    client session after ``close()``. Closed objects stay closed: create a new one.

    Example::

        engine.close()
        engine.transcribe(audio)  # ClosedError: this Engine (tiny.en-q8_0) is closed
    """


class DependencyError(LiveWhisperError):
    """An optional dependency or system library is missing (e.g. PortAudio)."""


class DeviceError(LiveWhisperError):
    """An audio device that cannot be opened, or no input device at all."""


class ConfigError(LiveWhisperError):
    """A configuration value out of its valid range."""


class DatasetError(LiveWhisperError):
    """A fine-tuning data set that is missing, empty or inconsistent (a wav without text...)."""


class ResourceError(LiveWhisperError):
    """Too little of a machine resource (memory, disk) for the requested work."""
