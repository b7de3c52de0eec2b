"""``erf``, ``log1p``, ``expm1`` (f32) and ``tl.fma`` in the NVIDIA code generator.

No libdevice: each function is a short sequence of IEEE adds, multiplies and
FMAs around the SFU ``ex2``/``lg2`` that ``llvm_math`` already uses.

* ``erf``: ``x * P(x**2)`` (degree 5) for ``|x| < 1``; ``1 - exp(Q(|x|))`` with
  ``Q ~ log(erfc)`` (degree 8) for ``1 <= |x| < 4``; 1 beyond (``erfc(4)`` is
  below half an f32 ulp of 1); the sign copied from ``x``. The coefficients are
  least-squares fits in f64, rounded to f32; evaluated in f32 with a correctly
  rounded ``exp`` the error is below 1.1e-7 absolute (2.3 ulp) on all of f32
  (``tests/codegen/test_math_special.py`` replays the sequence on numpy against
  ``math.erf``); ``ex2.approx`` adds at most its 2 ulp times ``erfc(|x|) <= 0.16``.
* ``log1p``: ``2 atanh(s)`` with ``s = x / (2 + x)`` as an odd series up to
  ``s**11`` for ``-0.29 < x < 0.41`` (``|s| < 0.172``, truncation below 1e-9
  relative), else ``log(1 + x)`` (there ``|log1p(x)| > 0.34``, so the rounding of
  ``1 + x`` costs at most an ulp).
* ``expm1``: the Taylor series to ``x**8 / 8!`` for ``|x| < ln(2) / 2``
  (truncation below 1e-9 relative), else ``exp(x) - 1``.
* ``tl.fma``: ``llvm.fma`` (``fma.rn``); f16/bf16 widen to f32, fuse, round once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from llvmlite import ir

from tilelang.codegen.nvidia import llvm_math as m
from tilelang.codegen.nvidia.llvm_math import F32, fconst, fma, narrow, unary_intrinsic, widen
from tilelang.ir.math_ops import FmaOp

if TYPE_CHECKING:
    from tilelang.codegen.nvidia.llvm_ops import KernelEmitter

ERF_SMALL = (1.1283791065216064, -0.37612318992614746, 0.11280132085084915,
             -0.0267099067568779, 0.004915888886898756, -0.0005624555633403361)
"""``erf(x) / x`` as a polynomial in ``x**2`` on ``[0, 1)``, lowest power first."""

ERF_LOG_ERFC = (0.0003208004927728325, -1.1302382946014404, -0.631814181804657,
                -0.11009454727172852, 0.026431161910295486, -0.004763725679367781,
                0.0005978064727969468, -4.618977618520148e-05, 1.6444136008431087e-06)
"""``log(erfc(x))`` as a polynomial in ``x`` on ``[1, 4)``, lowest power first."""


def _horner(e: KernelEmitter, coeffs: tuple[float, ...], t: ir.Value) -> ir.Value:
    p = fconst(F32, coeffs[-1])
    for c in coeffs[-2::-1]:
        p = fma(e, p, t, fconst(F32, c))
    return p


def erf_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """erf on f32 (see the module docstring for the method and its error)."""
    b = e.b
    ax = unary_intrinsic(e, "fabs", x)
    small = b.fmul(_horner(e, ERF_SMALL, b.fmul(ax, ax)), ax)
    big = b.fsub(fconst(F32, 1.0), m.exp_f32(e, _horner(e, ERF_LOG_ERFC, ax)))
    r = b.select(b.fcmp_ordered("<", ax, fconst(F32, 1.0)), small, big)
    r = b.select(b.fcmp_ordered(">=", ax, fconst(F32, 4.0)), fconst(F32, 1.0), r)
    return e.call_intrinsic("llvm.copysign.f32", F32, [r, x])


_ATANH_SERIES = tuple(2.0 / k for k in (3, 5, 7, 9, 11))


def log1p_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """log(1 + x) on f32, accurate near 0."""
    b = e.b
    one = fconst(F32, 1.0)
    s = b.fdiv(x, b.fadd(fconst(F32, 2.0), x))
    s2 = b.fmul(s, s)
    tail = b.fmul(s2, _horner(e, _ATANH_SERIES, s2))
    small = fma(e, s, tail, b.fadd(s, s))
    near = b.and_(b.fcmp_ordered(">", x, fconst(F32, -0.29)),
                  b.fcmp_ordered("<", x, fconst(F32, 0.41)))
    return b.select(near, small, m.log_f32(e, b.fadd(one, x)))


_EXPM1_SERIES = tuple(1.0 / math.factorial(k) for k in range(2, 9))


def expm1_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """exp(x) - 1 on f32, accurate near 0."""
    b = e.b
    small = fma(e, b.fmul(x, x), _horner(e, _EXPM1_SERIES, x), x)
    big = b.fsub(m.exp_f32(e, x), fconst(F32, 1.0))
    ax = unary_intrinsic(e, "fabs", x)
    return b.select(b.fcmp_ordered("<", ax, fconst(F32, math.log(2.0) / 2)), small, big)


m.UNARY_F32.update({"erf": erf_f32, "log1p": log1p_f32, "expm1": expm1_f32})


def _fma(e: KernelEmitter, op: FmaOp) -> None:
    dt = op.a.type.dtype
    e.type_of(dt)
    a, b, c = (widen(e, e.val(v), dt) for v in (op.a, op.b, op.c))
    e.bind(op.result, narrow(e, fma(e, a, b, c), dt))


HANDLERS = {FmaOp: _fma}

__all__ = ["ERF_LOG_ERFC", "ERF_SMALL", "HANDLERS", "erf_f32", "expm1_f32", "log1p_f32"]
