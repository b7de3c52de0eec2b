"""tl.gather / tl.scatter / tl.scatter_add (and tl.load/tl.store/tl.atomic_add at
index tiles) on every tier: the interpreter against numpy's advanced indexing,
the emulators against the interpreter, ptxas and hipcc."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tilelang.codegen.nvidia import ptxas

TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942", "emulate-ptx:sm_80",
           "emulate-ptx:sm_90a"]


@tl.kernel
def gather2d(X: tl.Tensor, R: tl.Tensor, C: tl.Tensor, Y: tl.Tensor, N: tl.constexpr):
    rows = tl.load(R, (0,), (N,))
    cols = tl.load(C, (0,), (N,))
    tl.store(Y, (0, 0), tl.gather(X, (rows[:, None], cols[None, :]), other=-7.0))


@tl.kernel
def gather_masked(X: tl.Tensor, I: tl.Tensor, Y: tl.Tensor, N: tl.constexpr):
    i = tl.load(I, (0,), (N,))
    tl.store(Y, (0,), tl.load(X, (i,), mask=i % 2 == 0))      # the index form of tl.load


@tl.kernel
def scatter_rows(X: tl.Tensor, P: tl.Tensor, Y: tl.Tensor, M: tl.constexpr, N: tl.constexpr):
    perm = tl.load(P, (0,), (M,))
    x = tl.load(X, (0, 0), (M, N))
    tl.scatter(Y, (perm[:, None], tl.arange(N)[None, :]), x)


@tl.kernel
def histogram(I: tl.Tensor, W: tl.Tensor, H: tl.Tensor, HI: tl.Tensor, N: tl.constexpr):
    i = tl.load(I, (0,), (N,))
    tl.scatter_add(H, (i,), tl.load(W, (0,), (N,)))
    tl.atomic_add(HI, (i,), 1)                                # the index form of atomic_add


def _gather_ref(x, rows, cols):
    r, c = rows[:, None], cols[None, :]
    ok = (r >= 0) & (r < x.shape[0]) & (c >= 0) & (c < x.shape[1])
    return np.where(ok, x[np.clip(r, 0, x.shape[0] - 1), np.clip(c, 0, x.shape[1] - 1)], -7.0)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.sampled_from([8, 32]))
def test_gather_is_numpys_advanced_indexing_with_bounds(seed, n, target):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    rows = rng.integers(-3, 9, n).astype(np.int32)
    cols = rng.integers(-2, 10, n).astype(np.int32)
    y = np.zeros((n, n), np.float32)
    gather2d[(1,)](x, rows, cols, y, N=n, target=target)
    np.testing.assert_array_equal(y, _gather_ref(x, rows, cols))


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_a_masked_gather_reads_zero(target):
    x = np.arange(10, dtype=np.float32) + 1
    i = np.array([0, 1, 2, 3, 9, 12, -2, 4], np.int32)
    y = np.full(8, 99, np.float32)
    gather_masked[(1,)](x, i, y, N=8, target=target)
    np.testing.assert_array_equal(y, [1, 0, 3, 0, 0, 0, 0, 5])


@pytest.mark.parametrize("target", TARGETS)
def test_scatter_permutes_rows_and_skips_out_of_bounds(target):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    perm = rng.permutation(16).astype(np.int32)
    perm[3] = 40                                   # out of bounds: row 3 is dropped
    y = np.zeros((16, 8), np.float32)
    scatter_rows[(1,)](x, perm, y, M=16, N=8, target=target)
    want = np.zeros_like(y)
    keep = perm < 16
    want[perm[keep]] = x[keep]
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("target", TARGETS)
def test_scatter_add_adds_every_duplicate(target):
    rng = np.random.default_rng(3)
    i = rng.integers(-2, 12, 64).astype(np.int32)
    w = rng.integers(-4, 5, 64).astype(np.float32)   # small integers: every order is exact
    h, hi = np.zeros(10, np.float32), np.zeros(10, np.int32)
    histogram[(1,)](i, w, h, hi, N=64, target=target)
    ok = (i >= 0) & (i < 10)
    np.testing.assert_array_equal(h, np.bincount(i[ok], w[ok], minlength=10))
    np.testing.assert_array_equal(hi, np.bincount(i[ok], minlength=10))


def test_errors_name_what_to_do():
    @tl.kernel
    def wrong_rank(X: tl.Tensor):
        tl.gather(X, (tl.arange(4),))
    with pytest.raises(tl.CompileError, match="needs 2 index tiles"):
        wrong_rank.compile("X=f32[2]")

    @tl.kernel
    def float_index(X: tl.Tensor):
        tl.gather(X, tl.arange(4).to(tl.f32))
    with pytest.raises(tl.CompileError, match="indices must be integers"):
        float_index.compile("X=f32[1]")

    @tl.kernel
    def no_shape(X: tl.Tensor):
        tl.load(X, (0,))
    with pytest.raises(tl.CompileError, match="needs a window shape"):
        no_shape.compile("X=f32[1]")


SIGS = {gather2d: ("X=f32[2]:16,R=i32[1]:16,C=i32[1]:16,Y=f32[2]:16", {"N": 32}),
        scatter_rows: ("X=bf16[2]:16,P=i32[1]:16,Y=bf16[2]:16", {"M": 32, "N": 16}),
        histogram: ("I=i32[1]:16,W=f32[1]:16,H=f32[1]:16,HI=i32[1]:16", {"N": 128})}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("kernel", list(SIGS), ids=lambda k: k.name)
def test_ptx_assembles(kernel, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    sig, cx = SIGS[kernel]
    compiled = kernel.compile(sig, target=arch, **cx)
    assert ptxas.assemble(compiled.ptx, arch).cubin


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("kernel", list(SIGS), ids=lambda k: k.name)
def test_hip_compiles(kernel):
    sig, cx = SIGS[kernel]
    assert kernel.compile(sig, target="gfx942", **cx).code_object[:4] == b"\x7fELF"
