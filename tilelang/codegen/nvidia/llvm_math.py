"""LLVM types of tilelang dtypes and the float math of the NVIDIA code generator.

Narrow floats (f16, bf16) are held in LLVM ``half``/``bfloat`` values and
computed in f32: every op widens its operands, computes and rounds back, which
is exactly the interpreter's rule (round after every op). The transcendental
functions below are f32 only; their accuracy is documented in
``docs/codegen-nvidia.md``. Plain ``+ - * /`` and ``sqrt`` are IEEE
round-to-nearest (``add.rn``, ``div.rn``, ``sqrt.rn``) and are never contracted
into FMAs, so they agree bit for bit with the interpreter.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import ml_dtypes
import numpy as np
from llvmlite import ir
from llvmlite.ir import types as _irtypes

from tilelang.errors import CompileError
from tilelang.ir.types import DType, bf16, f16, f32, f64

if TYPE_CHECKING:
    from tilelang.codegen.nvidia.llvm_ops import KernelEmitter


class BFloatType(_irtypes._BaseFloatType):
    """LLVM's ``bfloat`` (llvmlite.ir has no bfloat type)."""

    null = "0.0"
    intrinsic_name = "bf16"

    def __str__(self) -> str:
        return "bfloat"

    def format_constant(self, value: float) -> str:
        bits = int(np.array(value, dtype=ml_dtypes.bfloat16).view(np.uint16))
        return f"0xR{bits:04X}"


BFloatType._create_instance()

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F32, F64 = ir.FloatType(), ir.DoubleType()
NARROW = (f16, bf16)


def llvm_type(dt: DType) -> ir.Type:
    """The LLVM register type of a tilelang dtype."""
    if dt == f16:
        return ir.HalfType()
    if dt == bf16:
        return BFloatType()
    if dt == f32:
        return F32
    if dt == f64:
        return F64
    if dt.is_bool:
        return I1
    if dt.is_int and dt.bits in (8, 16, 32, 64):
        return ir.IntType(dt.bits)
    raise CompileError(f"the NVIDIA code generator does not support {dt} values yet",
                       hint="compute in a supported dtype (f16, bf16, f32, f64, "
                            "8- to 64-bit integers, bool) and convert at the edges")


def mem_type(dt: DType) -> ir.Type:
    """The LLVM type of a dtype in memory (bool is one byte, 0 or 1)."""
    return I8 if dt.is_bool else llvm_type(dt)


def itemsize(dt: DType) -> int:
    return 1 if dt.is_bool else dt.bits // 8


def compute_dtype(dt: DType) -> DType:
    """The dtype arithmetic on ``dt`` runs in (f32 for narrow floats)."""
    return f32 if dt in NARROW else dt


def widen(e: KernelEmitter, x: ir.Value, dt: DType) -> ir.Value:
    return e.b.fpext(x, F32) if dt in NARROW else x


def narrow(e: KernelEmitter, x: ir.Value, dt: DType) -> ir.Value:
    return e.b.fptrunc(x, llvm_type(dt)) if dt in NARROW else x


def fconst(ty: ir.Type, v: float) -> ir.Constant:
    return ir.Constant(ty, v)


def _f32(v: float) -> float:
    return float(np.float32(v))


LOG2E_HI = _f32(math.log2(math.e))
LOG2E_LO = _f32(math.log2(math.e) - LOG2E_HI)
LN2 = _f32(math.log(2.0))
TWO_PI_HI = _f32(2 * math.pi)
TWO_PI_LO = _f32(2 * math.pi - TWO_PI_HI)
INV_TWO_PI = _f32(1 / (2 * math.pi))


# -- helpers ------------------------------------------------------------------------

def fma(e: KernelEmitter, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
    return e.call_intrinsic(f"llvm.fma.{_sfx(a.type)}", a.type, [a, b, c])


def unary_intrinsic(e: KernelEmitter, name: str, x: ir.Value) -> ir.Value:
    return e.call_intrinsic(f"llvm.{name}.{_sfx(x.type)}", x.type, [x])


def _sfx(ty: ir.Type) -> str:
    return "f64" if ty == F64 else "f32"


def _nvvm(e: KernelEmitter, name: str, x: ir.Value) -> ir.Value:
    """An approximate f32 SFU instruction (non-ftz: subnormals are kept)."""
    return e.call_intrinsic(f"llvm.nvvm.{name}.approx.f", F32, [x])


def _pow2i(e: KernelEmitter, k: ir.Value) -> ir.Value:
    """2**k exactly for an f32 integer ``k`` in [-126, 127] (built from the bits)."""
    ki = e.b.fptosi(k, I32)
    bits = e.b.shl(e.b.add(ki, ir.Constant(I32, 127)), ir.Constant(I32, 23))
    return e.b.bitcast(bits, F32)


def _clamp_keep_nan(e: KernelEmitter, x: ir.Value, lo: float, hi: float) -> ir.Value:
    b = e.b
    x = b.select(b.fcmp_ordered(">", x, fconst(F32, hi)), fconst(F32, hi), x)
    return b.select(b.fcmp_ordered("<", x, fconst(F32, lo)), fconst(F32, lo), x)


# -- the f32 functions ---------------------------------------------------------------

def exp_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """e**x: x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite), 2**n exact, ex2.approx on r."""
    b = e.b
    x = _clamp_keep_nan(e, x, -104.0, 89.0)     # beyond these the result is 0 / inf
    n = unary_intrinsic(e, "rint", b.fmul(x, fconst(F32, LOG2E_HI)))
    r = fma(e, x, fconst(F32, LOG2E_HI), b.fneg(n))
    r = fma(e, x, fconst(F32, LOG2E_LO), r)     # r = x*log2(e) - n, in [-0.5, 0.5]
    n1 = unary_intrinsic(e, "trunc", b.fmul(n, fconst(F32, 0.5)))
    n2 = b.fsub(n, n1)                          # n = n1 + n2, each within [-75, 65]
    p = _nvvm(e, "ex2", r)
    return b.fmul(b.fmul(p, _pow2i(e, n1)), _pow2i(e, n2))


def exp2_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    return _nvvm(e, "ex2", x)


def log2_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    return _nvvm(e, "lg2", x)


def log_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    return e.b.fmul(_nvvm(e, "lg2", x), fconst(F32, LN2))


def _reduce_2pi(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """x - k*2pi with k = rint(x/2pi), 2pi split in two f32 constants."""
    k = unary_intrinsic(e, "rint", e.b.fmul(x, fconst(F32, INV_TWO_PI)))
    nk = e.b.fneg(k)
    return fma(e, nk, fconst(F32, TWO_PI_LO), fma(e, nk, fconst(F32, TWO_PI_HI), x))


def sin_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    return _nvvm(e, "sin", _reduce_2pi(e, x))


def cos_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    return _nvvm(e, "cos", _reduce_2pi(e, x))


_TANH_POLY = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
              1.33314422036e-1, -3.33332819422e-1)


def tanh_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """Cephes tanhf: an odd polynomial for |x| < 0.625, else 1 - 2/(e**2|x| + 1)."""
    b = e.b
    ax = unary_intrinsic(e, "fabs", x)
    z = exp_f32(e, b.fadd(ax, ax))
    big = b.fsub(fconst(F32, 1.0), b.fdiv(fconst(F32, 2.0), b.fadd(z, fconst(F32, 1.0))))
    big = e.call_intrinsic("llvm.copysign.f32", F32, [big, x])
    x2 = b.fmul(x, x)
    p = fconst(F32, _TANH_POLY[0])
    for c in _TANH_POLY[1:]:
        p = fma(e, p, x2, fconst(F32, c))
    small = fma(e, b.fmul(p, x2), x, x)
    return b.select(b.fcmp_ordered(">", ax, fconst(F32, 0.625)), big, small)


def sigmoid_f32(e: KernelEmitter, x: ir.Value) -> ir.Value:
    one = fconst(F32, 1.0)
    return e.b.fdiv(one, e.b.fadd(one, exp_f32(e, e.b.fneg(x))))


def rsqrt(e: KernelEmitter, x: ir.Value) -> ir.Value:
    """1/sqrt(x) with IEEE sqrt and division: the interpreter's two roundings."""
    return e.b.fdiv(fconst(x.type, 1.0), unary_intrinsic(e, "sqrt", x))


def fmod(e: KernelEmitter, x: ir.Value, y: ir.Value) -> ir.Value:
    """C fmod: x - trunc(x/y)*y by one FMA, corrected when x/y rounded up to the next
    integer; exact while |x/y| < 2**24 (f32) or 2**53 (f64)."""
    b = e.b
    zero = fconst(x.type, 0.0)
    q = unary_intrinsic(e, "trunc", b.fdiv(x, y))
    r = fma(e, b.fneg(q), y, x)
    overshoot = b.and_(b.fcmp_ordered("!=", r, zero),
                       b.xor(b.fcmp_ordered("<", r, zero), b.fcmp_ordered("<", x, zero)))
    ay = e.call_intrinsic(f"llvm.copysign.{_sfx(x.type)}", x.type,
                          [unary_intrinsic(e, "fabs", y), x])
    r = b.select(overshoot, b.fadd(r, ay), r)
    y_inf = b.fcmp_ordered("==", unary_intrinsic(e, "fabs", y), fconst(x.type, math.inf))
    return b.select(b.and_(y_inf, b.fcmp_ordered("<", unary_intrinsic(e, "fabs", x),
                                                 fconst(x.type, math.inf))), x, r)


def pow_f32(e: KernelEmitter, x: ir.Value, y: ir.Value) -> ir.Value:
    """x**y = 2**(y*log2|x|) with C's sign and special-value rules."""
    b = e.b
    one, zero = fconst(F32, 1.0), fconst(F32, 0.0)
    ax = unary_intrinsic(e, "fabs", x)
    r = _nvvm(e, "ex2", b.fmul(y, _nvvm(e, "lg2", ax)))
    is_int = b.fcmp_ordered("==", unary_intrinsic(e, "trunc", y), y)
    half = b.fmul(y, fconst(F32, 0.5))
    odd = b.and_(is_int, b.fcmp_unordered("!=", unary_intrinsic(e, "trunc", half), half))
    neg = b.fcmp_ordered("<", x, zero)
    r = b.select(b.and_(neg, odd), b.fneg(r), r)
    r = b.select(b.and_(neg, b.not_(is_int)), fconst(F32, math.nan), r)
    ax_one = b.fcmp_ordered("==", ax, one)
    y_inf = b.fcmp_ordered("==", unary_intrinsic(e, "fabs", y), fconst(F32, math.inf))
    unit = b.or_(b.fcmp_ordered("==", y, zero), b.fcmp_ordered("==", x, one))
    unit = b.or_(unit, b.and_(ax_one, y_inf))
    return b.select(unit, one, r)


UNARY_F32 = {
    "exp": exp_f32, "exp2": exp2_f32, "log": log_f32, "log2": log2_f32,
    "sin": sin_f32, "cos": cos_f32, "tanh": tanh_f32, "sigmoid": sigmoid_f32,
}
"""The transcendental functions, f32 only (f64 has no SFU instructions)."""
