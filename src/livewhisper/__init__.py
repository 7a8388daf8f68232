"""livewhisper: local, private, streaming speech-to-text on whisper.cpp."""

__version__ = "0.1.0"
