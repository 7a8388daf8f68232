"""Audio in: sources (microphone, file, array, push), ring buffer, resampling, decoding.

Everything leaves this package as 1-D float32 at :data:`SAMPLE_RATE` (16 kHz). The
microphone needs the ``mic`` extra (sounddevice) and the PortAudio library, imported only
when a device is opened or listed.

Example::

    from livewhisper.audio import FileSource, Microphone, load_audio

    audio = load_audio("talk.mp3")                  # the whole file at once
    with FileSource("talk.mp3") as source:          # or block by block, in real time
        for block in source:
            ...
"""

from livewhisper.audio.decode import (
    SAMPLE_RATE,
    AudioArray,
    as_mono_float32,
    check_sample_rate,
    load_audio,
    to_mono_float32,
)
from livewhisper.audio.devices import (
    InputDevice,
    describe_input_devices,
    find_input_device,
    list_input_devices,
)
from livewhisper.audio.resample import StreamResampler
from livewhisper.audio.ring import RingBuffer
from livewhisper.audio.sources import (
    ArraySource,
    AudioSource,
    FileSource,
    Microphone,
    PushSource,
)
from livewhisper.pcm import to_pcm16

__all__ = [
    "SAMPLE_RATE",
    "ArraySource",
    "AudioArray",
    "AudioSource",
    "FileSource",
    "InputDevice",
    "Microphone",
    "PushSource",
    "RingBuffer",
    "StreamResampler",
    "as_mono_float32",
    "check_sample_rate",
    "describe_input_devices",
    "find_input_device",
    "list_input_devices",
    "load_audio",
    "to_mono_float32",
    "to_pcm16",
]
