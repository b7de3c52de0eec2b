"""The language's math functions beyond ``language.py``'s.

* ``tl.erf``, ``tl.log1p``, ``tl.expm1``: ``tl.unary`` functions (integers convert
  to f32 first, as for ``tl.exp``);
* ``tl.pow(x, y)``: the same as ``x ** y``;
* ``tl.fma(a, b, c)``: ``a * b + c`` rounded once (``tl.fma`` op);
* ``tl.clamp(x, lo, hi)``: ``minimum(maximum(x, lo), hi)``, NaN-propagating;
* ``tl.isnan(x)``, ``tl.isinf(x)``: bool tiles (always false for integers).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.frontend.int_rules import _like, _raw
from tilelang.frontend.language import builtin
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.types import f32


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


__all__ = ["clamp", "erf", "expm1", "fma", "isinf", "isnan", "log1p", "pow"]
