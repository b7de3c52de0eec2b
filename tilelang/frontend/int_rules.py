"""Python's ``//`` and ``%`` rules built from the tile IR's truncating forms.

``//`` and ``%`` on signed integers follow Python and numpy (floor division, the
remainder takes the divisor's sign); ``%`` on floats is Python's too (``fmod``,
then the divisor added when the signs differ, a zero taking the divisor's sign).
The IR's ``floordiv``/``mod`` truncate like C, so :func:`python_divmod` adds a
compare and a select; ``x // 0`` and ``x % 0`` stay 0 on integers. This module
emits IR directly (it sits below ``semantic``, which calls it).
"""

from __future__ import annotations

from typing import Any

from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.ir import ops
from tilelang.ir.types import ScalarType, TileType, bool_


def _type(dtype: Any, shape: tuple[int, ...]) -> ScalarType | TileType:
    return TileType(shape, dtype) if shape else ScalarType(dtype)


def _raw(fn: str, a: TileHandle, b: TileHandle) -> TileHandle:
    """One ``tl.binary`` on two handles of one type and shape (no Python rules)."""
    out = bool_ if fn in ops.COMPARE_FNS else a.dtype
    op = current().emit(ops.BinaryOp, (_type(out, a.shape),), fn=fn, lhs=a.value, rhs=b.value)
    return TileHandle(op.result)


def _like(value: Any, x: TileHandle) -> TileHandle:
    """The constant ``value`` with ``x``'s dtype and shape."""
    v = float(value) if x.dtype.is_float else int(value)
    c = current().emit(ops.ConstantOp, (ScalarType(x.dtype),), value=v).result
    if x.shape:
        c = current().emit(ops.SplatOp, (TileType(x.shape, x.dtype),), value=c).result
    return TileHandle(c)


def _where(c: TileHandle, x: TileHandle, y: TileHandle) -> TileHandle:
    op = current().emit(ops.WhereOp, (x.value.type,), cond=c.value, x=x.value, y=y.value)
    return TileHandle(op.result)


def python_divmod(fn: str, a: TileHandle, b: TileHandle, b_const: Any = None) -> TileHandle:
    """``a // b`` or ``a % b`` with Python's rules, from the truncating IR forms.

    ``a`` and ``b`` are unified (one dtype, one shape); ``b_const`` is ``b``'s value
    when it was a compile-time number (a positive divisor needs one compare less).
    """
    r = _raw("mod", a, b)
    zero = _like(0, a)
    r_neg = _raw("lt", r, zero)
    if isinstance(b_const, (int, float)) and b_const > 0:
        fix = r_neg
    else:
        fix = _raw("and", _raw("ne", r, zero), _raw("ne", r_neg, _raw("lt", b, zero)))
    if fn == "mod":
        fixed = _where(fix, _raw("add", r, b), r)
        if a.dtype.is_float:  # a zero remainder takes the divisor's sign, as in Python
            signed_zero = _where(_raw("lt", b, zero), _like(-0.0, a), zero)
            fixed = _where(_raw("eq", r, zero), signed_zero, fixed)
        return fixed
    q = _raw("floordiv", a, b)
    return _where(fix, _raw("sub", q, _like(1, a)), q)


__all__ = ["python_divmod"]
