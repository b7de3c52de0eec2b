"""Thread IR → LLVM IR for the Hopper ``wgmma`` ops (``tilelang.ir.hopper_ops``).

Every op is inline PTX (NVPTX has no wgmma intrinsics in the LLVM that llvmlite
ships). The accumulator registers are tied operands (``=f`` outputs with the
matching inputs), and ``th.wgmma_wait`` ties the values it guards the same way,
so LLVM cannot move a read of an accumulator above the wait that completes it;
the ops with effects are volatile and clobber memory, so they keep their order
relative to each other, to shared stores and to barriers.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_math import F32, I64
from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter
from tilelang.codegen.nvidia.llvm_thread import _asm_results, _pack16, shared_addr32
from tilelang.ir import hopper_ops as hp
from tilelang.ir.types import bf16


def _effect(e: KernelEmitter, asm: str) -> None:
    e.inline_asm(ir.VoidType(), asm, "~{memory}", [], side_effect=True, convergent=True)


def _desc(e: KernelEmitter, op: hp.WgmmaDescOp) -> None:
    fixed = hp.encode_descriptor(0, op.lbo, op.sbo, op.swizzle)
    addr = e.b.zext(shared_addr32(e, e.val(op.addr)), I64)
    start = e.b.and_(e.b.lshr(addr, ir.Constant(I64, 4)), ir.Constant(I64, 0x3FFF))
    # the i64 constant is the descriptor's bit pattern (bit 63 may be set)
    fixed_c = ir.Constant(I64, fixed - (1 << 64) if fixed >= 1 << 63 else fixed)
    e.bind(op.result, e.b.or_(start, fixed_c))


def _fence(e: KernelEmitter, op: hp.WgmmaFenceOp) -> None:
    _effect(e, "wgmma.fence.sync.aligned;")


def _fence_proxy(e: KernelEmitter, op: hp.FenceProxyAsyncOp) -> None:
    _effect(e, "fence.proxy.async.shared::cta;")


def _commit(e: KernelEmitter, op: hp.WgmmaCommitOp) -> None:
    _effect(e, "wgmma.commit_group.sync.aligned;")


def _tied(h: int) -> list[str]:
    return ["=f"] * h + [str(i) for i in range(h)]


def _wgmma(e: KernelEmitter, op: hp.WgmmaOp) -> None:
    h = op.n // 2
    t = "bf16" if op.dtype == bf16 else "f16"
    d = "{" + ", ".join(f"${i}" for i in range(h)) + "}"
    args = [e.val(v) for v in op.c]
    cons = _tied(h)
    tb = 1 if op.trans_b else 0
    if op.a_desc is not None:
        a_text, args, cons = f"${2 * h}", args + [e.val(op.a_desc)], cons + ["l"]
        b_pos, tail = 2 * h + 1, f"1, 1, 0, {tb}"       # scale-a, scale-b, trans-a, trans-b
    else:
        a = [e.val(v) for v in op.a]
        regs = [_pack16(e, x, y) for x, y in zip(a[0::2], a[1::2])]
        a_text = "{" + ", ".join(f"${2 * h + i}" for i in range(4)) + "}"
        args, cons = args + regs, cons + ["r"] * 4
        b_pos, tail = 2 * h + 4, f"1, 1, {tb}"          # scale-a, scale-b, trans-b
    args.append(e.val(op.b_desc))
    cons.append("l")
    scale = 1 if op.scale_d else 0
    asm = ("{\n.reg .pred p;\n"
           f"setp.ne.b32 p, {scale}, 0;\n"
           f"wgmma.mma_async.sync.aligned.m64n{op.n}k16.f32.{t}.{t} {d}, {a_text}, "
           f"${b_pos}, p, {tail};\n}}")
    ret = F32 if h == 1 else ir.LiteralStructType([F32] * h)
    out = e.inline_asm(ret, asm, ",".join(cons + ["~{memory}"]), args, side_effect=True,
                       convergent=True)
    for r, v in zip(op.results, _asm_results(e, out, h)):
        e.bind(r, v)


def _wait(e: KernelEmitter, op: hp.WgmmaWaitOp) -> None:
    k = len(op.values)
    asm = f"wgmma.wait_group.sync.aligned {op.pending};"
    if k == 0:
        _effect(e, asm)
        return
    ret = F32 if k == 1 else ir.LiteralStructType([F32] * k)
    out = e.inline_asm(ret, asm, ",".join(_tied(k) + ["~{memory}"]),
                       [e.val(v) for v in op.values], side_effect=True, convergent=True)
    for r, v in zip(op.results, _asm_results(e, out, k)):
        e.bind(r, v)


HANDLERS: dict[type, Handler] = {
    hp.WgmmaDescOp: _desc, hp.WgmmaFenceOp: _fence, hp.FenceProxyAsyncOp: _fence_proxy,
    hp.WgmmaOp: _wgmma, hp.WgmmaCommitOp: _commit, hp.WgmmaWaitOp: _wait,
}
"""Handlers of the Hopper thread-IR ops."""
