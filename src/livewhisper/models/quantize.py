"""Pure-numpy ggml block quantization, byte-identical to ggml's reference quantizer.

whisper.cpp model files store each 2-D weight either as plain floats (``F32``/``F16``) or in
one of ggml's block formats. This module converts float32 arrays to those formats (and back)
without needing ggml itself, reproducing ``ggml_quantize_chunk`` (which, without an importance
matrix, runs ``quantize_row_*_ref``) bit for bit: every step is done in float32 exactly as the
C code does it, including the truncating/rounding conversions to integers.

Block layouts (32 weights per block, all little-endian, ``d``/``m`` are IEEE half floats):

========  ======  ==============================================================
type      bytes   layout
========  ======  ==============================================================
Q4_0      18      ``d``, 16 bytes of nibbles (low: weights 0-15, high: 16-31)
Q4_1      20      ``d``, ``m``, 16 bytes of nibbles
Q5_0      22      ``d``, uint32 ``qh`` (5th bit of weight j at bit j), 16 bytes of nibbles
Q5_1      24      ``d``, ``m``, uint32 ``qh``, 16 bytes of nibbles
Q8_0      34      ``d``, 32 int8
========  ======  ==============================================================

Example:
    >>> import numpy as np
    >>> w = np.linspace(-1.0, 1.0, 64, dtype=np.float32).reshape(2, 32)
    >>> raw = quantize(w, GGMLType.Q8_0)
    >>> len(raw) == row_nbytes(GGMLType.Q8_0, 32) * 2 == 68
    True
    >>> back = dequantize(raw, GGMLType.Q8_0, (2, 32))
    >>> bool(np.abs(back - w).max() < 0.01)
    True
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "FTYPE",
    "QUANT_TYPES",
    "GGMLType",
    "block_size",
    "dequantize",
    "quantize",
    "row_nbytes",
]

F32Array = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]


class GGMLType(enum.IntEnum):
    """ggml tensor type ids (``enum ggml_type``), as stored in a whisper.cpp tensor header.

    Example:
        >>> GGMLType.Q8_0 == 8
        True
        >>> GGMLType(6).name
        'Q5_0'
    """

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8


QUANT_TYPES: dict[str, GGMLType] = {
    "q4_0": GGMLType.Q4_0,
    "q5_0": GGMLType.Q5_0,
    "q5_1": GGMLType.Q5_1,
    "q8_0": GGMLType.Q8_0,
}
"""Quantized precisions offered for whisper.cpp files, by their usual names."""

#: ggml's quantization format version and the factor whisper.cpp multiplies it by when it
#: stores a quantized file's ftype (``GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + ftype``).
_QNT_VERSION = 2
_QNT_VERSION_FACTOR = 1000

FTYPE: dict[str, int] = {
    "f32": 0,
    "f16": 1,
    "q4_0": _QNT_VERSION * _QNT_VERSION_FACTOR + 2,  # GGML_FTYPE_MOSTLY_Q4_0
    "q5_0": _QNT_VERSION * _QNT_VERSION_FACTOR + 8,  # GGML_FTYPE_MOSTLY_Q5_0
    "q5_1": _QNT_VERSION * _QNT_VERSION_FACTOR + 9,  # GGML_FTYPE_MOSTLY_Q5_1
    "q8_0": _QNT_VERSION * _QNT_VERSION_FACTOR + 7,  # GGML_FTYPE_MOSTLY_Q8_0
}
"""The ``ftype`` hparam a whisper.cpp file carries for each precision name."""

_QK = 32  # weights per block for every quantized type here

#: bytes per block (per element for F32/F16)
_BLOCK_NBYTES: dict[GGMLType, int] = {
    GGMLType.F32: 4,
    GGMLType.F16: 2,
    GGMLType.Q4_0: 2 + _QK // 2,
    GGMLType.Q4_1: 2 + 2 + _QK // 2,
    GGMLType.Q5_0: 2 + 4 + _QK // 2,
    GGMLType.Q5_1: 2 + 2 + 4 + _QK // 2,
    GGMLType.Q8_0: 2 + _QK,
}

#: blocks handled per vectorised step (bounds temporary memory to a few tens of MB)
_CHUNK_BLOCKS = 1 << 16

_F32 = np.float32
_HALF = np.dtype("<f2")
_U32LE = np.dtype("<u4")


def _as_type(t: GGMLType | int) -> GGMLType:
    try:
        return GGMLType(t)
    except ValueError:
        raise ValueError(f"unsupported ggml type id: {t!r}") from None


def block_size(t: GGMLType) -> int:
    """Number of elements in one block of type ``t`` (32 for quantized types, 1 for floats).

    Example:
        >>> block_size(GGMLType.Q5_1), block_size(GGMLType.F16)
        (32, 1)
    """
    t = _as_type(t)
    return 1 if t in (GGMLType.F32, GGMLType.F16) else _QK


def row_nbytes(t: GGMLType, n: int) -> int:
    """Size in bytes of a row of ``n`` elements stored as type ``t``.

    Raises:
        ValueError: if ``n`` is negative or not a multiple of ``block_size(t)``.

    Example:
        >>> row_nbytes(GGMLType.Q4_0, 384), row_nbytes(GGMLType.F16, 3)
        (216, 6)
    """
    t = _as_type(t)
    bs = block_size(t)
    if n < 0 or n % bs:
        raise ValueError(f"row of {n} elements is not a whole number of {t.name} blocks ({bs})")
    return (n // bs) * _BLOCK_NBYTES[t]


# ---------------------------------------------------------------------------------------------
# helpers reproducing C semantics in float32


def _reciprocal(d: F32Array) -> F32Array:
    """``d ? 1.0f/d : 0.0f`` elementwise, in float32."""
    out = np.zeros_like(d)
    with np.errstate(over="ignore"):  # 1/d of a subnormal d overflows to inf in C too
        np.divide(_F32(1.0), d, out=out, where=d != 0)
    return out


def _to_int_trunc(v: F32Array) -> npt.NDArray[np.int32]:
    """C ``(int8_t)(float)`` conversion: truncation toward zero.

    Only a block whose scale is so small (absmax below ~1e-37) that ``1/d`` overflows to
    infinity produces non-finite values here. C leaves that conversion undefined; x86 builds of
    ggml (``cvttss2si``, then the low byte) yield code 0, which is reproduced on every platform.
    """
    finite = np.isfinite(v)
    return np.where(finite, v, _F32(0.0)).astype(np.int32)


def _half_bytes(v: F32Array) -> U8Array:
    """fp32 -> fp16 (round to nearest even, like ``GGML_FP32_TO_FP16``), as (n, 2) bytes."""
    with np.errstate(over="ignore"):
        h = v.astype(_HALF)
    return h.view(np.uint8).reshape(-1, 2)


def _pack_nibbles(q: npt.NDArray[np.int32]) -> U8Array:
    """Low nibble of weight j and of weight j+16 into byte j (j < 16)."""
    lo = q[:, : _QK // 2] & 0x0F
    hi = q[:, _QK // 2 :] & 0x0F
    return (lo | (hi << 4)).astype(np.uint8)


def _pack_high_bits(q: npt.NDArray[np.int32]) -> U8Array:
    """Bit 4 of weight j into bit j of a little-endian uint32, as (n, 4) bytes."""
    bits = ((q >> 4) & 1).astype(np.uint32)
    shifts = np.arange(_QK, dtype=np.uint32)
    qh = np.asarray(np.bitwise_or.reduce(bits << shifts, axis=1), dtype=np.uint32)
    return qh.astype(_U32LE).view(np.uint8).reshape(-1, 4)


def _first_signed_absmax(x: F32Array) -> F32Array:
    """Per block: the first element of largest magnitude, keeping its sign (+0 if all zero).

    Mirrors ``if (amax < fabsf(v)) { amax = fabsf(v); max = v; }`` starting from 0.
    """
    idx = np.argmax(np.abs(x), axis=1)  # argmax returns the first maximum, as the C loop
    vmax = np.take_along_axis(x, idx[:, None], axis=1)[:, 0]
    # an all-zero block never enters the branch: max stays +0.0f even if x holds -0.0f
    return np.where(vmax == 0, _F32(0.0), vmax).astype(_F32)


def _first_min_max(x: F32Array) -> tuple[F32Array, F32Array]:
    """Per block min and max as the C loop finds them (first of equal values, so ±0 kept)."""
    i_min = np.argmin(x, axis=1)
    i_max = np.argmax(x, axis=1)
    vmin = np.take_along_axis(x, i_min[:, None], axis=1)[:, 0]
    vmax = np.take_along_axis(x, i_max[:, None], axis=1)[:, 0]
    return vmin, vmax


# ---------------------------------------------------------------------------------------------
# block quantizers: (nblocks, 32) float32 -> (nblocks, block bytes) uint8


def _q_sym(x: F32Array, levels: int) -> tuple[U8Array, npt.NDArray[np.int32]]:
    """Shared part of Q4_0 (levels=16) and Q5_0 (levels=32): fp16 d bytes and int codes."""
    half = levels // 2
    vmax = _first_signed_absmax(x)
    d = (vmax / _F32(-half)).astype(_F32)
    inv = _reciprocal(d)
    with np.errstate(invalid="ignore", over="ignore"):
        v = (x * inv[:, None]) + _F32(half + 0.5)
    q = np.minimum(levels - 1, _to_int_trunc(v))
    return _half_bytes(d), q


def _q_asym(x: F32Array, levels: int) -> tuple[U8Array, U8Array, npt.NDArray[np.int32]]:
    """Shared part of Q4_1 (levels=16) and Q5_1 (levels=32): d and m bytes, int codes."""
    vmin, vmax = _first_min_max(x)
    with np.errstate(over="ignore"):
        d = ((vmax - vmin) / _F32(levels - 1)).astype(_F32)
    inv = _reciprocal(d)
    with np.errstate(invalid="ignore", over="ignore"):
        v = ((x - vmin[:, None]) * inv[:, None]) + _F32(0.5)
    q = _to_int_trunc(v)
    if levels == 16:  # Q4_1 clamps with MIN(15, .); Q5_1 does not clamp
        q = np.minimum(15, q)
    return _half_bytes(d), _half_bytes(vmin), q


def _quant_q4_0(x: F32Array) -> U8Array:
    d, q = _q_sym(x, 16)
    return np.concatenate([d, _pack_nibbles(q)], axis=1)


def _quant_q4_1(x: F32Array) -> U8Array:
    d, m, q = _q_asym(x, 16)
    return np.concatenate([d, m, _pack_nibbles(q)], axis=1)


def _quant_q5_0(x: F32Array) -> U8Array:
    d, q = _q_sym(x, 32)
    return np.concatenate([d, _pack_high_bits(q), _pack_nibbles(q)], axis=1)


def _quant_q5_1(x: F32Array) -> U8Array:
    d, m, q = _q_asym(x, 32)
    return np.concatenate([d, m, _pack_high_bits(q), _pack_nibbles(q)], axis=1)


def _quant_q8_0(x: F32Array) -> U8Array:
    amax = np.abs(x).max(axis=1)
    d = (amax / _F32(127)).astype(_F32)
    inv = _reciprocal(d)
    with np.errstate(invalid="ignore", over="ignore"):
        v = x * inv[:, None]  # float32 product, as in C
    # roundf: halves away from zero. |v| <= ~127 here, so in float64 v + copysign(0.5, v) is
    # exact whenever |v| >= 2**-29 (and harmlessly rounded below that): trunc of it is exactly
    # roundf(v). In float32, 0.49999997 + 0.5 would round up to 1.
    v64 = np.where(np.isfinite(v), v, _F32(0.0)).astype(np.float64)  # see _to_int_trunc
    q = np.trunc(v64 + np.copysign(0.5, v64)).astype(np.int8)
    return np.concatenate([_half_bytes(d), q.view(np.uint8)], axis=1)


_QUANTIZERS: dict[GGMLType, Callable[[F32Array], U8Array]] = {
    GGMLType.Q4_0: _quant_q4_0,
    GGMLType.Q4_1: _quant_q4_1,
    GGMLType.Q5_0: _quant_q5_0,
    GGMLType.Q5_1: _quant_q5_1,
    GGMLType.Q8_0: _quant_q8_0,
}


def _check_shape(shape: tuple[int, ...], t: GGMLType) -> None:
    if len(shape) == 0:
        raise ValueError("cannot quantize a 0-d array: need at least one axis")
    if any(s < 0 for s in shape):
        raise ValueError(f"invalid shape {shape}")
    bs = block_size(t)
    if shape[-1] % bs:
        raise ValueError(
            f"last dimension {shape[-1]} of shape {shape} is not a multiple of the "
            f"{t.name} block size {bs}"
        )


def quantize(data: npt.ArrayLike, t: GGMLType) -> bytes:
    """Encode a float array as ggml type ``t``, byte-identical to ``ggml_quantize_chunk``.

    Rows run along the last axis (C order), exactly as ggml lays out a tensor whose ``ne[0]``
    is the last numpy dimension. ``F32``/``F16`` are plain little-endian conversions
    (round to nearest even for F16).

    Args:
        data: real-valued array of any shape; converted to float32 first. Its last
            dimension must be a multiple of ``block_size(t)``.
        t: target ggml type.

    Returns:
        The raw tensor bytes, ``prod(shape[:-1]) * row_nbytes(t, shape[-1])`` long.

    Raises:
        ValueError: for a 0-d array, a last dimension that is not a whole number of blocks,
            or non-finite values with a quantized type (ggml's behaviour is undefined there).
        TypeError: for non-real input (e.g. complex).

    Example:
        >>> import numpy as np
        >>> raw = quantize(np.ones((3, 64), dtype=np.float32), GGMLType.Q4_0)
        >>> len(raw)  # 3 rows x 2 blocks x 18 bytes
        108
    """
    t = _as_type(t)
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"expected real-valued data, got dtype {arr.dtype}")
    _check_shape(arr.shape, t)
    x = np.ascontiguousarray(arr, dtype=_F32)
    if t == GGMLType.F32:
        return x.astype("<f4", copy=False).tobytes()
    if t == GGMLType.F16:
        with np.errstate(over="ignore"):
            return x.astype(_HALF).tobytes()

    blocks = x.reshape(-1, _QK)
    fn = _QUANTIZERS[t]
    out = np.empty((blocks.shape[0], _BLOCK_NBYTES[t]), dtype=np.uint8)
    for start in range(0, blocks.shape[0], _CHUNK_BLOCKS):
        chunk = blocks[start : start + _CHUNK_BLOCKS]
        if not np.isfinite(chunk).all():
            raise ValueError(f"cannot quantize non-finite values to {t.name}")
        out[start : start + _CHUNK_BLOCKS] = fn(chunk)
    return out.tobytes()


def dequantize(raw: bytes, t: GGMLType, shape: tuple[int, ...]) -> F32Array:
    """Decode ggml bytes of type ``t`` back to a float32 array of ``shape``.

    Mirrors ggml's ``dequantize_row_*``: Q4_0 ``(q-8)*d``, Q5_0 ``(q-16)*d``,
    Q4_1/Q5_1 ``q*d + m``, Q8_0 ``q*d``.

    Raises:
        ValueError: if the shape is not a whole number of blocks per row or ``raw`` has the
            wrong length.

    Example:
        >>> import numpy as np
        >>> x = np.arange(32, dtype=np.float32)
        >>> y = dequantize(quantize(x, GGMLType.Q8_0), GGMLType.Q8_0, (32,))
        >>> bool(np.abs(y - x).max() <= 31 / 127 / 2 + 1e-3)
        True
    """
    t = _as_type(t)
    shape = tuple(int(s) for s in shape)
    _check_shape(shape, t)
    n = int(np.prod(shape, dtype=np.int64))
    expected = (n // shape[-1]) * row_nbytes(t, shape[-1]) if shape[-1] else 0
    if len(raw) != expected:
        raise ValueError(
            f"{t.name} data for shape {shape} must be {expected} bytes, got {len(raw)}"
        )
    if t == GGMLType.F32:
        return np.frombuffer(raw, dtype="<f4").astype(_F32).reshape(shape)
    if t == GGMLType.F16:
        return np.frombuffer(raw, dtype=_HALF).astype(_F32).reshape(shape)

    with np.errstate(invalid="ignore", over="ignore"):  # inf scales give NaN, as in ggml
        return _dequantize_blocks(raw, t).reshape(shape)


def _dequantize_blocks(raw: bytes, t: GGMLType) -> F32Array:
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK_NBYTES[t])
    d = b[:, 0:2].copy().view(_HALF)[:, 0].astype(_F32)
    if t == GGMLType.Q8_0:
        q8 = b[:, 2:].view(np.int8).astype(_F32)
        return q8 * d[:, None]

    has_min = t in (GGMLType.Q4_1, GGMLType.Q5_1)
    has_qh = t in (GGMLType.Q5_0, GGMLType.Q5_1)
    pos = 4 if has_min else 2
    m = b[:, 2:4].copy().view(_HALF)[:, 0].astype(_F32) if has_min else None
    qh_bits: npt.NDArray[np.int32] | None = None
    if has_qh:
        qh = b[:, pos : pos + 4].copy().view(_U32LE)[:, 0].astype(np.int64)
        qh_bits = ((qh[:, None] >> np.arange(_QK, dtype=np.int64)) & 1).astype(np.int32)
        pos += 4
    nib = b[:, pos:].astype(np.int32)
    q = np.concatenate([nib & 0x0F, nib >> 4], axis=1)
    if qh_bits is not None:
        q |= qh_bits << 4
    qf = q.astype(_F32)
    if m is not None:
        out = qf * d[:, None] + m[:, None]
    else:
        offset = _F32(8 if t == GGMLType.Q4_0 else 16)
        out = (qf - offset) * d[:, None]
    return out.astype(_F32, copy=False)
