"""Interpreter closures for the pure value ops of the tile IR (see ``interpreter``).

Each ``_compile_*`` function turns one op into a closure ``run(env)`` that reads
its operands from the environment list ``env`` (slots chosen once per function)
and writes its results there. Everything that can be decided from the op alone
(dtypes, the numpy function, constants) is decided here, once, so the closures
do only the numpy work. Tiles are never modified in place once defined, which
lets shape ops return views and constants be shared between program instances.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, NamedTuple

import numpy as np

from tilelang.errors import IRError
from tilelang.ir import lowbit
from tilelang.ir import ops as o
from tilelang.ir.types import DType, ScalarType
from tilelang.ir.values import Value
from tilelang.ir.numpy_dtypes import compute_dtype, to_numpy

# Slot 0 of every environment holds the program instance's LaunchContext.
CTX = 0

Env = list
Closure = Callable[[Env], None]
Slot = Callable[[Value], int]


class LaunchContext(NamedTuple):
    """What ``tl.program_id``, ``tl.num_programs`` and ``tl.print`` need to know."""

    pid: tuple[np.int32, np.int32, np.int32]
    grid: tuple[np.int32, np.int32, np.int32]
    kernel: str


class Fault(Exception):
    """A kernel error found by an op; the driver adds the kernel, loc and program id."""

    def __init__(self, message: str, hint: str, op: o.Op | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.op = op


_CODES = np.dtype(np.uint8)


def storage(dt: DType) -> np.dtype:
    """The numpy dtype values of ``dt`` are kept in: low-bit formats keep their codes
    (``tilelang.ir.lowbit``) in ``uint8``."""
    return _CODES if dt.is_lowbit else to_numpy(dt)


def compute(dt: DType) -> np.dtype:
    """The numpy dtype arithmetic on ``dt`` runs in.

    Sub-byte integers compute in 8 bits because ml_dtypes' int4 ufuncs are
    incomplete (some return int8 without wrapping); casting back wraps.
    """
    if dt.is_int and dt.bits < 8:
        return np.dtype(np.int8 if dt.is_signed else np.uint8)
    return compute_dtype(dt)


def make_scalar(value: Any, dt: DType) -> np.generic:
    """``value`` as a numpy scalar of ``dt``; integers wrap around like a cast."""
    st = storage(dt)
    if dt.is_bool:
        return np.bool_(bool(value))
    if dt.is_int:
        bits = dt.bits
        v = int(value) & ((1 << bits) - 1)
        if dt.is_signed and v >= 1 << (bits - 1):
            v -= 1 << bits
        return st.type(v)
    with np.errstate(all="ignore"):
        return st.type(float(value))


# ---------------------------------------------------------------------------
# scalars, constants, shapes
# ---------------------------------------------------------------------------

def _compile_constant(op: o.ConstantOp, slot: Slot) -> Closure:
    r, value = slot(op.result), make_scalar(op.value, op.result.type.dtype)

    def run(env: Env) -> None:
        env[r] = value
    return run


def _compile_program_id(op: o.ProgramIdOp, slot: Slot) -> Closure:
    r, axis = slot(op.result), op.axis

    def run(env: Env) -> None:
        env[r] = env[CTX].pid[axis]
    return run


def _compile_num_programs(op: o.NumProgramsOp, slot: Slot) -> Closure:
    r, axis = slot(op.result), op.axis

    def run(env: Env) -> None:
        env[r] = env[CTX].grid[axis]
    return run


def _compile_tensor_dim(op: o.TensorDimOp, slot: Slot) -> Closure:
    r, t, dim = slot(op.result), slot(op.tensor), op.dim

    make = storage(op.result.type.dtype).type     # i32, or i64 for a wide tensor

    def run(env: Env) -> None:
        env[r] = make(env[t].shape[dim])
    return run


def _compile_tensor_stride(op: o.TensorStrideOp, slot: Slot) -> Closure:
    r, t, dim = slot(op.result), slot(op.tensor), op.dim

    make = storage(op.result.type.dtype).type

    def run(env: Env) -> None:
        x = env[t]
        env[r] = make(x.strides[dim] // x.itemsize)
    return run


def _compile_splat(op: o.SplatOp, slot: Slot) -> Closure:
    r, v = slot(op.result), slot(op.value)
    shape, st = op.result.type.shape, storage(op.result.type.dtype)

    def run(env: Env) -> None:
        env[r] = np.full(shape, env[v], dtype=st)
    return run


def _compile_arange(op: o.ArangeOp, slot: Slot) -> Closure:
    r = slot(op.result)
    value = np.arange(op.start, op.stop, dtype=np.int32)
    value.flags.writeable = False  # shared by every program instance

    def run(env: Env) -> None:
        env[r] = value
    return run


def _compile_broadcast(op: o.BroadcastOp, slot: Slot) -> Closure:
    r, v, shape = slot(op.result), slot(op.value), op.result.type.shape

    def run(env: Env) -> None:
        env[r] = np.broadcast_to(env[v], shape)
    return run


def _compile_reshape(op: o.ReshapeOp, slot: Slot) -> Closure:
    r, v, shape = slot(op.result), slot(op.value), op.result.type.shape

    def run(env: Env) -> None:
        env[r] = np.reshape(env[v], shape)
    return run


def _compile_trans(op: o.TransOp, slot: Slot) -> Closure:
    r, v = slot(op.result), slot(op.value)

    def run(env: Env) -> None:
        env[r] = env[v].T
    return run


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------

def _trunc_div(x: Any, y: Any) -> Any:
    # x - fmod(x, y) is an exact multiple of y, so floor division of it truncates.
    return (x - np.fmod(x, y)) // y


def _binary_fn(fn: str, dt: DType) -> Callable[[Any, Any], Any]:
    if fn == "floordiv":
        if dt.is_float:
            return lambda x, y: np.floor(x / y)
        return _trunc_div if dt.is_signed else operator.floordiv
    if fn == "mod":
        return np.fmod
    return _BINARY[fn]


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "maximum": np.maximum, "minimum": np.minimum,
    "pow": np.power, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
    "shl": operator.lshift, "shr": operator.rshift,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "eq": operator.eq, "ne": operator.ne,
}


def _bool_as_int8(dt: DType, fn: str) -> bool:
    # numpy refuses sub, shifts, neg... on bool; computing in 0/1 integers and
    # casting back (x != 0) defines them all (add is or, mul is and, sub is xor).
    return dt.is_bool and fn not in ("and", "or", "xor", "not", "invert") \
        and fn not in o.COMPARE_FNS


def _compile_binary(op: o.BinaryOp, slot: Slot) -> Closure:
    a, b, r = slot(op.lhs), slot(op.rhs), slot(op.result)
    dt = op.lhs.type.dtype
    f = _binary_fn(op.fn, dt)
    st, cd = storage(dt), compute(dt)
    if _bool_as_int8(dt, op.fn):
        cd = np.dtype(np.int8)
    if st == cd:
        def run(env: Env) -> None:
            env[r] = f(env[a], env[b])
    elif op.fn in o.COMPARE_FNS:
        def run(env: Env) -> None:
            env[r] = f(env[a].astype(cd), env[b].astype(cd))
    else:
        def run(env: Env) -> None:
            env[r] = f(env[a].astype(cd), env[b].astype(cd)).astype(st)
    return run


def _rsqrt(x: Any) -> Any:
    return 1 / np.sqrt(x)


def _sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg, "invert": operator.invert, "abs": np.abs,
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "sqrt": np.sqrt,
    "rsqrt": _rsqrt, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "floor": np.floor, "ceil": np.ceil, "sigmoid": _sigmoid,
}


def _compile_unary(op: o.UnaryOp, slot: Slot) -> Closure:
    v, r = slot(op.value), slot(op.result)
    dt = op.value.type.dtype
    st, cd = storage(dt), compute(dt)
    if _bool_as_int8(dt, op.fn):
        cd = np.dtype(np.int8)
    if op.fn == "invert" and dt.is_float:
        raise IRError(f"tl.unary invert needs an integer or bool operand, got {dt}",
                      loc=op.loc, hint="the verifier should have rejected this IR")
    if op.fn == "not":
        # Logical not; on an integer it gives 1 where x == 0, else 0, in x's dtype.
        f = np.logical_not if dt.is_bool else (lambda x: (x == 0).astype(cd))
    else:
        f = _UNARY[op.fn]
    if st == cd:
        def run(env: Env) -> None:
            env[r] = f(env[v])
    else:
        def run(env: Env) -> None:
            env[r] = f(env[v].astype(cd)).astype(st)
    return run


def _compile_where(op: o.WhereOp, slot: Slot) -> Closure:
    c, x, y, r = slot(op.cond), slot(op.x), slot(op.y), slot(op.result)
    if isinstance(op.x.type, ScalarType):
        # (an associative scan's combine runs its scalar ops on whole slices)
        def run(env: Env) -> None:
            cond = env[c]
            if isinstance(cond, np.ndarray) and cond.ndim:
                env[r] = np.where(cond, env[x], env[y])
            else:
                env[r] = env[x] if cond else env[y]
    else:
        def run(env: Env) -> None:
            env[r] = np.where(env[c], env[x], env[y])
    return run


def _compile_cast(op: o.CastOp, slot: Slot) -> Closure:
    if op.value.type.dtype.is_lowbit or op.result.type.dtype.is_lowbit:
        return _compile_lowbit_cast(op, slot)
    v, r = slot(op.value), slot(op.result)
    src, dst = storage(op.value.type.dtype), storage(op.result.type.dtype)
    if src == dst:
        def run(env: Env) -> None:
            env[r] = env[v]
        return run
    try:
        np.zeros(1, src).astype(dst)
        via = None
    except TypeError:
        # ml_dtypes has no direct int4 <-> uint4 cast; 8 bits hold both exactly.
        via = compute(op.value.type.dtype)

    if via is None:
        def run(env: Env) -> None:
            env[r] = env[v].astype(dst)
    else:
        def run(env: Env) -> None:
            env[r] = env[v].astype(via).astype(dst)
    return run


def _compile_lowbit_cast(op: o.CastOp, slot: Slot) -> Closure:
    """A cast from or to a low-bit format: through its values (``lowbit.decode``) and
    ``lowbit.encode``'s rounding rules."""
    v, r = slot(op.value), slot(op.result)
    sdt, ddt = op.value.type.dtype, op.result.type.dtype
    scalar = isinstance(op.result.type, ScalarType)

    def values(x: Any) -> np.ndarray:
        if sdt.is_lowbit:
            return lowbit.decode(x, sdt)
        return np.asarray(x).astype(np.float64 if sdt.is_float else np.int64)

    def run(env: Env) -> None:
        x = values(env[v])
        if ddt.is_lowbit:
            out = lowbit.encode(x, ddt, from_float=sdt.is_float)
        elif ddt.is_bool:
            out = x != 0
        elif ddt.is_int and sdt.is_float:
            lo, hi = np.iinfo(storage(ddt)).min, np.iinfo(storage(ddt)).max
            out = np.clip(np.trunc(np.nan_to_num(x, nan=0.0)), lo, hi).astype(storage(ddt))
        else:
            out = x.astype(storage(ddt))
        env[r] = out[()] if scalar else out
    return run


# ---------------------------------------------------------------------------
# reductions and dot
# ---------------------------------------------------------------------------

_REDUCE: dict[str, Callable[..., Any]] = {"sum": np.sum, "max": np.max, "min": np.min}


def _compile_reduce(op: o.ReduceOp, slot: Slot) -> Closure:
    v, r = slot(op.value), slot(op.result)
    axis, keep = op.axis, op.keepdims
    dt = op.value.type.dtype
    st, cd = storage(dt), compute(dt)
    f = _REDUCE[op.fn]
    # dtype= keeps integer sums in their own width (wrapping) instead of numpy's
    # promotion to the platform integer.
    kw = {"dtype": cd} if op.fn == "sum" else {}

    def run(env: Env) -> None:
        x = env[v]
        if x.dtype != cd:
            x = x.astype(cd)
        y = f(x, axis=axis, keepdims=keep, **kw)
        env[r] = y.astype(st) if y.dtype != st else y
    return run


def _compile_convert_layout(op: o.ConvertLayoutOp, slot: Slot) -> Closure:
    r, v = slot(op.result), slot(op.value)

    def run(env: Env) -> None:
        env[r] = env[v]   # a layout says where elements live, not what they are
    return run


def _compile_dot(op: o.DotOp, slot: Slot) -> Closure:
    a, b, c, r = slot(op.a), slot(op.b), slot(op.acc), slot(op.result)
    dt = op.acc.type.dtype
    st, cd = storage(dt), compute(dt)
    src = op.a.type.dtype

    def operand(x: np.ndarray) -> np.ndarray:
        # low-bit inputs are codes: their values are exact in the accumulator's dtype
        return (lowbit.decode(x, src) if src.is_lowbit else x).astype(cd, copy=False)

    def run(env: Env) -> None:
        prod = np.matmul(operand(env[a]), operand(env[b]))
        prod += env[c].astype(cd, copy=False)
        env[r] = prod if st == cd else prod.astype(st)
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot], Closure]] = {
    o.ConstantOp: _compile_constant,
    o.ProgramIdOp: _compile_program_id,
    o.NumProgramsOp: _compile_num_programs,
    o.TensorDimOp: _compile_tensor_dim,
    o.TensorStrideOp: _compile_tensor_stride,
    o.SplatOp: _compile_splat,
    o.ArangeOp: _compile_arange,
    o.BroadcastOp: _compile_broadcast,
    o.ReshapeOp: _compile_reshape,
    o.TransOp: _compile_trans,
    o.BinaryOp: _compile_binary,
    o.UnaryOp: _compile_unary,
    o.WhereOp: _compile_where,
    o.CastOp: _compile_cast,
    o.ReduceOp: _compile_reduce,
    o.DotOp: _compile_dot,
    o.ConvertLayoutOp: _compile_convert_layout,
}
"""The compiler of each pure value op class."""


# erf, log1p, expm1 and tl.fma (interp/math_ops.py)
from tilelang.interp import math_ops as _math_ops  # noqa: E402
from tilelang.ir.math_ops import FmaOp as _FmaOp  # noqa: E402

_UNARY.update(_math_ops.UNARY)
COMPILERS[_FmaOp] = _math_ops.compile_fma
