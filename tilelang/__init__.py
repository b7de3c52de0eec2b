"""tilelang: a Python-embedded tile language and compiler for GPU kernels.

    import tilelang as tl

    @tl.kernel
    def add(X, Y, Z, BLOCK: tl.constexpr = 1024):
        off = tl.program_id(0) * BLOCK
        tl.store(Z, (off,), tl.load(X, (off,), (BLOCK,)) + tl.load(Y, (off,), (BLOCK,)))

    add[(tl.cdiv(n, 1024),)](x, y, z)
"""

from typing import Any

from tilelang.errors import CompileError, KernelError, LaunchError, TileLangError
from tilelang.frontend.kernel_def import func
from tilelang.runtime.kernel import Kernel, kernel
from tilelang.autotune import Config, autotune
from tilelang.integrations import torch_op
from tilelang.frontend.language import (
    Tensor, abs, alloc_shared, arange, atomic_add, barrier, broadcast_to, cast, cdiv, ceil,
    constexpr, copy, cos, device_assert, dot, exp, exp2, floor, full, load, log, log2, max,
    maximum, min, minimum, num_programs, pipeline, print, program_id, reshape, rsqrt,
    sigmoid, sin, sqrt, static_assert, static_range, store, sum, tanh, trans, where, zeros,
)
from tilelang.frontend.language import gather, rand, randint, randint4x, randn, scatter, scatter_add
from tilelang.frontend.math_lang import clamp, erf, expm1, fma, isinf, isnan, log1p, pow
from tilelang.frontend.scan_lang import argmax, argmin, associative_scan, cumprod, cumsum
from tilelang.frontend.language import (  # noqa: E402 - atomics returning old values
    atomic_and, atomic_cas, atomic_max, atomic_min, atomic_or, atomic_xchg, atomic_xor,
)
from tilelang.frontend.language import sort
from tilelang.ir.types import (
    DType, bf16, f8e4m3, f8e5m2, f16, f32, f64, i4, i8, i16, i32, i64, u4, u8, u16, u32, u64,
)
from tilelang.ir import types as _types
from tilelang.ir.types import bool_
from tilelang.ir.types import f4e2m1, f6e2m3, f6e3m2
from tilelang.ir.lowbit import PackedArray
from tilelang.ir.lowbit import pack_values as pack

bool = bool_  # noqa: A001 - the language's dtype name, as in DESIGN.md
float16, bfloat16, float32, float64 = f16, bf16, f32, f64
int8, int16, int32, int64 = i8, i16, i32, i64
uint8 = u8


def _format(make: Any, *args: Any) -> DType:
    try:
        return make(*args)
    except ValueError as e:
        raise CompileError(str(e), hint="see docs/lowbit.md for the formats") from None


def int(bits: int) -> DType:  # noqa: A001 - the language's name, as tl.int(3) in Tilus
    """``tl.int(bits)``: the signed integer dtype of ``bits`` (1..8, 16, 32, 64) bits."""
    return _format(_types.int_type, bits)


def uint(bits: int) -> DType:
    """``tl.uint(bits)``: the unsigned integer dtype of ``bits`` (1..8, 16, 32, 64) bits."""
    return _format(_types.int_type, bits, False)


def float(exp: int, man: int) -> DType:  # noqa: A001
    """``tl.float(exp, man)``: the float format with a sign, ``exp`` exponent and ``man``
    mantissa bits (3..8 bits in all; rules in docs/lowbit.md), or f16/bf16/f32/f64."""
    return _format(_types.float_type, exp, man)


# (compile-time functions of constants: a kernel may call them too)
for _f in (int, uint, float):
    _f.__tl_builtin__ = True  # type: ignore[attr-defined]

from tilelang.version import __version__  # noqa: E402,F401
