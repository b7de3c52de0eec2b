"""HIP C++ for ``th.atomic_rmw_global``: HIP's ``atomicMax``/``atomicMin``/``atomicAnd``/
``atomicOr``/``atomicXor``/``atomicExch``/``atomicCAS`` (relaxed, agent scope, the
documented semantics), one call per thread under its predicate.

The overload is picked by the element: signed or unsigned 32-bit, HIP's own
``__hip_atomic_fetch_max``/``_min`` builtin (relaxed, agent scope) for signed 64-bit
``max``/``min`` (which HIP lacks an overload for) and ``unsigned long long`` for the bitwise kinds
on 64-bit words (the same bits); an f32/f64 ``xchg`` exchanges the bits as an
unsigned word. The old value is the result where the predicate holds, zero elsewhere.

It also takes over ``th.atomic_add_global`` for f16/bf16 elements (a CAS loop on
the enclosing 32-bit word, see ``_atomic_add``); other dtypes keep hip_thread's.
"""

from __future__ import annotations

from tilelang.codegen.amd import hip_thread
from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.amd.hip_emitter import HipEmitter, HipHandler
from tilelang.codegen.amd.hip_thread import _guarded, _zero
from tilelang.ir import thread_ops as th
from tilelang.ir.atomic_ops import AtomicRMWGlobalOp
from tilelang.ir.types import bf16, f16

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


def _bits(expr: str, dt) -> str:
    return f"__builtin_bit_cast(unsigned short, {expr})" if dt == f16 else f"{expr}.bits"


def _from_bits(expr: str, dt) -> str:
    return f"__builtin_bit_cast(_Float16, {expr})" if dt == f16 else f"tl_bf16{{{expr}}}"


def _atomic_add(e: HipEmitter, op: th.AtomicAddGlobalOp) -> None:
    """f16/bf16 adds (HIP has no 16-bit atomicAdd on gfx90a/gfx942): a CAS loop on the
    aligned 32-bit word holding the element, adding in f32 and rounding once to the
    element's dtype, as the interpreter and emulator do; other dtypes as hip_thread."""
    dt = op.value.type.dtype
    if dt not in (f16, bf16):
        return hip_thread.HANDLERS[th.AtomicAddGlobalOp](e, op)
    e.ctype(dt)
    addr, v = e.val(op.addr), e.val(op.value)
    old = _from_bits("(unsigned short)(tl_as >> tl_sh)", dt)
    new = _bits(ht.narrow(f"{ht.widen(old, dt)} + {ht.widen(v, dt)}", dt), dt)

    def body() -> None:
        e.open("{  // 16-bit atomic add: CAS on the enclosing 32-bit word")
        e.line("unsigned int* tl_w = (unsigned int*)((unsigned long long)"
               f"{addr} & ~3ull);")
        e.line(f"unsigned int tl_sh = ((unsigned int){addr} & 2u) * 8u;")
        e.line("unsigned int tl_old = *tl_w, tl_as;")
        e.open("do {")
        e.line("tl_as = tl_old;")
        e.line(f"unsigned int tl_new = (unsigned int)({new});")
        e.line("tl_old = atomicCAS(tl_w, tl_as, (tl_as & ~(0xffffu << tl_sh)) | "
               "(tl_new << tl_sh));")
        e.close("} while (tl_as != tl_old);")
        e.close()
    _guarded(e, op.pred, body)


HANDLERS: dict[type, HipHandler] = {AtomicRMWGlobalOp: _atomic_rmw,
                                    th.AtomicAddGlobalOp: _atomic_add}

__all__ = ["HANDLERS"]
