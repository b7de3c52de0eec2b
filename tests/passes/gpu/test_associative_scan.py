"""tl.associative_scan with a @tl.func combine (ir/scan_ops.py) on every tier: the
interpreter against a plain-Python scan, the emulators (thread-level lowering and
PTX execution) against the interpreter bit for bit, the lowered kernels through
ptxas and hipcc, and the errors a user meets."""

from __future__ import annotations

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


@tl.func
def affine(a1, b1, a2, b2):
    # composition of x -> a*x + b maps: first (a1, b1), then (a2, b2); associative,
    # not commutative, so the order of the operands shows
    return a1 * a2, b1 * a2 + b2


@tl.func
def running_max_index(v1, i1, v2, i2):
    take = v2 > v1
    return tl.where(take, v2, v1), tl.where(take, i2, i1)


@tl.func
def segmented_sum(f1, x1, f2, x2):
    # a flag starts a new segment: the classic segmented scan
    return f1 | f2, tl.where(f2 != 0, x2, x1 + x2)


@tl.kernel
def scan_kernel(A: tl.Tensor, B: tl.Tensor, F: tl.Tensor, OA: tl.Tensor, OB: tl.Tensor,
                OV: tl.Tensor, OI: tl.Tensor, OS: tl.Tensor, M: tl.constexpr, N: tl.constexpr,
                AXIS: tl.constexpr = 1, REV: tl.constexpr = False):
    a = tl.load(A, (0, 0), (M, N))
    b = tl.load(B, (0, 0), (M, N))
    pa, pb = tl.associative_scan((a, b), AXIS, affine, reverse=REV)
    tl.store(OA, (0, 0), pa)
    tl.store(OB, (0, 0), pb)
    idx = tl.broadcast_to(tl.arange(0, N)[None, :], (M, N))
    v, i = tl.associative_scan((b, idx), AXIS, running_max_index, reverse=REV)
    tl.store(OV, (0, 0), v)
    tl.store(OI, (0, 0), i)
    f = tl.load(F, (0, 0), (M, N))
    _, s = tl.associative_scan((f, b), AXIS, segmented_sum, reverse=REV)
    tl.store(OS, (0, 0), s)


def python_scan(combine, xs, axis, reverse):
    """The op's order in plain Python: out[i] = combine(out[i-1], x[i]), or
    combine(x[i], out[i+1]) reversed, element by element."""
    xs = [np.moveaxis(x, axis, 0) for x in xs]
    outs = [np.empty_like(x) for x in xs]
    n = xs[0].shape[0]
    for col in np.ndindex(xs[0].shape[1:]):
        order = range(n - 1, -1, -1) if reverse else range(n)
        acc = None
        for i in order:
            here = [x[(i,) + col] for x in xs]
            acc = here if acc is None else combine(*(here + acc if reverse else acc + here))
            for o, a in zip(outs, acc):
                o[(i,) + col] = a
    return [np.moveaxis(o, 0, axis) for o in outs]


def numpy_combines():
    f32 = np.float32
    return {
        "affine": lambda a1, b1, a2, b2: [f32(a1 * a2), f32(f32(b1 * a2) + b2)],
        "max": lambda v1, i1, v2, i2: [v2, i2] if v2 > v1 else [v1, i1],
        "seg": lambda f1, x1, f2, x2: [f1 | f2, x2 if f2 != 0 else f32(x1 + x2)],
    }


def run(a, b, f, target, axis=1, reverse=False):
    outs = [np.zeros_like(a), np.zeros_like(a), np.zeros_like(a),
            np.zeros(a.shape, np.int32), np.zeros_like(a)]
    m, n = a.shape
    scan_kernel[(1,)](a, b, f, *outs, M=m, N=n, AXIS=axis, REV=reverse, target=target)
    return outs


def reference(a, b, f, axis, reverse):
    c = numpy_combines()
    idx = np.broadcast_to(np.arange(a.shape[1], dtype=np.int32)[None, :], a.shape).copy()
    pa, pb = python_scan(c["affine"], [a, b], axis, reverse)
    v, i = python_scan(c["max"], [b, idx], axis, reverse)
    _, s = python_scan(c["seg"], [f, b], axis, reverse)
    return [pa, pb, v, i, s]


shapes = st.sampled_from([(4, 8), (8, 16), (2, 32), (16, 4)])


@st.composite
def inputs(draw):
    m, n = draw(shapes)
    small = st.integers(-3, 3).map(float)     # exact in f32 through the products
    a = np.array(draw(st.lists(small, min_size=m * n, max_size=m * n)), np.float32)
    b = np.array(draw(st.lists(small, min_size=m * n, max_size=m * n)), np.float32)
    f = np.array(draw(st.lists(st.integers(0, 1), min_size=m * n, max_size=m * n)),
                 np.int32)
    return a.reshape(m, n), b.reshape(m, n), f.reshape(m, n)


@settings(max_examples=25, deadline=None)
@given(x=inputs(), axis=st.sampled_from([0, 1]), reverse=st.booleans())
def test_the_interpreter_follows_the_python_scan(x, axis, reverse):
    for got, want in zip(run(*x, "interp", axis, reverse), reference(*x, axis, reverse)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("target", EMULATED)
@settings(max_examples=4, deadline=None)
@given(x=inputs(), axis=st.sampled_from([0, 1]), reverse=st.booleans())
def test_the_emulators_equal_the_interpreter(x, axis, reverse, target):
    for got, want in zip(run(*x, target, axis, reverse), run(*x, "interp", axis, reverse)):
        np.testing.assert_array_equal(got, want)


def test_float_rounding_follows_the_order_of_the_operands():
    # a non-associative-in-floating-point combine gives the interpreter's sums exactly
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal((8, 16)).astype(np.float32)
    f = np.zeros((8, 16), np.int32)
    for target in ("emulate:sm_80", "emulate:gfx942"):
        for got, want in zip(run(a, b, f, target, 1, True), run(a, b, f, "interp", 1, True)):
            np.testing.assert_array_equal(got, want)


@tl.func
def add(x, y):
    return x + y


@tl.kernel
def one_tile(X: tl.Tensor, Y: tl.Tensor, N: tl.constexpr = 64):
    tl.store(Y, (0,), tl.associative_scan(tl.load(X, (0,), (N,)), 0, add))


def test_one_tile_is_a_cumsum_and_the_ir_round_trips():
    x = np.arange(64, dtype=np.float32)
    y = np.zeros_like(x)
    one_tile[(1,)](x, y)
    np.testing.assert_array_equal(y, np.cumsum(x))
    m = one_tile.compile("X=f32[1],Y=f32[1]").module
    text = print_module(m)
    assert "tl.associative_scan" in text and "combine:" in text
    assert parse_module(text) == m


def test_bad_combines_are_clear_errors():
    def plain(x, y):
        return x + y

    @tl.kernel
    def not_a_func(X: tl.Tensor):
        tl.associative_scan(tl.load(X, (0,), (8,)), 0, plain)
    with pytest.raises(tl.CompileError, match="must be a @tl.func") as e:
        not_a_func.compile("X=f32[1]")
    assert "not_a_func" in str(e.value) and __file__ in str(e.value)

    @tl.func
    def two(x, y):
        return x, y

    @tl.kernel
    def arity(X: tl.Tensor):
        tl.associative_scan(tl.load(X, (0,), (8,)), 0, two)
    with pytest.raises(tl.CompileError, match="must return 1 value"):
        arity.compile("X=f32[1]")

    @tl.func
    def branchy(x, y):
        if x > y:
            r = x
        else:
            r = y
        return r

    @tl.kernel
    def with_if(X: tl.Tensor):
        tl.associative_scan(tl.load(X, (0,), (8,)), 0, branchy)
    with pytest.raises(tl.CompileError, match="straight-line code") as e:
        with_if.compile("X=f32[1]")
    assert "with_if" in str(e.value) and "tl.if" in str(e.value)
    assert "tl.where" in e.value.hint

    @tl.kernel
    def shapes_differ(X: tl.Tensor):
        tl.associative_scan((tl.load(X, (0,), (8,)), tl.load(X, (0,), (4,))), 0, add)
    with pytest.raises(tl.CompileError, match="one shape"):
        shapes_differ.compile("X=f32[1]")


SIG = ("A=f32[2]:16,B=f32[2]:16,F=i32[2]:16,OA=f32[2]:16,OB=f32[2]:16,OV=f32[2]:16,"
       "OI=i32[2]:16,OS=f32[2]:16")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_ptx_assembles(arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = scan_kernel.compile(SIG, target=arch, M=16, N=64)
    assert ptxas.assemble(compiled.ptx, arch).cubin


@needs_hipcc
@pytest.mark.slow
def test_hip_compiles():
    compiled = scan_kernel.compile(SIG, target="gfx942", M=16, N=64)
    assert compiled.code_object[:4] == b"\x7fELF"


@pytest.mark.slow
def test_hip_source_on_the_host_equals_the_interpreter():
    from tests.codegen.amd.hip_host import find_clangxx
    if find_clangxx() is None:
        pytest.skip("clang++ not found")
    from tests.codegen.amd.hip_host_block import registered
    with registered("gfx942") as target:
        rng = np.random.default_rng(4)
        a = rng.integers(-3, 4, (8, 16)).astype(np.float32)
        b = rng.integers(-3, 4, (8, 16)).astype(np.float32)
        f = rng.integers(0, 2, (8, 16)).astype(np.int32)
        for axis, reverse in ((1, False), (0, True)):
            for got, want in zip(run(a, b, f, target.name, axis, reverse),
                                 run(a, b, f, "interp", axis, reverse)):
                np.testing.assert_array_equal(got, want)
