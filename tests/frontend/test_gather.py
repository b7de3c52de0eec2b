"""Indirect memory end to end: tl.load(X, idx) gathers, tl.store(X, idx, v) scatters,
tl.atomic_add(X, idx, v) scatter-adds, 1-D and per-axis (2-D) index tiles, against
numpy on the interpreter and the emulator (sm_80, sm_90a, gfx942); out-of-range
indices are masked; ptxas and hipcc accept the code; misuse is a CompileError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tests.codegen.test_hip import needs_hipcc
from tests.codegen.test_ptxas import needs_ptxas

TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"]


@tl.kernel
def gather1d(X: tl.Tensor, I: tl.Tensor, Y: tl.Tensor, n, B: tl.constexpr = 64):
    off = tl.program_id(0) * B
    m = off + tl.arange(0, B) < n
    idx = tl.load(I, (off,), (B,))
    tl.store(Y, (off,), tl.load(X, idx, mask=m, other=-7.0))


@tl.kernel
def gather_rows(X: tl.Tensor, R: tl.Tensor, Y: tl.Tensor, BR: tl.constexpr = 8,
                BC: tl.constexpr = 16):
    # embedding-style lookup: row indices per tile row, column indices per column
    r0 = tl.program_id(0) * BR
    rows = tl.reshape(tl.load(R, (r0,), (BR,)), (BR, 1))
    cols = tl.reshape(tl.arange(0, BC), (1, BC))
    tl.store(Y, (r0, 0), tl.load(X, (rows, cols)))


@tl.kernel
def scatter1d(X: tl.Tensor, I: tl.Tensor, V: tl.Tensor, n, B: tl.constexpr = 64):
    off = tl.program_id(0) * B
    m = off + tl.arange(0, B) < n
    tl.store(X, tl.load(I, (off,), (B,)), tl.load(V, (off,), (B,)), mask=m)


@tl.kernel
def histogram(X: tl.Tensor, I: tl.Tensor, V: tl.Tensor, n, B: tl.constexpr = 64):
    off = tl.program_id(0) * B
    m = off + tl.arange(0, B) < n
    tl.atomic_add(X, tl.load(I, (off,), (B,)), tl.load(V, (off,), (B,)), mask=m)


def _grid(n, b=64):
    return (-(-n // b),)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 200), size=st.integers(1, 100), seed=st.integers(0, 2**16))
def test_gather_matches_numpy_and_masks_out_of_range(target, n, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(np.float32)
    idx = rng.integers(-3, size + 3, n).astype(np.int32)
    y = np.zeros(n, np.float32)
    gather1d[_grid(n)](x, idx, y, n, target=target)
    ok = (idx >= 0) & (idx < size)
    np.testing.assert_array_equal(y, np.where(ok, x[np.clip(idx, 0, size - 1)], -7.0))


@pytest.mark.parametrize("target", TARGETS)
def test_per_axis_index_tiles_gather_rows(target):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 16)).astype(np.float32)
    rows = rng.integers(0, 30, 16).astype(np.int64)   # i64 indices work as i32 ones do
    rows[5] = 40                                      # out of range: other (zero)
    y = np.full((16, 16), np.nan, np.float32)
    gather_rows[(2,)](x, rows, y, target=target)
    want = x[np.clip(rows, 0, 29)]
    want[5] = 0.0
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 150), extra=st.integers(0, 20), seed=st.integers(0, 2**16))
def test_scatter_of_distinct_indices_matches_numpy(target, n, extra, seed):
    rng = np.random.default_rng(seed)
    size = n + extra
    idx = rng.permutation(size + 4)[:n].astype(np.int32) - 2   # distinct, some outside
    v = rng.standard_normal(n).astype(np.float32)
    x = np.zeros(size, np.float32)
    scatter1d[_grid(n)](x, idx, v, n, target=target)
    want = np.zeros(size, np.float32)
    ok = (idx >= 0) & (idx < size)
    want[idx[ok]] = v[ok]
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 300), bins=st.integers(1, 40), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.int32, np.float32]))
def test_scatter_add_with_repeated_indices_is_a_histogram(target, n, bins, seed, dtype):
    rng = np.random.default_rng(seed)
    idx = rng.integers(-2, bins + 2, n).astype(np.int32)
    v = rng.integers(-8, 9, n).astype(dtype)    # small integers: exact in any order
    x = np.zeros(bins, dtype)
    histogram[_grid(n)](x, idx, v, n, target=target)
    want = np.zeros(bins, dtype)
    ok = (idx >= 0) & (idx < bins)
    np.add.at(want, idx[ok], v[ok])
    np.testing.assert_array_equal(x, want)


KERNELS = [(gather1d, "X=f32[1],I=i32[1],Y=f32[1],n=i32"),
           (gather_rows, "X=bf16[2],R=i64[1],Y=bf16[2]"),
           (scatter1d, "X=f16[1],I=i32[1],V=f16[1],n=i32"),
           (histogram, "X=f32[1],I=i32[1],V=f32[1],n=i32")]


@needs_ptxas
@pytest.mark.parametrize("target", ["sm_80", "sm_90a"])
def test_ptxas_assembles_gathers_and_scatters(target):
    for k, sig in KERNELS:
        c = k.compile(sig, target=target)
        assert c.cubin[:4] == b"\x7fELF"
    assert "atom.global.add.f32" in histogram.compile(KERNELS[3][1], target=target).ptx


@needs_hipcc
@pytest.mark.slow
def test_hipcc_compiles_gathers_and_scatters():
    for k, sig in KERNELS:
        c = k.compile(sig, target="gfx942")
        assert c.code_object[:4] == b"\x7fELF"
        assert "warning" not in c.artifacts["hipcc_log"], c.artifacts["hipcc_log"]


@tl.kernel
def float_index(X: tl.Tensor, Y: tl.Tensor, B: tl.constexpr = 32):
    tl.store(Y, (0,), tl.load(X, tl.zeros((B,), tl.f32)))


@tl.kernel
def gather_with_shape(X: tl.Tensor, Y: tl.Tensor, B: tl.constexpr = 32):
    tl.store(Y, (0,), tl.load(X, tl.arange(0, B), (B,)))


@tl.kernel
def window_without_shape(X: tl.Tensor, Y: tl.Tensor):
    tl.store(Y, (0,), tl.load(X, (0,)))


def test_misuse_is_a_compile_error_naming_the_kernel():
    with pytest.raises(tl.CompileError, match="index tiles must be integers") as info:
        float_index.compile("X=f32[1],Y=f32[1]")
    assert "float_index" in str(info.value) and __file__ in str(info.value)
    with pytest.raises(tl.CompileError, match="takes no shape"):
        gather_with_shape.compile("X=f32[1],Y=f32[1]")
    with pytest.raises(tl.CompileError, match="needs its shape"):
        window_without_shape.compile("X=f32[1],Y=f32[1]")
