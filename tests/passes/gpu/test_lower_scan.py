"""tl.argmax/argmin and tl.cumsum/cumprod (ir/scan_ops.py) on every tier: the
interpreter against numpy, the emulators against the interpreter bit for bit, and
the lowered kernels through ptxas and hipcc."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tilelang.codegen.nvidia import ptxas
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module

EMULATED = ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942", "emulate-ptx:sm_80",
            "emulate-ptx:sm_90a"]


@tl.kernel
def arg_kernel(X: tl.Tensor, AMAX: tl.Tensor, AMIN: tl.Tensor, FLAT: tl.Tensor,
               M: tl.constexpr, N: tl.constexpr):
    x = tl.load(X, (0, 0), (M, N))
    tl.store(AMAX, (0,), tl.argmax(x, 1))
    tl.store(AMIN, (0, 0), tl.argmin(x, 0, keepdims=True))
    tl.store(FLAT, (0,), tl.full((1,), tl.argmax(x), tl.i32))


@tl.kernel
def scan_kernel(X: tl.Tensor, S0: tl.Tensor, S1R: tl.Tensor, P1: tl.Tensor, P0R: tl.Tensor,
                M: tl.constexpr, N: tl.constexpr):
    x = tl.load(X, (0, 0), (M, N))
    tl.store(S0, (0, 0), tl.cumsum(x, 0))
    tl.store(S1R, (0, 0), tl.cumsum(x, 1, reverse=True))
    tl.store(P1, (0, 0), tl.cumprod(x, -1))
    tl.store(P0R, (0, 0), tl.cumprod(x, 0, reverse=True))


def _args(x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.zeros(x.shape[0], np.int32), np.zeros((1, x.shape[1]), np.int32),
            np.zeros(1, np.int32))


def run_arg(x: np.ndarray, target: str) -> tuple[np.ndarray, ...]:
    outs = _args(x)
    m, n = x.shape
    arg_kernel[(1,)](x, *outs, M=m, N=n, target=target)
    return outs


def run_scan(x: np.ndarray, target: str) -> tuple[np.ndarray, ...]:
    outs = tuple(np.zeros_like(x) for _ in range(4))
    m, n = x.shape
    scan_kernel[(1,)](x, *outs, M=m, N=n, target=target)
    return outs


def _flip_cum(f, x, axis):
    return np.flip(f(np.flip(x, axis), axis), axis)


def scan_reference(x: np.ndarray) -> tuple[np.ndarray, ...]:
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.cumsum(x, 0, dtype=x.dtype), _flip_cum(np.cumsum, x, 1),
                np.cumprod(x, 1, dtype=x.dtype), _flip_cum(np.cumprod, x, 0))


shapes = st.sampled_from([(4, 8), (8, 32), (2, 64), (16, 16)])
floats = st.floats(-4, 4, width=32) | st.sampled_from([np.nan, 0.0, -0.0, 1.0])


@st.composite
def float_tiles(draw):
    m, n = draw(shapes)
    vals = draw(st.lists(floats, min_size=m * n, max_size=m * n))
    return np.array(vals, np.float32).reshape(m, n)


@settings(max_examples=25, deadline=None)
@given(x=float_tiles())
def test_argmax_argmin_follow_numpy_on_the_interpreter(x):
    amax, amin, flat = run_arg(x, "interp")
    np.testing.assert_array_equal(amax, np.argmax(x, 1))
    np.testing.assert_array_equal(amin, np.argmin(x, 0, keepdims=True))
    assert flat[0] == np.argmax(x)


@settings(max_examples=25, deadline=None)
@given(x=float_tiles())
def test_scans_follow_numpy_on_the_interpreter(x):
    for got, want in zip(run_scan(x, "interp"), scan_reference(x)):
        np.testing.assert_array_equal(got, want)   # same order of operations: exact


@pytest.mark.parametrize("target", EMULATED)
@settings(max_examples=6, deadline=None)
@given(x=float_tiles())
def test_the_emulators_equal_the_interpreter(x, target):
    for got, want in zip(run_arg(x, target) + run_scan(x, target),
                         run_arg(x, "interp") + run_scan(x, "interp")):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_ties_and_nans(target):
    x = np.array([[1, 3, 3, 2], [np.nan, 5, np.nan, 9], [2, 2, 2, 2], [-1, -5, -5, np.nan]],
                 np.float32)
    amax, amin, flat = run_arg(np.tile(x, (1, 2)), target)
    np.testing.assert_array_equal(amax, [1, 0, 0, 3])       # first max; first NaN
    np.testing.assert_array_equal(amin, [[1, 3, 1, 3, 1, 3, 1, 3]])   # NaN is the minimum too
    assert flat[0] == 8                                     # row 1, column 0: the first NaN


@pytest.mark.parametrize("dtype", [np.int32, ml_dtypes.bfloat16, np.float16])
@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_other_dtypes(dtype, target):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (8, 16)).astype(dtype)
    got = run_scan(x, target)
    wide = x.astype(np.float32) if x.dtype != np.int32 else x
    for g, w in zip(got, scan_reference(wide)):
        np.testing.assert_array_equal(g.astype(np.float64), w.astype(x.dtype).astype(np.float64))
    amax, _, _ = run_arg(x, target)
    np.testing.assert_array_equal(amax, np.argmax(wide, 1))


def test_a_negative_zero_prefix_stays_negative():
    x = np.full((4, 8), -0.0, np.float32)
    s0 = run_scan(x, "emulate:sm_80")[0]
    assert np.signbit(s0).all()


def test_ir_text_round_trips_and_errors_are_clear():
    m = scan_kernel.compile("X=f32[2],S0=f32[2],S1R=f32[2],P1=f32[2],P0R=f32[2]",
                            M=4, N=8).module
    text = print_module(m)
    assert "tl.scan" in text and parse_module(text) == m

    @tl.kernel
    def bad(X: tl.Tensor):
        tl.store(X, (0,), tl.full((1,), tl.argmax(tl.load(X, (0,), (4,)), 1), tl.f32))
    with pytest.raises(tl.CompileError, match="axis"):
        bad.compile("X=f32[1]")

    @tl.kernel
    def scalar(X: tl.Tensor):
        tl.cumsum(tl.program_id(0))
    with pytest.raises(tl.CompileError, match="needs a tile"):
        scalar.compile("X=f32[1]")


SIGS = {"arg": "X=f32[2]:16,AMAX=i32[1]:16,AMIN=i32[2]:16,FLAT=i32[1]:16",
        "scan": "X=f32[2]:16,S0=f32[2]:16,S1R=f32[2]:16,P1=f32[2]:16,P0R=f32[2]:16"}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("which", list(SIGS))
def test_ptx_assembles(which, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    kernel = arg_kernel if which == "arg" else scan_kernel
    compiled = kernel.compile(SIGS[which], target=arch, M=16, N=64)
    assert ptxas.assemble(compiled.ptx, arch).cubin


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("which", list(SIGS))
def test_hip_compiles(which):
    kernel = arg_kernel if which == "arg" else scan_kernel
    compiled = kernel.compile(SIGS[which], target="gfx942", M=16, N=64)
    assert compiled.code_object[:4] == b"\x7fELF"
