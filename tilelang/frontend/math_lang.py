"""The language's math functions beyond ``language.py``'s, and Python's ``//``/``%`` rules.

* ``tl.erf``, ``tl.log1p``, ``tl.expm1``: ``tl.unary`` functions (integers convert
  to f32 first, as for ``tl.exp``);
* ``tl.pow(x, y)``: the same as ``x ** y``;
* ``tl.fma(a, b, c)``: ``a * b + c`` rounded once (``tl.fma`` op);
* ``tl.clamp(x, lo, hi)``: ``minimum(maximum(x, lo), hi)``, NaN-propagating;
* ``tl.isnan(x)``, ``tl.isinf(x)``: bool tiles (always false for integers).

``//`` and ``%`` on signed integers follow Python and numpy (floor division, the
remainder takes the divisor's sign); ``%`` on floats is Python's too (``fmod``,
then the divisor added when the signs differ, a zero taking the divisor's sign).
The tile IR's ``floordiv``/``mod`` truncate like C, so :func:`python_divmod`
builds the floor forms from them with a compare and a select; ``x // 0`` and
``x % 0`` are 0 on integers.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.frontend.language import builtin
from tilelang.ir import ops
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.types import bool_, f32


def _raw(fn: str, a: TileHandle, b: TileHandle) -> TileHandle:
    """One ``tl.binary`` on two handles of one type and shape (no Python rules)."""
    out = bool_ if fn in ops.COMPARE_FNS else a.dtype
    op = current().emit(ops.BinaryOp, (sem._type_of(out, a.shape),), fn=fn,
                        lhs=a.value, rhs=b.value)
    return TileHandle(op.result)


def _like(value: Any, x: TileHandle) -> TileHandle:
    return sem.broadcast_to(sem.constant(value, x.dtype), x.shape)


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
        fixed = sem.where(fix, _raw("add", r, b), r)
        if a.dtype.is_float:  # a zero remainder takes the divisor's sign, as in Python
            signed_zero = sem.where(_raw("lt", b, zero), _like(-0.0, a), zero)
            fixed = sem.where(_raw("eq", r, zero), signed_zero, fixed)
        return fixed
    q = _raw("floordiv", a, b)
    return sem.where(fix, _raw("sub", q, _like(1, a)), q)


def _unary(fn: str, doc: str) -> Any:
    def f(x: Any) -> Any:
        return sem.unary(fn, x)
    f.__name__ = fn
    f.__doc__ = doc
    return builtin(f)


erf = _unary("erf", "Elementwise error function (integers are converted to f32 first).")
log1p = _unary("log1p", "Elementwise ``log(1 + x)``, accurate for small ``x``.")
expm1 = _unary("expm1", "Elementwise ``exp(x) - 1``, accurate for small ``x``.")


@builtin
def pow(x: Any, y: Any) -> Any:  # noqa: A001 - the language's name
    """``x ** y`` elementwise (integers to a non-negative integer power stay integers)."""
    return sem.binary("pow", x, y)


@builtin
def fma(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` elementwise with one rounding (broadcasting; integers convert to f32)."""
    if not any(sem.is_runtime(v) for v in (a, b, c)):
        return float(Fraction(a) * Fraction(b) + Fraction(c))
    vals = [a, b, c]
    ref = next(i for i, v in enumerate(vals) if sem.is_runtime(v))
    for _ in range(2):  # twice: a later operand may widen the reference's dtype
        for i in range(3):
            if i != ref:
                vals[i], vals[ref] = sem.unify(vals[i], vals[ref])
    a, b, c = (sem.cast(v, vals[ref].dtype) for v in vals)
    if not a.dtype.is_float:
        a, b, c = sem.cast(a, f32), sem.cast(b, f32), sem.cast(c, f32)
    shape = sem.broadcast_shapes(sem.broadcast_shapes(a.shape, b.shape), c.shape)
    a, b, c = (sem.broadcast_to(v, shape) for v in (a, b, c))
    op = current().emit(FmaOp, (a.value.type,), a=a.value, b=b.value, c=c.value)
    return TileHandle(op.result)


@builtin
def clamp(x: Any, lo: Any, hi: Any) -> Any:
    """``minimum(maximum(x, lo), hi)`` elementwise; a NaN in any operand gives NaN."""
    return sem.binary("minimum", sem.binary("maximum", x, lo), hi)


@builtin
def isnan(x: Any) -> Any:
    """Where ``x`` is NaN (bool; false everywhere for integers)."""
    x = sem.to_handle(x)
    return _raw("ne", x, x)


@builtin
def isinf(x: Any) -> Any:
    """Where ``x`` is +inf or -inf (bool; false everywhere for integers)."""
    x = sem.to_handle(x)
    if not x.dtype.is_float:
        return _raw("ne", x, x)
    return _raw("eq", sem.unary("abs", x), _like(float("inf"), x))


__all__ = ["clamp", "erf", "expm1", "fma", "isinf", "isnan", "log1p", "pow", "python_divmod"]
