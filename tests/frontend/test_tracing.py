"""What the frontend emits: folding, promotion, control flow, helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tilelang as tl
from tilelang.frontend import semantic
from tilelang.frontend.kernel_def import ParamSpec
from tilelang.ir import ops
from tilelang.ir.types import ScalarType, TileType


def trace(kernel, *params, **constexprs):
    return kernel.trace(kernel.make_specialization(tuple(params), constexprs)).functions[0]


def ops_of(fn, cls):
    return [op for op in ops.walk(fn.body) if isinstance(op, cls)]


X1 = ParamSpec("X", tl.f32, 1)
X2 = ParamSpec("X", tl.f32, 2)


@tl.kernel
def k_fold(X, D: tl.constexpr = 64):
    scale = 1.0 / math.sqrt(D)
    lo = -float("inf")
    t = tl.full((4,), lo, tl.f32) * scale
    tl.store(X, (0,), t)


def test_constexpr_arithmetic_builtins_and_math_fold():
    fn = trace(k_fold, X1, D=16)
    consts = sorted(op.value for op in ops_of(fn, ops.ConstantOp) if isinstance(op.value, float))
    assert consts == [-math.inf, 0.25]


@tl.kernel
def k_static_if(X, FLAG: tl.constexpr = True):
    if FLAG:
        tl.store(X, (0,), tl.zeros((4,), tl.f32))
    else:
        tl.device_assert(tl.program_id(0) < 0, "never")


def test_if_on_constexpr_picks_a_branch_at_compile_time():
    fn = trace(k_static_if, X1, FLAG=True)
    assert not ops_of(fn, ops.IfOp) and ops_of(fn, ops.StoreOp) and not ops_of(fn, ops.AssertOp)
    fn = trace(k_static_if, X1, FLAG=False)
    assert ops_of(fn, ops.AssertOp) and not ops_of(fn, ops.StoreOp)


@tl.kernel
def k_static_range(X, N: tl.constexpr = 3):
    for i in tl.static_range(N):
        tl.store(X, (i * 4,), tl.full((4,), i, tl.f32))


def test_static_range_unrolls():
    fn = trace(k_static_range, X1, N=5)
    assert len(ops_of(fn, ops.StoreOp)) == 5 and not ops_of(fn, ops.ForOp)


@tl.kernel
def k_carry(X, n):
    acc = tl.zeros((8,), tl.f32)
    total = 0
    for i in range(n):
        acc += tl.load(X, (i * 8,), (8,))
        total += i
    tl.store(X, (0,), acc + total)


def test_runtime_loop_carries_reassigned_names():
    fn = trace(k_carry, X1, ParamSpec("n", tl.i32, None))
    (loop,) = ops_of(fn, ops.ForOp)
    assert [r.type for r in loop.results] == [TileType((8,), tl.f32), ScalarType(tl.i32)]
    assert loop.kind == "range" and loop.body.args[0].name == "i"


@tl.kernel
def k_float_number_carried(X, n):
    s = 0
    for i in range(n):
        s = s + tl.load(X, (i,), (1,)).reshape(()) if False else s + tl.sum(tl.load(X, (i,), (4,)))
    tl.store(X, (0,), tl.full((1,), s, tl.f32))


def test_python_number_takes_the_type_the_loop_gives_it():
    fn = trace(k_float_number_carried, X1, ParamSpec("n", tl.i32, None))
    (loop,) = ops_of(fn, ops.ForOp)
    assert loop.results[0].type == ScalarType(tl.f32)


@tl.kernel
def k_pipeline(X, n, S: tl.constexpr = 3):
    acc = tl.zeros((4,), tl.f32)
    for k in tl.pipeline(n, stages=S):
        acc += tl.load(X, (k * 4,), (4,))
    tl.store(X, (0,), acc)


def test_pipeline_loop_records_stages():
    (loop,) = ops_of(trace(k_pipeline, X1, ParamSpec("n", tl.i32, None), S=4), ops.ForOp)
    assert (loop.kind, loop.stages) == ("pipeline", 4)


@tl.kernel
def k_runtime_if(X):
    x = tl.zeros((4,), tl.f32)
    y = 1.0
    if tl.program_id(0) == 0:
        x = x + 1
        y = 2.0
    else:
        only_here = 3
    tl.store(X, (0,), x * y)


def test_runtime_if_yields_rebound_names():
    fn = trace(k_runtime_if, X1)
    (branch,) = ops_of(fn, ops.IfOp)
    assert [r.type for r in branch.results] == [TileType((4,), tl.f32), ScalarType(tl.f32)]
    assert [r.name for r in branch.results][0] == "x"


@tl.kernel
def k_early_return(X, n):
    pid = tl.program_id(0)
    if pid * 4 >= n:
        return
    tl.store(X, (pid * 4,), tl.zeros((4,), tl.f32))


def test_early_return_moves_the_rest_into_the_other_branch():
    fn = trace(k_early_return, X1, ParamSpec("n", tl.i32, None))
    (branch,) = ops_of(fn, ops.IfOp)
    assert not [op for op in branch.then.ops if isinstance(op, ops.StoreOp)]
    assert [op for op in branch.orelse.ops if isinstance(op, ops.StoreOp)]
    assert not [op for op in fn.body.ops if isinstance(op, ops.StoreOp)]


@tl.func
def twice(x, k=2):
    return x * k


@tl.func
def clamp01(x):
    return tl.minimum(tl.maximum(x, 0.0), 1.0)


@tl.kernel
def k_helpers(X):
    x = tl.load(X, (0,), (8,))
    tl.store(X, (0,), clamp01(twice(x, k=3)))


def test_tl_func_helpers_are_inlined_with_their_own_lines():
    fn = trace(k_helpers, X1)
    names = [op.fn for op in ops_of(fn, ops.BinaryOp)]
    assert names == ["mul", "maximum", "minimum"]
    helper_line = clamp01.fn.__code__.co_firstlineno + 2
    assert any(op.loc.line == helper_line for op in ops_of(fn, ops.BinaryOp))


@tl.kernel
def k_weak(X, Y):
    x = tl.load(X, (0,), (8,))
    y = x * 2 + 0.5
    tl.store(Y, (0,), y)


def test_python_numbers_are_weakly_typed():
    fn = trace(k_weak, ParamSpec("X", tl.bf16, 1), ParamSpec("Y", tl.bf16, 1))
    assert all(op.result.type.dtype == tl.bf16 for op in ops_of(fn, ops.BinaryOp))
    assert not ops_of(fn, ops.CastOp)


@tl.kernel
def k_index(X, Y):
    r = tl.load(X, (0,), (8,))
    c = tl.load(X, (0,), (4,))
    grid = r[:, None] + c[None, :]
    tl.store(Y, (0, 0), grid)


def test_none_indexing_and_broadcast():
    fn = trace(k_index, X1, ParamSpec("Y", tl.bf16, 2))
    assert [op.result.type.shape for op in ops_of(fn, ops.ReshapeOp)] == [(8, 1), (1, 4)]
    assert len(ops_of(fn, ops.BroadcastOp)) == 2
    (store,) = ops_of(fn, ops.StoreOp)
    assert store.value.type == TileType((8, 4), tl.bf16)  # stores convert to the tensor dtype


@tl.kernel
def k_int_div(X, n):
    tl.store(X, (0,), tl.full((1,), n / 2, tl.f32))


def test_true_division_of_ints_is_float():
    fn = trace(k_int_div, X1, ParamSpec("n", tl.i32, None))
    (div,) = ops_of(fn, ops.BinaryOp)
    assert div.fn == "div" and div.result.type == ScalarType(tl.f32)


FLOATS = [tl.f16, tl.bf16, tl.f32, tl.f64]
INTS = [tl.i8, tl.i16, tl.i32, tl.i64, tl.u8, tl.u32]


@given(st.sampled_from(FLOATS + INTS + [tl.bool]), st.sampled_from(FLOATS + INTS + [tl.bool]))
def test_promotion_is_symmetric_and_keeps_floats(a, b):
    p = semantic.promote_dtypes(a, b)
    assert p == semantic.promote_dtypes(b, a)
    if a.is_float or b.is_float:
        assert p.is_float
    assert p.bits >= max(a.bits if a.is_float == p.is_float else 0,
                         b.bits if b.is_float == p.is_float else 0)


def test_promotion_examples():
    assert semantic.promote_dtypes(tl.f16, tl.bf16) == tl.f32
    assert semantic.promote_dtypes(tl.bf16, tl.f32) == tl.f32
    assert semantic.promote_dtypes(tl.i32, tl.f16) == tl.f16
    assert semantic.promote_dtypes(tl.i32, tl.u32) == tl.u32
    assert semantic.promote_dtypes(tl.i8, tl.i64) == tl.i64


shapes = st.lists(st.sampled_from([1, 2, 3, 4]), min_size=0, max_size=3).map(tuple)


@given(shapes, shapes)
def test_broadcast_shapes_match_numpy(a, b):
    try:
        want = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(tl.CompileError):
            semantic.broadcast_shapes(a, b)
    else:
        assert semantic.broadcast_shapes(a, b) == want


def test_every_traced_op_has_a_location():
    fn = trace(k_helpers, X1)
    assert all(op.loc is not None for op in ops.walk(fn.body))
