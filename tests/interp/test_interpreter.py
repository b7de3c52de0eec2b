"""The reference interpreter: arithmetic, casts, reductions, dot, control flow, debug ops."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.interp.irkit import FILE, K
from tilelang.errors import IRError, KernelError, LaunchError
from tilelang.ir import types as t
from tilelang.ir.types import bf16, bool_, f16, f32, i4, i8, i32, u8
from tilelang.ir.numpy_dtypes import to_numpy
from tilelang.interp.interpreter import prepare, run_kernel

BF16 = ml_dtypes.bfloat16


def elementwise_fn(n: int, dtype: t.DType, fn: str, out_dtype: t.DType | None = None,
                   unary: bool = False):
    """Out[0:n] = fn(X[0:n], Y[0:n]) (or fn(X) when ``unary``)."""
    k = K(f"ew_{fn}")
    x = k.tensor(dtype, 1, "X")
    y = k.tensor(dtype, 1, "Y")
    out = k.tensor(out_dtype or dtype, 1, "Out")
    zero = k.const(0)
    a, b = k.load(x, (zero,), (n,)), k.load(y, (zero,), (n,))
    k.store(out, (zero,), k.un(fn, a) if unary else k.bin(fn, a, b))
    return k.build()


def run_elementwise(fn: str, dtype: t.DType, x: np.ndarray, y: np.ndarray, **kw) -> np.ndarray:
    out_dt = bool_ if fn in ("lt", "le", "gt", "ge", "eq", "ne") else dtype
    f = elementwise_fn(len(x), dtype, fn, out_dt, **kw)
    out = np.zeros(len(x), to_numpy(out_dt))
    run_kernel(f, (1, 1, 1), [x, y, out])
    return out


# -- vector add and launch ---------------------------------------------------------

def vector_add_fn(block: int):
    k = K("vadd")
    x, y, out = (k.tensor(f32, 1, n) for n in ("X", "Y", "Out"))
    off = k.bin("mul", k.pid(0), k.const(block))
    s = k.bin("add", k.load(x, (off,), (block,)), k.load(y, (off,), (block,)))
    k.store(out, (off,), s)
    return k.build()


def test_vector_add_ragged_tail():
    n, block = 1000, 128
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
    out = np.full(n + 5, -1.0, np.float32)
    view = out[:n]  # the tail beyond n must stay untouched
    run_kernel(vector_add_fn(block), (-(-n // block), 1, 1), [x, y, view])
    np.testing.assert_array_equal(out[:n], x + y)
    np.testing.assert_array_equal(out[n:], -1.0)


def test_prepare_is_cached_and_grid_order(capsys):
    k = K("order")
    k.print("p", k.pid(0), k.pid(1), k.nprog(0), k.nprog(1))
    fn = k.build()
    assert prepare(fn) is prepare(fn)
    run_kernel(fn, (2, 2, 1), [])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["[order pid=(0, 0, 0)] p 0 0 2 2", "[order pid=(1, 0, 0)] p 1 0 2 2",
                     "[order pid=(0, 1, 0)] p 0 1 2 2", "[order pid=(1, 1, 0)] p 1 1 2 2"]


def test_launch_errors_name_the_argument():
    fn = vector_add_fn(8)
    x = np.zeros(8, np.float32)
    with pytest.raises(LaunchError, match="expected 3 arguments"):
        run_kernel(fn, (1, 1, 1), [x, x])
    with pytest.raises(LaunchError, match="argument Y must be a float32"):
        run_kernel(fn, (1, 1, 1), [x, x.astype(np.float64), x])
    with pytest.raises(LaunchError, match="grid"):
        run_kernel(fn, (1, -1, 1), [x, x, x])
    k = K("sc")
    k.scalar(i8, "s")
    with pytest.raises(LaunchError, match="argument s must be a i8"):
        run_kernel(k.build(), (1, 1, 1), [300])


# -- integer and float arithmetic --------------------------------------------------

def test_int8_wraps_around():
    x = np.array([127, -128, 100], np.int8)
    y = np.array([1, -1, 100], np.int8)
    np.testing.assert_array_equal(run_elementwise("add", i8, x, y), [-128, 127, -56])
    np.testing.assert_array_equal(run_elementwise("mul", i8, x, y), [127, -128, 16])
    # scalars wrap too
    k = K("scal")
    out = k.tensor(i8, 1, "Out")
    s = k.bin("add", k.const(127, i8), k.const(1, i8))
    k.store(out, (k.const(0),), k.splat(s, (1,)))
    res = np.zeros(1, np.int8)
    run_kernel(k.build(), (1, 1, 1), [res])
    assert res[0] == -128


def test_int4_is_a_storage_format_not_an_arithmetic_one():
    # (low-bit formats compute after a cast: docs/lowbit.md)
    x = np.array([7, -8, 3, 5], ml_dtypes.int4)
    with pytest.raises(IRError, match="storage format"):
        run_elementwise("add", i4, x, x)


def test_c_style_integer_division_and_mod():
    a = np.array([7, -7, 7, -7, 0, 5, -1], np.int32)
    b = np.array([2, 2, -2, -2, 3, 0, 3], np.int32)
    q = run_elementwise("floordiv", i32, a, b)
    r = run_elementwise("mod", i32, a, b)
    np.testing.assert_array_equal(q, [3, -3, -3, 3, 0, 0, 0])
    np.testing.assert_array_equal(r, [1, -1, 1, -1, 0, 0, -1])


def test_float_floordiv_and_mod():
    a = np.array([7.5, -7.5, 7.5, -7.5], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0], np.float32)
    np.testing.assert_array_equal(run_elementwise("floordiv", f32, a, b), np.floor(a / b))
    np.testing.assert_array_equal(run_elementwise("mod", f32, a, b), np.fmod(a, b))


def test_bf16_rounds_after_every_op():
    k = K("acc_bf16")
    out = k.tensor(bf16, 1, "Out")
    x = k.full((4,), 1.0, bf16)
    tiny = k.full((4,), 2.0 ** -9, bf16)
    for _ in range(4):  # in f32 four of them would make 1 + 2**-7, a bf16 value
        x = k.bin("add", x, tiny)
    k.store(out, (k.const(0),), x)
    res = np.zeros(4, BF16)
    run_kernel(k.build(), (1, 1, 1), [res])
    np.testing.assert_array_equal(res.astype(np.float32), 1.0)


def test_f16_overflows_to_inf():
    x = np.array([60000, 300, -60000], np.float16)
    y = np.array([60000, 300, 60000], np.float16)
    np.testing.assert_array_equal(run_elementwise("add", f16, x, y), [np.inf, 600, 0])
    np.testing.assert_array_equal(run_elementwise("mul", f16, x, y), [np.inf, np.inf, -np.inf])


_DTYPES = [f32, bf16, f16, i32, i8, u8]
_FNS = {
    "float": ["add", "sub", "mul", "div", "maximum", "minimum", "lt", "le", "eq", "ne"],
    "int": ["add", "sub", "mul", "floordiv", "mod", "maximum", "and", "or", "xor",
            "shr", "gt", "ge", "eq"],
}


def _reference(fn: str, x: np.ndarray, y: np.ndarray, dt: t.DType) -> np.ndarray:
    """float64 / Python-int model of the documented semantics."""
    if dt.is_float:
        a, b = x.astype(np.float64), y.astype(np.float64)
        with np.errstate(all="ignore"):
            r = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b,
                 "maximum": np.maximum(a, b), "minimum": np.minimum(a, b),
                 "lt": a < b, "le": a <= b, "eq": a == b, "ne": a != b}[fn]
        # one rounding of the exact (f64) result to f32, then to storage, as f32 does
        with np.errstate(over="ignore"):  # overflow to inf is the expected answer
            return r if r.dtype == bool else r.astype(np.float32).astype(to_numpy(dt))
    a, b = x.astype(np.int64), y.astype(np.int64)
    safe = np.where(b == 0, 1, b)
    q = np.where(b == 0, 0, np.trunc(a / safe).astype(np.int64))
    r = {"add": a + b, "sub": a - b, "mul": a * b, "floordiv": q,
         "mod": np.where(b == 0, 0, a - q * safe), "maximum": np.maximum(a, b),
         "and": a & b, "or": a | b, "xor": a ^ b, "shr": a >> np.clip(b, 0, 7),
         "gt": a > b, "ge": a >= b, "eq": a == b}[fn]
    return r if r.dtype == bool else r.astype(to_numpy(dt))  # astype wraps


@st.composite
def _binary_case(draw):
    dt = draw(st.sampled_from(_DTYPES))
    fn = draw(st.sampled_from(_FNS["float" if dt.is_float else "int"]))
    n = draw(st.integers(1, 16))
    if dt.is_float:
        elems = st.floats(-1e4, 1e4, width=16 if dt.bits == 16 else 32)
    else:
        info = np.iinfo(to_numpy(dt))
        elems = st.integers(int(info.min), int(info.max))
    arrays = hnp.arrays(np.float64 if dt.is_float else np.int64, n, elements=elems)
    x, y = draw(arrays), draw(arrays)
    if fn == "shr":
        y = np.abs(y) % 8
    return fn, dt, x.astype(to_numpy(dt)), y.astype(to_numpy(dt))


@settings(max_examples=60, deadline=None)
@given(_binary_case())
def test_binary_ops_match_numpy_reference(case):
    fn, dt, x, y = case
    got = run_elementwise(fn, dt, x, y)
    want = _reference(fn, x, y, dt)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))


@pytest.mark.parametrize("fn,ref", [
    ("neg", np.negative), ("abs", np.abs), ("exp", np.exp), ("exp2", np.exp2),
    ("log", np.log), ("log2", np.log2), ("sqrt", np.sqrt), ("rsqrt", lambda v: 1 / np.sqrt(v)),
    ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh), ("floor", np.floor),
    ("ceil", np.ceil), ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
])
@pytest.mark.parametrize("dt", [f32, bf16])
def test_unary_float_ops(fn, ref, dt):
    x = np.array([0.25, 1.5, 2.75, 3.0], to_numpy(dt))
    got = run_elementwise(fn, dt, x, x, unary=True)
    want = ref(x.astype(np.float64)).astype(np.float32).astype(to_numpy(dt))
    rtol = 1e-6 if dt == f32 else 2 ** -7  # f32 libm may differ by an ulp, moving a tie
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol)


def test_unary_integer_ops():
    x = np.array([0, 5, -128, -3], np.int8)
    np.testing.assert_array_equal(run_elementwise("neg", i8, x, x, unary=True), [0, -5, -128, 3])
    np.testing.assert_array_equal(run_elementwise("invert", i8, x, x, unary=True), ~x)
    np.testing.assert_array_equal(run_elementwise("not", i8, x, x, unary=True), [1, 0, 0, 0])
    b = np.array([True, False])
    np.testing.assert_array_equal(run_elementwise("not", bool_, b, b, unary=True), ~b)


def test_nan_propagates_through_maximum():
    x = np.array([np.nan, 1.0], np.float32)
    y = np.array([2.0, np.nan], np.float32)
    assert np.isnan(run_elementwise("maximum", f32, x, y)).all()


def test_numpy_failure_becomes_kernel_error():
    x = np.array([2, 2], np.int32)
    y = np.array([1, -1], np.int32)  # an integer to a negative power: numpy refuses
    with pytest.raises(KernelError) as err:
        run_elementwise("pow", i32, x, y)
    text = str(err.value)
    assert "tl.binary failed" in text and f"{FILE}:" in text and "ew_pow" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


# -- casts ---------------------------------------------------------------------------

@pytest.mark.parametrize("src,dst,values,want", [
    (f32, i32, [2.7, -2.7, 0.5, -0.5], [2, -2, 0, 0]),
    (f32, bf16, [1 + 2 ** -8, 1 + 3 * 2 ** -8], [1.0, 1 + 2 ** -6]),  # ties to even
    (i32, i8, [300, -129, 127], [44, 127, 127]),
    (i32, u8, [-1, 256, 3], [255, 0, 3]),
    (f32, bool_, [0.0, -0.0, 2.0, np.nan], [False, False, True, True]),
    (bool_, f32, [True, False], [1.0, 0.0]),
    (bf16, i8, [3.9, -3.9], [3, -3]),
])
def test_casts(src, dst, values, want):
    k = K("cast")
    x, out = k.tensor(src, 1, "X"), k.tensor(dst, 1, "Out")
    zero = k.const(0)
    k.store(out, (zero,), k.cast(k.load(x, (zero,), (len(values),)), dst))
    res = np.zeros(len(values), to_numpy(dst))
    with np.errstate(all="ignore"):
        xs = np.array(values).astype(to_numpy(src))
    run_kernel(k.build(), (1, 1, 1), [xs, res])
    np.testing.assert_array_equal(res, np.array(want).astype(to_numpy(dst)))


# -- reductions and dot ------------------------------------------------------------------

def reduce_fn(fn: str, dt: t.DType, shape: tuple[int, int], axis: int, keepdims: bool):
    k = K("red")
    x = k.tensor(dt, 2, "X")
    out = k.tensor(dt, 2, "Out")
    zero = k.const(0)
    r = k.reduce(fn, k.load(x, (zero, zero), shape), axis, keepdims)
    if not keepdims:
        r = k.reshape(r, (1, shape[1 - axis])) if axis == 0 else \
            k.reshape(r, (shape[0], 1))
    k.store(out, (zero, zero), r)
    return k.build()


def test_f16_sum_accumulates_in_f32():
    x = np.array([[40000, 40000, -40000, -40000]] * 2, np.float16).T  # f16 partials: inf
    out = np.zeros((1, 2), np.float16)
    run_kernel(reduce_fn("sum", f16, (4, 2), 0, False), (1, 1, 1), [x, out])
    np.testing.assert_array_equal(out, 0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 64)).astype(np.float16)
    out = np.zeros((16, 1), np.float16)
    run_kernel(reduce_fn("sum", f16, (16, 64), 1, True), (1, 1, 1), [x, out])
    want = x.astype(np.float64).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.astype(np.float64), want, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("fn", ["max", "min", "sum"])
def test_reduce_int_and_bf16(fn):
    x = np.array([[100, 100], [100, -7]], np.int8)
    out = np.zeros((2, 1), np.int8)
    run_kernel(reduce_fn(fn, i8, (2, 2), 1, True), (1, 1, 1), [x, out])
    want = {"max": [[100], [100]], "min": [[100], [-7]], "sum": [[-56], [93]]}[fn]
    np.testing.assert_array_equal(out, want)
    xb = np.array([[1.5, -2.0], [3.0, 0.25]], BF16)
    outb = np.zeros((1, 2), BF16)
    run_kernel(reduce_fn(fn, bf16, (2, 2), 0, False), (1, 1, 1), [xb, outb])
    ref = getattr(np, fn)(xb.astype(np.float32), axis=0, keepdims=True)
    np.testing.assert_array_equal(outb.astype(np.float32), ref)


def test_reduce_1d_to_scalar():
    k = K("red1")
    x, out = k.tensor(i32, 1, "X"), k.tensor(i32, 1, "Out")
    zero = k.const(0)
    s = k.reduce("sum", k.load(x, (zero,), (8,)), 0)
    k.store(out, (zero,), k.splat(s, (1,)))
    res = np.zeros(1, np.int32)
    run_kernel(k.build(), (1, 1, 1), [np.arange(8, dtype=np.int32), res])
    assert res[0] == 28


def test_dot_int8_accumulates_in_int32():
    k = K("idot")
    a, b, c = k.tensor(i8, 2, "A"), k.tensor(i8, 2, "B"), k.tensor(i32, 2, "C")
    z = k.const(0)
    acc = k.dot(k.load(a, (z, z), (4, 8)), k.load(b, (z, z), (8, 4)), k.full((4, 4), 5, i32))
    k.store(c, (z, z), acc)
    av = np.full((4, 8), 127, np.int8)
    bv = np.full((8, 4), -128, np.int8)
    out = np.zeros((4, 4), np.int32)
    run_kernel(k.build(), (1, 1, 1), [av, bv, out])
    np.testing.assert_array_equal(out, 127 * -128 * 8 + 5)


# -- control flow --------------------------------------------------------------------------

def test_for_loop_carries_scalar_and_tile():
    k = K("loop")
    out, lo, hi, step = k.tensor(i32, 1, "Out"), *(k.scalar(i32, n) for n in ("lo", "hi", "st"))

    def body(iv, s, tile):
        return [k.bin("add", s, iv), k.bin("add", tile, k.splat(iv, (2,)))]
    s, tile = k.for_(lo, hi, step, [k.const(0), k.full((2,), 1, i32)], body)
    z = k.const(0)
    k.store(out, (z,), tile)
    k.store(out, (k.const(2),), k.splat(s, (1,)))
    fn = k.build()
    for args in [(0, 10, 3), (5, -3, -2), (4, 4, 1)]:
        res = np.zeros(3, np.int32)
        run_kernel(fn, (1, 1, 1), [res, *args])
        total = sum(range(*args))
        np.testing.assert_array_equal(res, [1 + total, 1 + total, total])


def test_zero_step_is_kernel_error():
    k = K("zstep")
    z = k.const(0)
    k.for_(z, k.const(4), z, [], lambda iv: [])
    with pytest.raises(KernelError, match="step of 0"):
        run_kernel(k.build(), (1, 1, 1), [])


def test_if_else_yields():
    k = K("branch")
    out = k.tensor(f32, 1, "Out")
    p = k.pid(0)
    cond = k.bin("lt", p, k.const(2))
    (v,) = k.if_(cond, lambda: [k.full((2,), 1.5, f32)],
                 lambda: [k.bin("mul", k.full((2,), 2.0, f32), k.full((2,), 3.0, f32))],
                 [t.TileType((2,), f32)])
    k.store(out, (k.bin("mul", p, k.const(2)),), v)
    res = np.zeros(8, np.float32)
    run_kernel(k.build(), (4, 1, 1), [res])
    np.testing.assert_array_equal(res, [1.5] * 4 + [6.0] * 4)


def test_return_nested_in_if_ends_the_instance():
    from tilelang.ir import ops as o
    k = K("early")
    out = k.tensor(i32, 1, "Out")
    p = k.pid(0)

    def then():
        k.emit(o.ReturnOp)
        return []
    k.if_(k.bin("eq", p, k.const(1)), then, lambda: [])
    k.store(out, (p,), k.splat(k.const(7), (1,)))
    res = np.zeros(3, np.int32)
    run_kernel(k.build(verify=False), (3, 1, 1), [res])  # the verifier wants returns last
    np.testing.assert_array_equal(res, [7, 0, 7])


# -- debug ops -------------------------------------------------------------------------------

def test_print_format(capsys):
    k = K("dbg")
    k.print("x =", k.const(3), k.arange(0, 3))
    run_kernel(k.build(), (1, 2, 1), [], kernel_name="my_kernel")
    out = capsys.readouterr().out.splitlines()
    assert out == ["[my_kernel pid=(0, 0, 0)] x = 3 [0 1 2]",
                   "[my_kernel pid=(0, 1, 0)] x = 3 [0 1 2]"]


def test_device_assert_reports_message_loc_and_pid():
    k = K("checked")
    x = k.tensor(i32, 1, "X")
    v = k.load(x, (k.pid(0),), (2,))
    k.assert_(k.bin("ge", v, k.full((2,), 0, i32)), "X must be non-negative")
    line = k.line
    xs = np.array([1, 2, 3, -4, 5], np.int32)
    with pytest.raises(KernelError) as err:
        run_kernel(k.build(), (4, 1, 1), [xs])
    e = err.value
    assert e.program_id == (2, 0, 0) and e.kernel == "checked"
    assert str(e.loc) == f"{FILE}:{line}"
    text = str(e)
    assert "X must be non-negative" in text and "checked" in text
    assert "program_id=(2, 0, 0)" in text and "[1]" in text
