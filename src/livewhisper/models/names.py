"""Model names: ``SIZE[-PRECISION]``, e.g. ``tiny.en``, ``base-q8_0``, ``large-v3-turbo-q5_0``.

A name without a precision means the full-precision ``f16`` file, as in whisper.cpp.

Example::

    >>> ModelName.parse("tiny.en-q8_0")
    ModelName(size='tiny.en', precision='q8_0')
    >>> str(ModelName.parse("base"))
    'base-f16'
"""

from __future__ import annotations

from dataclasses import dataclass

from livewhisper.errors import UnknownModelError

SIZES: tuple[str, ...] = (
    "tiny.en",
    "tiny",
    "base.en",
    "base",
    "small.en",
    "small",
    "medium.en",
    "medium",
    "large-v1",
    "large-v2",
    "large-v3",
    "large-v3-turbo",
)
"""Every model size livewhisper knows, smallest first."""

PRECISIONS: tuple[str, ...] = ("f16", "q8_0", "q5_1", "q5_0", "q4_0")
"""Weight precisions, most accurate first. ``f16`` is lossless for the released weights."""

DEFAULT_MODEL = "tiny.en-q8_0"
"""The model used when none is named: the smallest, and as accurate as f16 in our tests."""


@dataclass(frozen=True)
class ModelName:
    """A parsed model name: a size from :data:`SIZES` and a precision from :data:`PRECISIONS`."""

    size: str
    precision: str = "f16"

    @classmethod
    def parse(cls, name: str) -> ModelName:
        """Parse ``"SIZE"`` or ``"SIZE-PRECISION"``; raise :class:`UnknownModelError` if unknown."""
        text = name.strip().lower()
        for precision in PRECISIONS:
            suffix = f"-{precision}"
            if text.endswith(suffix):
                size = text[: -len(suffix)]
                break
        else:
            size, precision = text, "f16"
        if size not in SIZES:
            raise UnknownModelError(
                f"unknown model {name!r}: use one of {', '.join(SIZES)}, optionally followed by "
                f"-{'/-'.join(PRECISIONS)} (e.g. 'tiny.en-q8_0'), or the path of a ggml file"
            )
        return cls(size, precision)

    @property
    def multilingual(self) -> bool:
        """Whether the model handles languages other than English."""
        return not self.size.endswith(".en")

    @property
    def filename(self) -> str:
        """The whisper.cpp file name, as on the model hub: ``ggml-tiny.en-q8_0.bin``."""
        if self.precision == "f16":
            return f"ggml-{self.size}.bin"
        return f"ggml-{self.size}-{self.precision}.bin"

    def __str__(self) -> str:
        return f"{self.size}-{self.precision}"


def is_model_name(text: str) -> bool:
    """Whether ``text`` parses as a model name (rather than, say, a file path)."""
    try:
        ModelName.parse(text)
    except UnknownModelError:
        return False
    return True
