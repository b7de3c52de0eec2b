"""PTX (through LLVM) for ``th.atomic_rmw_global``: one ``atom.global.<op>`` per thread.

LLVM ``atomicrmw`` with ``monotonic`` ordering becomes ``atom.global`` without
``.sem``/``.scope``, i.e. relaxed at GPU scope, the documented semantics; ``cas``
is inline ``atom.global.cas.b32``/``.b64`` (LLVM's ``cmpxchg`` would give
``atom.relaxed.sys``, system scope).
Signedness picks ``max``/``min`` against ``umax``/``umin`` (``atom.max.s32`` or
``.u32``); an f32/f64 ``xchg`` exchanges the bits as an integer of the same width
(``atom.exch.b32``/``.b64``). The old value is the result where the predicate holds,
zero elsewhere.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter
from tilelang.codegen.nvidia.llvm_thread import _opt, _zero, global_ptr, guarded
from tilelang.ir.atomic_ops import AtomicRMWGlobalOp

_RMW = {"and": "and", "or": "or", "xor": "xor", "xchg": "xchg"}


def _atomic_rmw(e: KernelEmitter, op: AtomicRMWGlobalOp) -> None:
    dt = op.value.type.dtype
    ty = e.type_of(dt)
    word = ir.IntType(dt.bits)

    def body() -> list[ir.Value]:
        ptr = global_ptr(e, e.val(op.addr))
        v = e.val(op.value)
        if op.kind == "cas":
            # inline: LLVM's cmpxchg comes out as atom.relaxed.sys, not the GPU scope
            r = "r" if dt.bits == 32 else "l"
            asm = f"atom.global.cas.b{dt.bits} $0, [$1], $2, $3;"
            return [e.inline_asm(word, asm, f"={r},l,{r},{r},~{{memory}}",
                                 [e.val(op.addr), e.val(op.cmp), v], side_effect=True)]
        if op.kind in ("max", "min"):
            kind = op.kind if dt.is_signed else "u" + op.kind
            return [e.b.atomic_rmw(kind, ptr, v, "monotonic")]
        if dt.is_float:   # xchg of a float: the same bits through an integer word
            old = e.b.atomic_rmw("xchg", ptr, e.b.bitcast(v, word), "monotonic")
            return [e.b.bitcast(old, ty)]
        return [e.b.atomic_rmw(_RMW[op.kind], ptr, v, "monotonic")]

    (old,) = guarded(e, _opt(e, op.pred), body, [_zero(e, dt)])
    e.bind(op.result, old)


HANDLERS: dict[type, Handler] = {AtomicRMWGlobalOp: _atomic_rmw}

__all__ = ["HANDLERS"]
