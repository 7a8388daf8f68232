"""whisper.cpp's model file format (the legacy ``ggml`` format): read, validate, write.

Layout: magic ``0x67676d6c``; eleven int32 hyper-parameters; the mel filterbank
(``n_mels`` x ``n_fft`` float32); the vocabulary (count, then each token as a length and
raw bytes); then tensors, each a header (n_dims, name length, type, dims innermost first,
name) followed by its data. A malformed file can abort the process inside whisper.cpp,
so :func:`read_ggml` checks every header, size and tensor against what the
hyper-parameters imply before anyone hands the file to whisper.cpp.

Example::

    info = read_ggml(Path("ggml-tiny.en-q8_0.bin"))
    info.hparams.n_text_layer, info.precision    # (4, 'q8_0')
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from livewhisper.errors import ModelFormatError
from livewhisper.models.quantize import (
    FTYPE,
    QUANT_TYPES,
    GGMLType,
    dequantize,
    quantize,
    row_nbytes,
)

MAGIC = 0x67676D6C
N_FFT_BINS = 201  # n_fft 400 / 2 + 1
_MAX_NAME = 128
_PRECISION_OF_FTYPE = {v: k for k, v in FTYPE.items()}
_TYPE_OF_PRECISION = {"f32": GGMLType.F32, "f16": GGMLType.F16, **QUANT_TYPES}
_ALWAYS_F32 = (
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
)


@dataclass(frozen=True)
class HParams:
    """Whisper's hyper-parameters, in the order the file stores them."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int

    @property
    def multilingual(self) -> bool:
        """Whether the vocabulary has the multilingual special tokens."""
        return self.n_vocab >= 51865


def tensor_type(name: str, ndim: int, precision: str) -> GGMLType:
    """The ggml type whisper.cpp expects for tensor ``name`` in a file of ``precision``.

    1-D tensors, conv biases and positional embeddings stay f32; conv weights (3-D) stay
    f16 (whisper.cpp's im2col needs it); every other matrix takes the file's precision.
    """
    if ndim == 1 or name in _ALWAYS_F32:
        return GGMLType.F32
    if ndim == 3:
        return GGMLType.F16
    return _TYPE_OF_PRECISION[precision]


def expected_shapes(hp: HParams) -> dict[str, tuple[int, ...]]:
    """Every tensor a model with ``hp`` must hold, with its shape (numpy order, outermost first)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for part, n_layer, state, ctx in (
        ("encoder", hp.n_audio_layer, hp.n_audio_state, hp.n_audio_ctx),
        ("decoder", hp.n_text_layer, hp.n_text_state, hp.n_text_ctx),
    ):
        shapes[f"{part}.positional_embedding"] = (ctx, state)
        attentions = ["attn"] if part == "encoder" else ["attn", "cross_attn"]
        for i in range(n_layer):
            block = f"{part}.blocks.{i}"
            for ln in ["mlp_ln", *(f"{a}_ln" for a in attentions)]:
                shapes[f"{block}.{ln}.weight"] = (state,)
                shapes[f"{block}.{ln}.bias"] = (state,)
            shapes[f"{block}.mlp.0.weight"] = (4 * state, state)
            shapes[f"{block}.mlp.0.bias"] = (4 * state,)
            shapes[f"{block}.mlp.2.weight"] = (state, 4 * state)
            shapes[f"{block}.mlp.2.bias"] = (state,)
            for a in attentions:
                for proj in ("query", "key", "value", "out"):
                    shapes[f"{block}.{a}.{proj}.weight"] = (state, state)
                    if proj != "key":  # Whisper's key projections have no bias
                        shapes[f"{block}.{a}.{proj}.bias"] = (state,)
    s = hp.n_audio_state
    shapes["encoder.conv1.weight"] = (s, hp.n_mels, 3)
    shapes["encoder.conv1.bias"] = (s, 1)
    shapes["encoder.conv2.weight"] = (s, s, 3)
    shapes["encoder.conv2.bias"] = (s, 1)
    shapes["encoder.ln_post.weight"] = (s,)
    shapes["encoder.ln_post.bias"] = (s,)
    shapes["decoder.token_embedding.weight"] = (hp.n_vocab, hp.n_text_state)
    shapes["decoder.ln.weight"] = (hp.n_text_state,)
    shapes["decoder.ln.bias"] = (hp.n_text_state,)
    return shapes


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor's data lies in the file, and how it is stored."""

    name: str
    shape: tuple[int, ...]
    type: GGMLType
    offset: int
    nbytes: int


@dataclass(frozen=True)
class GGMLModel:
    """A validated whisper.cpp model file: its header and its tensor table."""

    path: Path
    hparams: HParams
    mel_filters: np.ndarray
    vocab: tuple[bytes, ...]
    tensors: dict[str, TensorInfo] = field(repr=False)

    @property
    def precision(self) -> str:
        """``f16``, ``q8_0``, ... as read from the file's ftype."""
        return _PRECISION_OF_FTYPE[self.hparams.ftype]

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 (dequantized if need be)."""
        info = self.tensors[name]
        with self.path.open("rb") as f:
            f.seek(info.offset)
            raw = f.read(info.nbytes)
        if info.type is GGMLType.F32:
            return np.frombuffer(raw, dtype="<f4").reshape(info.shape).copy()
        if info.type is GGMLType.F16:
            return np.frombuffer(raw, dtype="<f2").reshape(info.shape).astype(np.float32)
        return dequantize(raw, info.type, info.shape)


class _Reader:
    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelFormatError(
                f"{self.path} is truncated or corrupt: {what} needs {n} bytes at offset "
                f"{self.pos}, the file has {len(self.buf)}. Delete it and prepare it again."
            )
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def ints(self, count: int, what: str) -> tuple[int, ...]:
        return struct.unpack(f"<{count}i", self.take(4 * count, what))


def read_ggml(path: Path) -> GGMLModel:
    """Read and validate a whisper.cpp model file; :class:`ModelFormatError` says what is wrong."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise ModelFormatError(f"cannot open the model file {path}: {exc.strerror}") from exc
    with f:
        if path.stat().st_size < 4 + 11 * 4:
            raise ModelFormatError(f"{path} is not a whisper.cpp model: it is too small")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Reader(buf, path))


def _parse(r: _Reader) -> GGMLModel:
    path = r.path
    (magic,) = struct.unpack("<I", r.take(4, "the magic number"))
    if magic != MAGIC:
        raise ModelFormatError(
            f"{path} is not a whisper.cpp ggml model (magic 0x{magic:08x}, expected "
            f"0x{MAGIC:08x}); gguf and CTranslate2 files need converting first: "
            "`livewhisper models convert`"
        )
    hp = HParams(*r.ints(11, "the hyper-parameters"))
    limits = (
        hp.n_vocab in range(50000, 60000)
        and all(0 < v <= 4096 for v in astuple(hp)[1:10])
        and hp.n_audio_state % hp.n_audio_head == 0
        and hp.n_text_state % hp.n_text_head == 0
    )
    if not limits:
        raise ModelFormatError(f"{path} has implausible hyper-parameters: {hp}")
    if hp.ftype not in _PRECISION_OF_FTYPE:
        raise ModelFormatError(f"{path} has an unsupported weight type (ftype {hp.ftype})")
    n_mels, n_fft = r.ints(2, "the mel filter size")
    if n_mels != hp.n_mels or n_fft != N_FFT_BINS:
        raise ModelFormatError(
            f"{path}: mel filters are {n_mels}x{n_fft}, expected {hp.n_mels}x{N_FFT_BINS}"
        )
    mel = np.frombuffer(r.take(4 * n_mels * n_fft, "the mel filters"), dtype="<f4")
    (n_tokens,) = r.ints(1, "the vocabulary size")
    if not 0 < n_tokens <= hp.n_vocab:
        raise ModelFormatError(f"{path}: the vocabulary holds {n_tokens} tokens, more than n_vocab")
    vocab = []
    for i in range(n_tokens):
        (length,) = r.ints(1, f"the length of token {i}")
        if not 0 <= length <= 256:
            raise ModelFormatError(f"{path}: token {i} has an implausible length {length}")
        vocab.append(r.take(length, f"token {i}"))
    expected = expected_shapes(hp)
    precision = _PRECISION_OF_FTYPE[hp.ftype]
    tensors: dict[str, TensorInfo] = {}
    while r.pos < len(r.buf):
        n_dims, name_len, ttype = r.ints(3, "a tensor header")
        if not (1 <= n_dims <= 4 and 0 < name_len <= _MAX_NAME):
            raise ModelFormatError(f"{path}: corrupt tensor header at offset {r.pos - 12}")
        dims = r.ints(n_dims, "tensor dimensions")
        name = r.take(name_len, "a tensor name").decode("utf-8", errors="replace")
        shape = tuple(reversed(dims))
        if name not in expected:
            raise ModelFormatError(f"{path}: unexpected tensor {name!r}")
        if shape != expected[name]:
            raise ModelFormatError(
                f"{path}: tensor {name!r} has shape {shape}, expected {expected[name]}"
            )
        want = tensor_type(name, len(shape), precision)
        if ttype != want:
            raise ModelFormatError(
                f"{path}: tensor {name!r} has type {ttype}, expected {int(want)}"
            )
        nbytes = row_nbytes(want, shape[-1]) * int(np.prod(shape[:-1]))
        offset = r.pos
        r.take(nbytes, f"the data of tensor {name!r}")
        tensors[name] = TensorInfo(name, shape, want, offset, nbytes)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise ModelFormatError(
            f"{path} is incomplete: {len(missing)} tensors missing (first: {missing[0]}). "
            "Delete it and prepare it again."
        )
    return GGMLModel(path, hp, mel.reshape(n_mels, n_fft).copy(), tuple(vocab), tensors)


def write_ggml(
    out: BinaryIO,
    hparams: HParams,
    mel_filters: np.ndarray,
    vocab: Iterable[bytes],
    tensors: Iterable[tuple[str, np.ndarray]],
) -> Iterator[str]:
    """Write a model to ``out``, yielding each tensor's name once it is written.

    ``hparams.ftype`` sets the precision; tensors are given as float arrays in numpy
    order and stored in the type :func:`tensor_type` picks (quantized if need be).
    """
    precision = _PRECISION_OF_FTYPE[hparams.ftype]
    out.write(struct.pack("<I", MAGIC))
    out.write(struct.pack("<11i", *astuple(hparams)))
    out.write(struct.pack("<2i", *mel_filters.shape))
    out.write(np.ascontiguousarray(mel_filters, dtype="<f4").tobytes())
    tokens = list(vocab)
    out.write(struct.pack("<i", len(tokens)))
    for token in tokens:
        out.write(struct.pack("<i", len(token)))
        out.write(token)
    for name, data in tensors:
        ttype = tensor_type(name, data.ndim, precision)
        encoded = name.encode("utf-8")
        out.write(struct.pack("<3i", data.ndim, len(encoded), int(ttype)))
        out.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
        out.write(encoded)
        out.write(_encode(data, ttype))
        yield name


def _encode(data: np.ndarray, ttype: GGMLType) -> bytes:
    if ttype is GGMLType.F32:
        return np.ascontiguousarray(data, dtype="<f4").tobytes()
    if ttype is GGMLType.F16:
        return np.ascontiguousarray(data, dtype="<f2").tobytes()
    return quantize(np.ascontiguousarray(data, dtype=np.float32), ttype)
