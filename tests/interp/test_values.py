"""Every value the interpreter makes has exactly its IR type's storage dtype.

Stores cast silently on assignment, so kernel-level tests cannot see a result of
the wrong dtype; these tests run single op closures on a hand-made environment.
"""

from __future__ import annotations

import numpy as np
import pytest

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir.types import ALL_DTYPES, DType, ScalarType, TileType, bool_, f32
from tilelang.ir.values import Value
from tilelang.ir.numpy_dtypes import to_numpy
from tilelang.interp.ops import COMPILERS, make_scalar, storage

SHAPE = (2, 3)
SAMPLES = [0, 1, 3, -2, 7, 100]
# low-bit storage formats only take casts (and moves); they are held as uint8 codes
COMPUTE = tuple(d for d in ALL_DTYPES if not d.is_lowbit)


def _value(dt: DType, tile: bool) -> object:
    if dt.is_lowbit:
        codes = (np.array(SAMPLES) & ((1 << dt.bits) - 1)).astype(np.uint8)
        return codes.reshape(SHAPE) if tile else codes[2]
    vals = [make_scalar(v if not dt.is_bool else v % 2, dt) for v in SAMPLES]
    if not tile:
        return vals[2]
    return np.array(vals, dtype=to_numpy(dt)).reshape(SHAPE)


def _type(dt: DType, tile: bool):
    return TileType(SHAPE, dt) if tile else ScalarType(dt)


def _run(op: o.Op, inputs: dict[str, object]) -> object:
    names = [v.name for v in op.operand_values()] + [r.name for r in op.results]
    slots = {n: i + 1 for i, n in enumerate(dict.fromkeys(names))}
    env: list = [None] * (len(slots) + 1)
    for n, v in inputs.items():
        env[slots[n]] = v
    with np.errstate(all="ignore"):
        COMPILERS[type(op)](op, lambda v: slots[v.name])(env)
    return env[slots[op.result.name]]


def _check(result: object, dt: DType, tile: bool) -> None:
    want = storage(dt)
    if tile:
        assert isinstance(result, np.ndarray) and result.dtype == want and result.shape == SHAPE
    else:
        assert isinstance(result, np.generic) and not isinstance(result, np.ndarray)
        assert result.dtype == want, (type(result), want)


def _binary_cases():
    for dt in COMPUTE:
        for fn in o.BINARY_FNS:
            if (fn == "div" and not dt.is_float) or (fn in o.BITWISE_FNS and dt.is_float):
                continue
            if fn == "pow" and dt.is_int and dt.is_signed:
                continue  # negative exponents are an error, tested elsewhere
            yield dt, fn


@pytest.mark.parametrize("tile", [True, False])
@pytest.mark.parametrize("dt,fn", list(_binary_cases()), ids=str)
def test_binary_result_dtype(dt, fn, tile):
    a, b = Value("a", _type(dt, tile)), Value("b", _type(dt, tile))
    rdt = bool_ if fn in o.COMPARE_FNS else dt
    op = o.BinaryOp(fn=fn, lhs=a, rhs=b, results=(Value("r", _type(rdt, tile)),))
    op.verify()
    _check(_run(op, {"a": _value(dt, tile), "b": _value(dt, tile)}), rdt, tile)


@pytest.mark.parametrize("tile", [True, False])
@pytest.mark.parametrize("dt,fn", [(dt, fn) for dt in COMPUTE for fn in o.UNARY_FNS
                                   if (dt.is_float or fn not in o.FLOAT_ONLY_UNARY)
                                   and not (dt.is_float and fn == "invert")], ids=str)
def test_unary_result_dtype(dt, fn, tile):
    a = Value("a", _type(dt, tile))
    op = o.UnaryOp(fn=fn, value=a, results=(Value("r", _type(dt, tile)),))
    _check(_run(op, {"a": _value(dt, tile)}), dt, tile)


@pytest.mark.parametrize("src", ALL_DTYPES, ids=str)
def test_cast_result_dtype(src):
    for dst in ALL_DTYPES:
        for tile in (True, False):
            a = Value("a", _type(src, tile))
            op = o.CastOp(value=a, results=(Value("r", _type(dst, tile)),))
            _check(_run(op, {"a": _value(src, tile)}), dst, tile)


@pytest.mark.parametrize("dt", COMPUTE, ids=str)
def test_reduce_where_dot_result_dtypes(dt):
    a = Value("a", TileType(SHAPE, dt))
    for fn in o.REDUCE_FNS:
        op = o.ReduceOp(fn=fn, axis=1, value=a, results=(Value("r", TileType((2,), dt)),))
        res = _run(op, {"a": _value(dt, True)})
        assert res.dtype == to_numpy(dt) and res.shape == (2,)
        flat = Value("f", TileType((6,), dt))
        op = o.ReduceOp(fn=fn, axis=0, value=flat, results=(Value("r", ScalarType(dt)),))
        _check(_run(op, {"f": _value(dt, True).reshape(6)}), dt, False)
    for tile in (True, False):
        c = Value("c", _type(bool_, tile))
        x, y = Value("x", _type(dt, tile)), Value("y", _type(dt, tile))
        op = o.WhereOp(cond=c, x=x, y=y, results=(Value("r", _type(dt, tile)),))
        cond = _value(bool_, tile)
        _check(_run(op, {"c": cond, "x": _value(dt, tile), "y": _value(dt, tile)}), dt, tile)
    if dt.is_bool:
        return
    ta, tb = Value("ta", TileType((2, 3), dt)), Value("tb", TileType((3, 2), dt))
    acc = Value("acc", TileType((2, 2), dt))
    op = o.DotOp(a=ta, b=tb, acc=acc, results=(Value("r", acc.type),))
    inputs = {"ta": _value(dt, True), "tb": _value(dt, True).reshape(3, 2),
              "acc": _value(dt, True)[:, :2]}
    res = _run(op, inputs)
    assert res.dtype == to_numpy(dt) and res.shape == (2, 2)


def test_invert_of_float_is_rejected_when_preparing():
    a = Value("a", ScalarType(f32))
    op = o.UnaryOp(fn="invert", value=a, results=(Value("r", ScalarType(f32)),))
    with pytest.raises(IRError, match="invert"):
        COMPILERS[o.UnaryOp](op, lambda v: 1)


def test_bool_arithmetic_is_defined():
    a, b = Value("a", TileType((4,), bool_)), Value("b", TileType((4,), bool_))
    x, y = np.array([0, 0, 1, 1], bool), np.array([0, 1, 0, 1], bool)
    want = {"add": x | y, "sub": x ^ y, "mul": x & y, "maximum": x | y, "minimum": x & y}
    for fn, w in want.items():
        op = o.BinaryOp(fn=fn, lhs=a, rhs=b, results=(Value("r", a.type),))
        np.testing.assert_array_equal(_run(op, {"a": x, "b": y}), w)
