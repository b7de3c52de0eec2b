"""Interpreter semantics of the math functions added to the tile IR's elementwise set.

* ``erf``, ``log1p``, ``expm1`` (``tl.unary``): ``math.erf`` (the C library's
  double-precision ``erf``) rounded to the operand's compute dtype, and numpy's
  ``log1p``/``expm1``, which are the C library's functions of that dtype;
* ``tl.fma``: ``a * b + c`` rounded once. In f32 (and f16/bf16, which compute in
  f32) the product is exact in f64 and the sum's rounding error is recovered
  exactly (two-sum); only when the f64 sum lies exactly halfway between two f32
  values does that error decide the direction, which makes the f32 result the
  correctly rounded one. In f64 it is the exact rational value, rounded.

``interp.ops`` registers these; the emulator runs the same closures on
per-thread values.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from tilelang.ir.math_ops import FmaOp
from tilelang.ir.numpy_dtypes import compute_dtype, to_numpy
from tilelang.ir.values import Value

Env = list
Closure = Callable[[Env], None]
Slot = Callable[[Value], int]


def erf(x: Any) -> Any:
    """Elementwise ``math.erf`` in ``x``'s float dtype."""
    arr = np.asarray(x)
    out = np.vectorize(math.erf, otypes=[np.float64])(arr).astype(arr.dtype)
    return out[()] if out.ndim == 0 else out


def fma_f32(a: Any, b: Any, c: Any) -> Any:
    """Correctly rounded f32 ``a * b + c`` (operands f32 arrays or scalars)."""
    with np.errstate(all="ignore"):
        p = np.asarray(a, np.float64) * np.asarray(b, np.float64)  # exact: 24 + 24 bits
        c64 = np.asarray(c, np.float64)
        s = p + c64
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)          # p + c == s + err exactly (two-sum)
        f = s.astype(np.float32)
        d = s - f.astype(np.float64)               # exact (s and f are neighbours)
        toward = np.where(d > 0, np.float32(np.inf), np.float32(-np.inf))
        g = np.nextafter(f, toward)
        mid = (f.astype(np.float64) + g.astype(np.float64)) * 0.5
        halfway = (d != 0) & (s == mid) & np.isfinite(s)
        # at a tie the true value lies beyond the midpoint when err points the way d does
        past = halfway & (err * d > 0)
        out = np.where(past, g, f)
    return out[()] if out.ndim == 0 else out


def _fma_exact(a: float, b: float, c: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    r = Fraction(a) * Fraction(b) + Fraction(c)
    if r == 0:  # the exact product is -c: float arithmetic is exact and keeps IEEE's zero sign
        return a * b + c
    return float(r)  # int / int true division rounds correctly


def fma_f64(a: Any, b: Any, c: Any) -> Any:
    """Correctly rounded f64 ``a * b + c``."""
    out = np.vectorize(_fma_exact, otypes=[np.float64])(a, b, c)
    return out[()] if out.ndim == 0 else out


def compile_fma(op: FmaOp, slot: Slot) -> Closure:
    """The interpreter closure of one ``tl.fma``."""
    a, b, c, r = slot(op.a), slot(op.b), slot(op.c), slot(op.result)
    dt = op.a.type.dtype
    st, cd = to_numpy(dt), compute_dtype(dt)
    f = fma_f64 if cd == np.float64 else fma_f32

    def run(env: Env) -> None:
        env[r] = np.asarray(f(env[a].astype(cd), env[b].astype(cd),
                              env[c].astype(cd))).astype(st)[()]
    return run


UNARY = {"erf": erf, "log1p": np.log1p, "expm1": np.expm1}
"""The ``tl.unary`` functions defined here (``interp.ops`` adds them to its table)."""

__all__ = ["UNARY", "compile_fma", "erf", "fma_f32", "fma_f64"]
