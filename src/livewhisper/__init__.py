"""livewhisper: local, private, streaming speech-to-text on whisper.cpp.

Importing the package is light: the errors and the result types load with it, every
other name (the engine, dictation, audio sources, configs) on first use. So
``import livewhisper.client`` or ``livewhisper.wer`` costs only what that module needs.

Example::

    import livewhisper

    with livewhisper.Dictation(language="en", on_final=lambda f: print(f.text)):
        input("Speak, then press Enter.\\n")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from livewhisper.errors import (
    AudioError,
    ClosedError,
    ConfigError,
    DecodeOptionsError,
    DependencyError,
    DeviceError,
    LiveWhisperError,
    ModelDownloadError,
    ModelError,
    ModelFormatError,
    ModelNotFoundError,
    UnknownModelError,
)
from livewhisper.events import Event, Final, Partial, Segment, Status, Transcription, Word
from livewhisper.models.names import DEFAULT_MODEL

if TYPE_CHECKING:
    from livewhisper.audio import FileSource, Microphone, PushSource, load_audio
    from livewhisper.commands import SpokenCommands
    from livewhisper.dictation import Dictation, DictationStats, Progress
    from livewhisper.engine import Engine
    from livewhisper.gate import StreamConfig
    from livewhisper.keyboard import TypeSink
    from livewhisper.models.resolve import resolve as resolve_model
    from livewhisper.options import DecodeOptions
    from livewhisper.segmenter import SegmenterConfig
    from livewhisper.vad import VadConfig

__version__ = "0.1.0"

# Loaded on first use: name -> (module, name there). The engine, the worker and the audio
# libraries are what an import of the client or of an algorithm must not pay for.
_LAZY: dict[str, tuple[str, str]] = {
    "DecodeOptions": ("livewhisper.options", "DecodeOptions"),
    "Dictation": ("livewhisper.dictation", "Dictation"),
    "DictationStats": ("livewhisper.dictation", "DictationStats"),
    "Progress": ("livewhisper.dictation", "Progress"),
    "Engine": ("livewhisper.engine", "Engine"),
    "FileSource": ("livewhisper.audio", "FileSource"),
    "Microphone": ("livewhisper.audio", "Microphone"),
    "PushSource": ("livewhisper.audio", "PushSource"),
    "SegmenterConfig": ("livewhisper.segmenter", "SegmenterConfig"),
    "StreamConfig": ("livewhisper.gate", "StreamConfig"),
    "SpokenCommands": ("livewhisper.commands", "SpokenCommands"),
    "TypeSink": ("livewhisper.keyboard", "TypeSink"),
    "VadConfig": ("livewhisper.vad", "VadConfig"),
    "load_audio": ("livewhisper.audio", "load_audio"),
    "resolve_model": ("livewhisper.models.resolve", "resolve"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'livewhisper' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # found once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_MODEL",
    "AudioError",
    "ClosedError",
    "ConfigError",
    "DecodeOptions",
    "DecodeOptionsError",
    "DependencyError",
    "DeviceError",
    "Dictation",
    "DictationStats",
    "Engine",
    "Event",
    "FileSource",
    "Final",
    "LiveWhisperError",
    "Microphone",
    "ModelDownloadError",
    "ModelError",
    "ModelFormatError",
    "ModelNotFoundError",
    "Partial",
    "Progress",
    "PushSource",
    "Segment",
    "SegmenterConfig",
    "SpokenCommands",
    "Status",
    "StreamConfig",
    "Transcription",
    "TypeSink",
    "UnknownModelError",
    "VadConfig",
    "Word",
    "__version__",
    "load_audio",
    "resolve_model",
]
