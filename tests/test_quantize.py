"""livewhisper.models.quantize against ggml's own quantizer (libggml-base from pywhispercpp).

Every byte-identity test compares our numpy output with ``ggml_quantize_chunk`` called through
ctypes on the very library whisper.cpp uses, so a wrong rounding rule, float64 promotion,
packing order or block layout shows up as a byte mismatch.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import zlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from conftest import count_calls

from livewhisper.models.quantize import (
    FTYPE,
    QUANT_TYPES,
    GGMLType,
    block_size,
    dequantize,
    quantize,
    row_nbytes,
)

F32Array = npt.NDArray[np.float32]

QUANTS = [GGMLType.Q4_0, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0]
ALL_QUANTS = [*QUANTS, GGMLType.Q4_1]
ALL_TYPES = [GGMLType.F32, GGMLType.F16, *ALL_QUANTS]


# ---------------------------------------------------------------------------------------------
# ggml through ctypes


def _find_libggml_base() -> str:
    spec = importlib.util.find_spec("_pywhispercpp")
    if spec is None or spec.origin is None:
        pytest.fail("_pywhispercpp extension module not found (pywhispercpp not installed?)")
    here = os.path.dirname(spec.origin)
    patterns = [
        os.path.join(here, "pywhispercpp.libs", "libggml-base*.so*"),  # auditwheel-repaired
        os.path.join(here, "libggml-base*.so*"),
        os.path.join(here, "pywhispercpp", ".dylibs", "libggml-base*.dylib"),
        os.path.join(here, "libggml-base*.dylib"),
    ]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    pytest.fail(f"libggml-base not found next to {spec.origin}")


class _TypeTraits(ctypes.Structure):
    # struct ggml_type_traits (ggml.h, ggml 0.13)
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class Ggml:
    """The few ggml entry points the tests need."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        # size_t ggml_quantize_chunk(enum ggml_type type, const float * src, void * dst,
        #     int64_t start, int64_t nrows, int64_t n_per_row, const float * imatrix);
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
        ]
        lib.ggml_quantize_init.restype = None
        lib.ggml_quantize_init.argtypes = [ctypes.c_int]
        lib.ggml_row_size.restype = ctypes.c_size_t
        lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        lib.ggml_blck_size.restype = ctypes.c_int64
        lib.ggml_blck_size.argtypes = [ctypes.c_int]
        lib.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        self.lib = lib

    def quantize(self, x: npt.ArrayLike, t: GGMLType) -> bytes:
        a = np.ascontiguousarray(x, dtype=np.float32)
        n_per_row = a.shape[-1]
        nrows = a.size // n_per_row
        nbytes = nrows * self.lib.ggml_row_size(int(t), n_per_row)
        out = np.full(nbytes + 64, 0xAB, dtype=np.uint8)  # canary tail
        self.lib.ggml_quantize_init(int(t))
        written = self.lib.ggml_quantize_chunk(
            int(t), a.ctypes.data, out.ctypes.data, 0, nrows, n_per_row, None
        )
        assert written == nbytes
        assert (out[nbytes:] == 0xAB).all(), "ggml wrote past the expected size"
        return out[:nbytes].tobytes()

    def traits(self, t: GGMLType) -> _TypeTraits:
        traits: _TypeTraits = self.lib.ggml_get_type_traits(int(t)).contents
        return traits

    def dequantize(self, raw: bytes, t: GGMLType, n: int) -> F32Array:
        to_float = _TO_FLOAT(self.traits(t).to_float)
        src = np.frombuffer(raw, dtype=np.uint8).copy()
        out = np.zeros(n, dtype=np.float32)
        to_float(src.ctypes.data, out.ctypes.data, n)
        return out


@pytest.fixture(scope="module")
def ggml() -> Ggml:
    return Ggml(_find_libggml_base())


def assert_identical(ours: bytes, theirs: bytes, t: GGMLType) -> None:
    """Byte equality, with a readable report of the first differing blocks."""
    assert len(ours) == len(theirs)
    if ours == theirs:
        return
    bs = row_nbytes(t, block_size(t)) if t not in (GGMLType.F32, GGMLType.F16) else 1
    a = np.frombuffer(ours, np.uint8).reshape(-1, bs)
    b = np.frombuffer(theirs, np.uint8).reshape(-1, bs)
    bad = np.flatnonzero((a != b).any(axis=1))
    pytest.fail(
        f"{t.name}: {bad.size} of {a.shape[0]} blocks differ; first {bad[:3].tolist()}: "
        f"ours {a[bad[0]].tolist()} ggml {b[bad[0]].tolist()}"
    )


# ---------------------------------------------------------------------------------------------
# inputs


def _ties(t: GGMLType, rng: np.random.Generator, nblocks: int = 512) -> F32Array:
    """Blocks whose scale d is an exact power of two and whose values sit exactly on the
    rounding/truncation boundaries (and one float32 ulp either side of them)."""
    e = rng.integers(-12, 12, size=(nblocks, 1)).astype(np.float32)
    scale = np.float32(2.0) ** e
    rows = np.arange(nblocks)
    if t == GGMLType.Q8_0:  # amax 127*s -> d = s; x*id = k + 0.5: roundf's ties
        grid = rng.integers(-127, 127, size=(nblocks, 32)).astype(np.float32) + np.float32(0.5)
        grid[rows, rng.integers(0, 32, size=nblocks)] = np.where(
            rng.random(nblocks) < 0.5, 127, -127
        )
    elif t in (GGMLType.Q4_0, GGMLType.Q5_0):  # max = -+lim*s -> d = +-s
        # x*id + lim + 0.5 is an integer or a half: the truncation boundary and its midpoint
        lim = 8 if t == GGMLType.Q4_0 else 16
        grid = rng.integers(-2 * lim, 2 * lim + 1, size=(nblocks, 32)).astype(np.float32) / 2
        sign = np.where(rng.random(nblocks) < 0.5, -1.0, 1.0).astype(np.float32)
        grid[rows, rng.integers(0, 32, size=nblocks)] = sign * lim
    else:  # Q4_1 / Q5_1: max - min = top*s -> d = s; (x - min)*id + 0.5 an integer
        top = 15 if t == GGMLType.Q4_1 else 31
        lo = rng.integers(-top, 1, size=(nblocks, 1)).astype(np.float32)
        off = rng.integers(0, top, size=(nblocks, 32)).astype(np.float32) + np.float32(0.5)
        off[:, 0] = 0
        off[:, 1] = top
        grid = lo + off
    exact = (grid * scale).astype(np.float32)
    # nudge a third of the values one ulp down and a third one ulp up, keeping the block
    # extremes (which fix d) exact so that d stays a power of two
    amax = np.abs(exact).max(axis=1, keepdims=True)
    keep = (np.abs(exact) == amax) | (exact == exact.min(axis=1, keepdims=True))
    r = np.where(keep, 0.5, rng.random(exact.shape))
    x = np.where(r < 1 / 3, np.nextafter(exact, np.float32(-np.inf)), exact)
    x = np.where(r > 2 / 3, np.nextafter(exact, np.float32(np.inf)), x)
    return x.astype(np.float32).reshape(-1, 256)


def _near_ties(t: GGMLType, rng: np.random.Generator, nblocks: int = 1024) -> F32Array:
    """Arbitrary (inexact) scales, values computed in float32 as (k + 0.5) * d, so that
    x * id lands within an ulp or two of a rounding boundary: needs exact float32 arithmetic."""
    amax = (rng.random((nblocks, 1)) * 10 + 0.01).astype(np.float32)
    if t == GGMLType.Q8_0:
        d = amax / np.float32(127)
        k = rng.integers(-127, 127, size=(nblocks, 32)).astype(np.float32)
        x = (k + np.float32(0.5)) * d
        x[:, 0] = amax[:, 0]
    elif t in (GGMLType.Q4_0, GGMLType.Q5_0):
        lim = 8 if t == GGMLType.Q4_0 else 16
        d = amax / np.float32(-lim)
        k = rng.integers(-lim, lim, size=(nblocks, 32)).astype(np.float32)
        x = (k + np.float32(0.5)) * d
        x[:, 0] = amax[:, 0]
    else:
        top = 15 if t == GGMLType.Q4_1 else 31
        lo = -amax / 2
        d = (amax - lo) / np.float32(top)
        k = rng.integers(0, top, size=(nblocks, 32)).astype(np.float32)
        x = lo + (k + np.float32(0.5)) * d
        x[:, 0] = lo[:, 0]
        x[:, 1] = amax[:, 0]
    x = x.astype(np.float32)
    jitter = rng.integers(-2, 3, size=x.shape)
    for step in (1, 2):
        x = np.where(jitter >= step, np.nextafter(x, np.float32(np.inf)), x)
        x = np.where(jitter <= -step, np.nextafter(x, np.float32(-np.inf)), x)
    return x.astype(np.float32).reshape(-1, 512)


def _zeros() -> F32Array:
    z = np.zeros((8, 64), dtype=np.float32)
    z[1] = -0.0
    z[2, ::2] = -0.0  # alternating signs of zero
    z[3, 1::3] = -0.0
    z[4, :32] = -0.0  # first block -0, second +0
    z[5, 5] = 1.0  # a single non-zero value among zeros
    z[6, 40] = -3.0
    z[7, 0] = -0.0
    z[7, 31] = 2.0
    return z


def _signed_extremes(rng: np.random.Generator) -> F32Array:
    """Equal magnitudes of both signs in one block: ggml keeps the first one it meets,
    which decides the sign of d for Q4_0/Q5_0; repeated minima/maxima for Q4_1/Q5_1."""
    x = (rng.standard_normal((256, 32)) * 0.1).astype(np.float32)
    i = rng.integers(0, 32, size=256)
    j = (i + rng.integers(1, 32, size=256)) % 32
    a = (rng.random(256) + 1).astype(np.float32)
    x[np.arange(256), i] = a
    x[np.arange(256), j] = -a
    x[::3, :] = np.round(x[::3, :] * 4) / 4  # many repeated values, incl. repeated min/max
    return x.reshape(-1, 128)


def _magnitudes(rng: np.random.Generator) -> F32Array:
    base = rng.standard_normal((16, 64))
    rows = [
        base * 1e4,  # fp16 scale still finite for q8_0, overflows for q4_0 (d > 65504)
        base * 1e6,
        base * 1e30,
        base * 3e37,  # near FLT_MAX: max - min overflows for Q4_1/Q5_1
        base * 1e-5,  # fp16 d becomes subnormal
        base * 1e-9,  # fp16 d flushes to zero
        base * 1e-30,
        base * 1e-38,  # subnormal d: 1/d overflows to inf in float32
        base * 1e-43,  # float32 subnormal inputs
        np.full((16, 64), 65504.0 * 127),  # fp16 overflow exactly at the boundary
    ]
    return np.concatenate(rows).astype(np.float32)


CASES: dict[str, Callable[[GGMLType, np.random.Generator], F32Array]] = {
    "normal": lambda t, rng: rng.standard_normal((64, 256)).astype(np.float32),
    "weights": lambda t, rng: (rng.standard_normal((96, 512)) * 0.02).astype(np.float32),
    "uniform_shifted": lambda t, rng: (rng.random((64, 256)) * 3 + 1).astype(np.float32),
    "ties": _ties,
    "near_ties": _near_ties,
    "zeros": lambda t, rng: _zeros(),
    "signed_extremes": lambda t, rng: _signed_extremes(rng),
    "magnitudes": lambda t, rng: _magnitudes(rng),
    "small_ints": lambda t, rng: rng.integers(-40, 41, size=(32, 128)).astype(np.float32),
}


# ---------------------------------------------------------------------------------------------
# byte identity with ggml


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.name)
def test_identical_to_ggml(ggml: Ggml, t: GGMLType, case: str) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{case}/{t.name}".encode()))
    x = CASES[case](t, rng)
    assert x.dtype == np.float32
    assert_identical(quantize(x, t), ggml.quantize(x, t), t)


@pytest.mark.parametrize("t", QUANTS, ids=lambda t: t.name)
def test_ties_are_really_ties(t: GGMLType) -> None:
    """Guard the edge-case generator: it must put many values exactly on a boundary."""
    x = _ties(t, np.random.default_rng(0)).reshape(-1, 32)
    if t == GGMLType.Q8_0:
        v = x / (np.abs(x).max(axis=1, keepdims=True) / np.float32(127))
        frac = np.abs(v) % 1
    elif t in (GGMLType.Q4_0, GGMLType.Q5_0):
        lim = 8 if t == GGMLType.Q4_0 else 16
        v = x / (np.abs(x).max(axis=1, keepdims=True) / np.float32(lim)) + np.float32(lim + 0.5)
        frac = np.abs(v) % 1
        frac = np.where(frac == 0, 0.5, frac)  # exact integers are the truncation boundary
    else:
        lo = x.min(axis=1, keepdims=True)
        v = (x - lo) / ((x.max(axis=1, keepdims=True) - lo) / np.float32(31)) + np.float32(0.5)
        frac = np.where(np.abs(v) % 1 == 0, 0.5, np.abs(v) % 1)
    assert np.mean(frac == 0.5) > 0.15


def test_real_tensor_shape(ggml: Ggml) -> None:
    """An encoder MLP weight of whisper base (384 x 1536), every precision."""
    rng = np.random.default_rng(384)
    w = (rng.standard_normal((384, 1536)) * 0.03).astype(np.float32)
    w[7] = 0.0
    for t in ALL_TYPES:
        assert_identical(quantize(w, t), ggml.quantize(w, t), t)


def test_token_embedding_shape_is_vectorised_and_identical(ggml: Ggml) -> None:
    """whisper base's token embedding (51865 x 512): the largest tensor to convert."""
    rng = np.random.default_rng(51865)
    w = (rng.standard_normal((51865, 512), dtype=np.float32) * 0.02).astype(np.float32)
    blocks = w.size // 32
    for t in (GGMLType.Q8_0, GGMLType.Q5_1):
        ours, calls = count_calls(lambda: quantize(w, t))  # noqa: B023 (called at once)
        assert_identical(ours, ggml.quantize(w, t), t)
        # Fast because vectorised: a few hundred calls per chunk of 65,536 blocks, where
        # a loop over rows or blocks would make one or more per block (829,840 here).
        assert calls < blocks / 100, f"{t.name}: {calls} calls for {blocks} blocks"


def test_any_layout_is_read_in_c_order(ggml: Ggml) -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((96, 64)).astype(np.float32)
    views = [base.T, base[:, ::-1], base.reshape(2, 3, 16, 64), base.reshape(-1)]
    for x in views:
        for t in (GGMLType.Q4_0, GGMLType.Q8_0):
            assert_identical(quantize(x, t), ggml.quantize(np.ascontiguousarray(x), t), t)
    x64 = rng.standard_normal((4, 64))  # float64 input is rounded to float32 first
    assert quantize(x64, GGMLType.Q5_1) == ggml.quantize(x64.astype(np.float32), GGMLType.Q5_1)


def test_dequantize_matches_ggml(ggml: Ggml) -> None:
    rng = np.random.default_rng(9)
    x = np.concatenate(
        [rng.standard_normal((32, 256)), _magnitudes(rng)[:64, :].reshape(-1, 256)]
    ).astype(np.float32)
    for t in [*ALL_QUANTS, GGMLType.F16]:
        raw = quantize(x, t)
        ours = dequantize(raw, t, x.shape)
        theirs = ggml.dequantize(raw, t, x.size).reshape(x.shape)
        assert ours.dtype == np.float32 and ours.shape == x.shape
        np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


# ---------------------------------------------------------------------------------------------
# round trip


@pytest.mark.parametrize("t", ALL_QUANTS, ids=lambda t: t.name)
def test_round_trip_error_bound(t: GGMLType) -> None:
    rng = np.random.default_rng(int(t))
    x = (rng.standard_normal((128, 512)) * 0.05).astype(np.float32)
    back = dequantize(quantize(x, t), t, x.shape)
    err = np.abs(back - x).astype(np.float64).reshape(-1, 32)
    blocks = x.astype(np.float64).reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    fp16_eps = 2.0**-11
    if t == GGMLType.Q8_0:
        d = amax / 127
        bound = d * (0.5 + 127 * fp16_eps) * 1.001
    elif t in (GGMLType.Q4_0, GGMLType.Q5_0):
        lim = 8 if t == GGMLType.Q4_0 else 16
        d = amax / lim
        # the value opposite in sign to the extreme maps to +lim, clamped to lim-1: one step
        bound = d * (1 + lim * fp16_eps) * 1.001
    else:
        lo, hi = blocks.min(axis=1), blocks.max(axis=1)
        top = 15 if t == GGMLType.Q4_1 else 31
        d = (hi - lo) / top
        bound = (d * (0.5 + top * fp16_eps) + np.abs(lo) * fp16_eps) * 1.001
    assert (err <= bound[:, None]).all()
    # and the error is of the expected size, not trivially small (q = 0 everywhere, etc.)
    rel = np.sqrt(np.mean((back - x) ** 2)) / np.sqrt(np.mean(x**2))
    expected = {
        GGMLType.Q8_0: (0.002, 0.02),
        GGMLType.Q5_1: (0.01, 0.06),
        GGMLType.Q5_0: (0.01, 0.08),
        GGMLType.Q4_1: (0.03, 0.15),
        GGMLType.Q4_0: (0.03, 0.20),
    }[t]
    assert expected[0] < rel < expected[1]


def test_round_trip_exact_on_grid() -> None:
    x = np.clip(np.arange(-128, 128, dtype=np.float32), -127, 127).reshape(8, 32)
    x[:, 0] = 127  # every block: amax 127 -> d = 1 exactly, integers are exact
    np.testing.assert_array_equal(dequantize(quantize(x, GGMLType.Q8_0), GGMLType.Q8_0, x.shape), x)
    for t in (GGMLType.F16, GGMLType.F32):
        np.testing.assert_array_equal(dequantize(quantize(x, t), t, x.shape), x)


def test_q8_0_rounds_halves_away_from_zero() -> None:
    x = np.zeros(32, dtype=np.float32)
    x[0] = 127.0  # d = 1
    x[1:6] = [0.5, -0.5, 2.5, -2.5, np.nextafter(np.float32(0.5), np.float32(0))]
    q = np.frombuffer(quantize(x, GGMLType.Q8_0), dtype=np.int8)[2:]
    assert q[:6].tolist() == [127, 1, -1, 3, -3, 0]


def test_all_zero_block_has_negative_zero_scale() -> None:
    """ggml computes d = 0.0f / -8 = -0.0f for an all-zero Q4_0 block (fp16 0x8000)."""
    raw = quantize(np.zeros(32, dtype=np.float32), GGMLType.Q4_0)
    assert raw == bytes([0x00, 0x80]) + bytes([0x88] * 16)


# ---------------------------------------------------------------------------------------------
# sizes, constants, errors


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.name)
def test_sizes_match_ggml(ggml: Ggml, t: GGMLType) -> None:
    assert block_size(t) == ggml.lib.ggml_blck_size(int(t))
    traits = ggml.traits(t)
    assert traits.type_name.decode() == t.name.lower()
    for n in (0, 32, 384, 512, 1536):
        assert row_nbytes(t, n) == ggml.lib.ggml_row_size(int(t), n)


def test_constants() -> None:
    assert {t.name: int(t) for t in GGMLType} == {
        "F32": 0,
        "F16": 1,
        "Q4_0": 2,
        "Q4_1": 3,
        "Q5_0": 6,
        "Q5_1": 7,
        "Q8_0": 8,
    }
    assert QUANT_TYPES == {
        "q4_0": GGMLType.Q4_0,
        "q5_0": GGMLType.Q5_0,
        "q5_1": GGMLType.Q5_1,
        "q8_0": GGMLType.Q8_0,
    }
    assert FTYPE == {"f32": 0, "f16": 1, "q4_0": 2002, "q5_0": 2008, "q5_1": 2009, "q8_0": 2007}
    # whisper.cpp splits the stored ftype as (qntvr, ftype) = divmod(ftype, 1000)
    assert all(
        divmod(v, 1000) in ((0, 0), (0, 1), (2, 2), (2, 7), (2, 8), (2, 9)) for v in FTYPE.values()
    )


@pytest.mark.parametrize("t", ALL_QUANTS, ids=lambda t: t.name)
def test_bad_shapes_raise(t: GGMLType) -> None:
    with pytest.raises(ValueError, match="multiple"):
        quantize(np.zeros((4, 33), dtype=np.float32), t)
    with pytest.raises(ValueError, match="multiple"):
        quantize(np.zeros((64, 48), dtype=np.float32), t)
    with pytest.raises(ValueError):
        quantize(np.float32(1.0), t)
    with pytest.raises(ValueError):
        row_nbytes(t, 33)
    with pytest.raises(ValueError):
        row_nbytes(t, -32)
    with pytest.raises(ValueError):
        dequantize(b"\x00" * row_nbytes(t, 64), t, (2, 33))
    with pytest.raises(ValueError, match="bytes"):
        dequantize(b"\x00" * (row_nbytes(t, 64) - 1), t, (1, 64))


def test_float_types_accept_any_row_length() -> None:
    x = np.arange(33, dtype=np.float32)
    assert len(quantize(x, GGMLType.F16)) == 66
    assert row_nbytes(GGMLType.F32, 33) == 132
    np.testing.assert_array_equal(dequantize(quantize(x, GGMLType.F32), GGMLType.F32, (33,)), x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(bad: float) -> None:
    x = np.zeros((2, 64), dtype=np.float32)
    x[1, 40] = bad
    for t in QUANTS:
        with pytest.raises(ValueError, match="non-finite"):
            quantize(x, t)


def test_complex_input_rejected() -> None:
    with pytest.raises(TypeError):
        quantize(np.zeros(32, dtype=np.complex64), GGMLType.Q8_0)
