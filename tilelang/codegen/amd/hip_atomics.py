"""HIP C++ for ``th.atomic_rmw_global``: HIP's ``atomicMax``/``atomicMin``/``atomicAnd``/
``atomicOr``/``atomicXor``/``atomicExch``/``atomicCAS`` (relaxed, agent scope, the
documented semantics), one call per thread under its predicate.

The overload is picked by the element: signed or unsigned 32-bit, HIP's own
``__hip_atomic_fetch_max``/``_min`` builtin (relaxed, agent scope) for signed 64-bit
``max``/``min`` (which HIP lacks an overload for) and ``unsigned long long`` for the bitwise kinds
on 64-bit words (the same bits); an f32/f64 ``xchg`` exchanges the bits as an
unsigned word. The old value is the result where the predicate holds, zero elsewhere.
"""

from __future__ import annotations

from tilelang.codegen.amd.hip_emitter import HipEmitter, HipHandler
from tilelang.codegen.amd.hip_thread import _guarded, _zero
from tilelang.ir.atomic_ops import AtomicRMWGlobalOp

_FN = {"max": "atomicMax", "min": "atomicMin", "and": "atomicAnd", "or": "atomicOr",
       "xor": "atomicXor", "xchg": "atomicExch", "cas": "atomicCAS"}


def _word(kind: str, bits: int, signed: bool) -> str:
    """The C type of the atomic's operand."""
    if bits == 32:
        return "int" if signed and kind in ("max", "min") else "unsigned int"
    return "long long" if signed and kind in ("max", "min") else "unsigned long long"


def _atomic_rmw(e: HipEmitter, op: AtomicRMWGlobalOp) -> None:
    dt = op.value.type.dtype
    t = e.ctype(dt)
    w = _word(op.kind, dt.bits, dt.is_signed and not dt.is_float)
    name = e.value_name(op.result)
    addr, v = e.val(op.addr), e.val(op.value)
    if dt.is_float:   # xchg: the float's bits as an unsigned word
        word = "__float_as_uint" if dt.bits == 32 else "(unsigned long long)__double_as_longlong"
        back = "__uint_as_float" if dt.bits == 32 else "__longlong_as_double"
        args = f"{word}({v})"
    else:
        args = f"({w}){v}"
        back = f"({t})"
    if op.cmp is not None:
        args = f"({w}){e.val(op.cmp)}, {args}"
    if w == "long long":   # HIP has no signed 64-bit atomicMax/Min: its builtin, as HIP's own
        call = (f"__hip_atomic_fetch_{op.kind}(({w}*){addr}, {args}, __ATOMIC_RELAXED, "
                f"__HIP_MEMORY_SCOPE_AGENT)")
    else:
        call = f"{_FN[op.kind]}(({w}*){addr}, {args})"
    e.line(f"{t} {name} = {_zero(dt)};")
    _guarded(e, op.pred, lambda: e.line(f"{name} = {back}({call});"))
    e.bind(op.result, name)


HANDLERS: dict[type, HipHandler] = {AtomicRMWGlobalOp: _atomic_rmw}

__all__ = ["HANDLERS"]
