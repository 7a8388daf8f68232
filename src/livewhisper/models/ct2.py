"""Read CTranslate2 (faster-whisper) ``model.bin`` files: binary version 6, as numpy arrays.

The format is a spec name, a list of variables (name, shape, dtype, raw bytes) and a list
of aliases. ``ctranslate2`` itself does not expose the weights, hence this small reader.

Example::

    model = read_ct2(Path("model/model.bin"))
    model.variables["encoder/conv1/weight"].shape   # (384, 80, 3)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livewhisper.errors import ModelFormatError

SUPPORTED_VERSIONS = (5, 6)

# CTranslate2's DataType enum, in its order.
_DTYPES: dict[int, np.dtype[np.generic]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 model, by name, aliases resolved."""

    spec: str
    variables: dict[str, np.ndarray]

    def get(self, name: str) -> np.ndarray:
        """The variable ``name``; :class:`ModelFormatError` if the model lacks it."""
        try:
            return self.variables[name]
        except KeyError:
            raise ModelFormatError(
                f"the CTranslate2 model has no variable {name!r}: not a Whisper model?"
            ) from None

    def scalar(self, name: str) -> int:
        """An integer scalar variable such as ``encoder/num_heads``."""
        return int(self.get(name).reshape(-1)[0])


class _Cursor:
    def __init__(self, data: bytes | memoryview, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def take(self, n: int) -> bytes | memoryview:
        if self.pos + n > len(self.data):
            raise ModelFormatError(
                f"{self.source} is truncated: needed {n} bytes at offset {self.pos}, "
                f"the file has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> int:
        value: int = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def string(self) -> str:
        length = self.unpack("<H")
        raw = bytes(self.take(length))
        return raw[:-1].decode("utf-8", errors="replace")


def read_ct2(parts: Path | Sequence[Path]) -> CT2Model:
    """Read a CTranslate2 ``model.bin``, or its split parts joined in the given order."""
    paths = [parts] if isinstance(parts, Path) else list(parts)
    source = " + ".join(str(p) for p in paths)
    try:
        data = b"".join(p.read_bytes() for p in paths)
    except OSError as exc:
        raise ModelFormatError(f"cannot read the CTranslate2 model {source}: {exc}") from exc
    cur = _Cursor(memoryview(data), source)
    version = cur.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ModelFormatError(
            f"{source} is not a CTranslate2 model of a supported version "
            f"(found version {version}, expected one of {SUPPORTED_VERSIONS})"
        )
    spec = cur.string()
    cur.unpack("<I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(cur.unpack("<I")):
        name = cur.string()
        shape = tuple(cur.unpack("<I") for _ in range(cur.unpack("<B")))
        dtype_id = cur.unpack("<B")
        nbytes = cur.unpack("<I")
        raw = cur.take(nbytes)
        dtype = _DTYPES.get(dtype_id)
        if dtype is None:
            continue  # a type Whisper weights never use (bfloat16...): skip it
        array = np.frombuffer(raw, dtype=dtype)
        expected = int(np.prod(shape)) if shape else 1
        if array.size != expected:
            raise ModelFormatError(
                f"{source}: variable {name!r} holds {array.size} values, its shape {shape} "
                f"needs {expected}"
            )
        variables[name] = array.reshape(shape)
    for _ in range(cur.unpack("<I")):
        alias, target = cur.string(), cur.string()
        if target in variables:
            variables[alias] = variables[target]
    return CT2Model(spec, variables)
