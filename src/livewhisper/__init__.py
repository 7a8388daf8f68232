"""livewhisper: local, private, streaming speech-to-text on whisper.cpp.

Example::

    import livewhisper

    with livewhisper.Dictation(language="en", on_final=lambda f: print(f.text)):
        input("Speak, then press Enter.\\n")
"""

from livewhisper.audio import FileSource, Microphone, PushSource, load_audio
from livewhisper.dictation import Dictation, DictationStats
from livewhisper.engine import DecodeOptions, Engine
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
from livewhisper.events import Event, Final, Partial, Segment, Transcription, Word
from livewhisper.gate import StreamConfig
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.models.resolve import resolve as resolve_model
from livewhisper.segmenter import SegmenterConfig
from livewhisper.vad import VadConfig

__version__ = "0.1.0"

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
    "PushSource",
    "Segment",
    "SegmenterConfig",
    "StreamConfig",
    "Transcription",
    "UnknownModelError",
    "VadConfig",
    "Word",
    "__version__",
    "load_audio",
    "resolve_model",
]
