"""C++ types, literals and the fixed preamble of the HIP code generator.

Representation of tilelang dtypes in the generated HIP C++ (see ``docs/hip.md``):

* integers are the C integer types of their width (``int``, ``unsigned short``...);
  the source is compiled with ``-fwrapv``, so signed arithmetic wraps as in the
  interpreter;
* ``bool`` is ``bool`` in registers and one byte (0 or 1) in memory;
* ``f16`` is clang's ``_Float16``; ``bf16`` is ``tl_bf16``, a struct holding the
  raw 16 bits, converted explicitly (round to nearest even, NaN kept quiet) by the
  preamble's functions, so nothing depends on the ``hip_bf16.h`` of a HIP release
  and arithmetic on a bf16 by mistake does not compile;
* narrow floats compute in f32 and round back after every op, as the interpreter.

Only builtin C types are used: hiprtc compiles the same source without a C++
standard library.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from tilelang.errors import CompileError
from tilelang.ir.types import DType, bf16, f16, f32, f64

_INT_TYPES = {
    ("int", 8): "signed char", ("int", 16): "short", ("int", 32): "int",
    ("int", 64): "long long", ("uint", 8): "unsigned char", ("uint", 16): "unsigned short",
    ("uint", 32): "unsigned int", ("uint", 64): "unsigned long long",
}

NARROW = (f16, bf16)


def ctype(dt: DType) -> str:
    """The C++ register type of ``dt``; a ``CompileError`` for dtypes without one."""
    if dt == f32:
        return "float"
    if dt == f64:
        return "double"
    if dt == f16:
        return "_Float16"
    if dt == bf16:
        return "tl_bf16"
    if dt.is_bool:
        return "bool"
    t = _INT_TYPES.get((dt.kind, dt.bits))
    if t is None:
        raise CompileError(f"the HIP code generator does not support {dt} values yet",
                           hint="compute in a supported dtype (f16, bf16, f32, f64, "
                                "8- to 64-bit integers, bool) and convert at the edges")
    return t


def unsigned_ctype(dt: DType) -> str:
    """The unsigned C type of an integer dtype's width (for wrapping shifts)."""
    return _INT_TYPES[("uint", dt.bits)]


def mem_ctype(dt: DType) -> str:
    """The C type of one element in memory: raw bits for bf16, a byte for bool."""
    if dt == bf16:
        return "unsigned short"
    if dt.is_bool:
        return "unsigned char"
    return ctype(dt)


def itemsize(dt: DType) -> int:
    return 1 if dt.is_bool else dt.bits // 8


def compute_ctype(dt: DType) -> str:
    """The type arithmetic on ``dt`` runs in: f32 for narrow floats."""
    return "float" if dt in NARROW else ctype(dt)


def widen(expr: str, dt: DType) -> str:
    """``expr`` (of ``dt``) in its compute type."""
    if dt == f16:
        return f"(float){expr}"
    if dt == bf16:
        return f"tl_bf16_to_f32({expr})"
    return expr


def narrow(expr: str, dt: DType) -> str:
    """``expr`` (of ``dt``'s compute type) rounded back to ``dt``."""
    if dt == f16:
        return f"(_Float16)({expr})"
    if dt == bf16:
        return f"tl_f32_to_bf16({expr})"
    return expr


def from_mem(expr: str, dt: DType) -> str:
    """A register value of ``dt`` from its memory representation."""
    if dt == bf16:
        return f"tl_bf16{{{expr}}}"
    if dt.is_bool:
        return f"({expr} != 0)"
    return expr


def to_mem(expr: str, dt: DType) -> str:
    """The memory representation of a register value of ``dt``."""
    if dt == bf16:
        return f"{expr}.bits"
    if dt.is_bool:
        return f"(unsigned char){expr}"
    return expr


def _float_literal(value: float, suffix: str) -> str:
    if math.isnan(value):
        return f"__builtin_nan{suffix}(\"\")"
    if math.isinf(value):
        return ("-" if value < 0 else "") + f"__builtin_inf{suffix}()"
    text = str(np.float32(value)) if suffix == "f" else repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    return text + suffix


def literal(dt: DType, value: int | float | bool) -> str:
    """A C++ expression of type ``ctype(dt)`` with the value ``value`` (rounded or wrapped
    to ``dt`` as the interpreter does)."""
    if dt.is_bool:
        return "true" if value else "false"
    if dt == f32:
        return _float_literal(float(np.float32(value)), "f")
    if dt == f64:
        return _float_literal(float(value), "")
    if dt == f16:
        return f"(_Float16){_float_literal(float(np.float16(value)), 'f')}"
    if dt == bf16:
        bits = int(np.array(value, dtype=ml_dtypes.bfloat16).view(np.uint16))
        shown = float(np.array(value, dtype=ml_dtypes.bfloat16).astype(np.float32))
        return f"tl_bf16{{0x{bits:04X} /* {shown:g} */}}"
    t = ctype(dt)
    bits = dt.bits
    v = int(value) & ((1 << bits) - 1)
    if dt.is_signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    if bits == 64:
        if dt.is_signed:
            return "(-9223372036854775807LL - 1)" if v == -(1 << 63) else f"{v}LL"
        return f"{v}ull"
    if bits == 32:
        if dt.is_signed:
            return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)
        return f"{v}u"
    return f"({t}){v}"


def int_limits(dt: DType) -> tuple[str, str]:
    """The smallest and largest value of an integer dtype as C literals."""
    if dt.is_signed:
        lo, hi = -(1 << (dt.bits - 1)), (1 << (dt.bits - 1)) - 1
    else:
        lo, hi = 0, (1 << dt.bits) - 1
    return literal(dt, lo), literal(dt, hi)


_SHORT_NAMES = {"_Float16": "half", "signed char": "schar", "unsigned char": "uchar",
                "unsigned short": "ushort", "unsigned int": "uint", "long long": "longlong",
                "unsigned long long": "ulonglong"}


def vector_typedef(elem: str, n: int) -> tuple[str, str]:
    """(name, typedef line) of a clang ext_vector of ``n`` ``elem``."""
    name = f"tl_{_SHORT_NAMES.get(elem, elem)}x{n}"
    return name, f"typedef {elem} {name} __attribute__((ext_vector_type({n})));"


PREAMBLE = r"""
#pragma clang fp contract(off)  // a * b + c rounds twice, as in the interpreter

// bf16 as raw bits: explicit conversions, no dependence on hip_bf16.h.
struct tl_bf16 { unsigned short bits; };

__device__ __forceinline__ float tl_bf16_to_f32(tl_bf16 x) {
  return __uint_as_float((unsigned int)x.bits << 16);
}

__device__ __forceinline__ tl_bf16 tl_f32_to_bf16(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)  // NaN: keep the sign, make it quiet
    return tl_bf16{(unsigned short)((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);      // round to nearest, ties to even
  return tl_bf16{(unsigned short)(u >> 16)};
}

__device__ __forceinline__ tl_bf16 tl_f64_to_bf16(double d) {
  // Round to odd into f32 first, so the second rounding is the only one that counts.
  float f = (float)d;
  if ((double)f != d && f == f) {
    unsigned int u = __float_as_uint(f);
    if (((double)f > d) == (d > 0.0)) u -= 1u;  // truncate toward zero...
    f = __uint_as_float(u | 1u);                  // ...and mark the lost bits
  }
  return tl_f32_to_bf16(f);
}

// Float -> integer: truncate, saturate at the type's limits, NaN -> 0.
template <typename I, typename F>
__device__ __forceinline__ I tl_f2i(F x, I lo, I hi) {
  return x != x ? (I)0 : x >= (F)hi ? hi : x <= (F)lo ? lo : (I)x;
}

// Integer division as the interpreter: x / 0 = x % 0 = 0, MIN / -1 = MIN, MIN % -1 = 0.
template <typename T> __device__ __forceinline__ T tl_sdiv(T a, T b) {
  return b == 0 ? (T)0 : b == (T)-1 ? (T)(0 - a) : (T)(a / b);
}
template <typename T> __device__ __forceinline__ T tl_smod(T a, T b) {
  return (b == 0 || b == (T)-1) ? (T)0 : (T)(a % b);
}
template <typename T> __device__ __forceinline__ T tl_udiv(T a, T b) {
  return b == 0 ? (T)0 : (T)(a / b);
}
template <typename T> __device__ __forceinline__ T tl_umod(T a, T b) {
  return b == 0 ? (T)0 : (T)(a % b);
}

// Integer power by squaring; a negative exponent gives trunc(1 / a**-b).
template <typename T, typename U>
__device__ __forceinline__ T tl_ipow(T a, T b, bool is_signed) {
  T acc = 1, base = a;
  U ex = (U)b;
  do {
    if (ex & 1u) acc = (T)(acc * base);
    base = (T)(base * base);
    ex = (U)(ex >> 1);
  } while (ex != 0);
  if (is_signed && b < (T)0)
    return a == (T)1 ? (T)1 : a == (T)-1 ? ((b & 1) ? (T)-1 : (T)1) : (T)0;
  return acc;
}

// maximum / minimum propagate NaN (numpy's rule).
template <typename F> __device__ __forceinline__ F tl_fmax(F a, F b) {
  return a != a ? a : b != b ? b : (a > b ? a : b);
}
template <typename F> __device__ __forceinline__ F tl_fmin(F a, F b) {
  return a != a ? a : b != b ? b : (a < b ? a : b);
}
""".strip("\n")
