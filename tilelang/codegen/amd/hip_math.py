"""``tl.fma`` in the HIP code generator: ``fmaf``/``fma`` (one rounding); f16/bf16
widen to f32, fuse and round once. (``erf``, ``log1p``, ``expm1`` are HIP's device
math functions, in ``hip_ops``' table of float functions.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.codegen.amd import hip_types as ht
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.types import f64

if TYPE_CHECKING:
    from tilelang.codegen.amd.hip import HipEmitter


def _fma(e: HipEmitter, op: FmaOp) -> None:
    dt = op.a.type.dtype
    e.ctype(dt)
    a, b, c = (ht.widen(e.val(v), dt) for v in (op.a, op.b, op.c))
    fn = "fma" if dt == f64 else "fmaf"
    e.define(op.result, ht.narrow(f"{fn}({a}, {b}, {c})", dt))


HANDLERS = {FmaOp: _fma}

__all__ = ["HANDLERS"]
