"""Thread IR → LLVM IR for warp specialization (``tilelang.ir.role_ops``), sm_90a only.

* ``tl.warp_specialize`` branches on the warpgroup index ``%tid.x >> 7`` (as lane
  0 has it, through ``shfl.sync.idx``, so ptxas sees a warp-uniform value) being
  below ``consumer_threads / 128``, to a ``ws.consumer`` or a ``ws.producer`` block;
  both continue at ``ws.end``. The branch is uniform per warpgroup (both thread
  counts are multiples of 128), so each region's ``.sync.aligned`` instructions run
  in converged warps.
* ``th.setmaxnreg`` is ``setmaxnreg.{inc,dec}.sync.aligned.u32 N;``.
* ``th.bar_sync`` is ``bar.sync id, threads;`` (PTX's ``barrier.sync.aligned``,
  what CUTLASS's named barriers issue): each region's control flow is uniform, so
  the aligned form holds, and ptxas need not reconverge warps around it.

All three are volatile, convergent inline PTX that clobbers memory: LLVM neither
deletes, duplicates nor reorders them across memory accesses or other effects.

ptxas honours ``setmaxnreg`` only when it knows the kernel's register count at
entry; otherwise it warns "(C7508) ... 'setmaxnreg' ignored" and the producer's
registers never reach the consumers. That count follows from the block size and
the blocks per SM, so a kernel that contains ``th.setmaxnreg`` gets
``.minnctapersm 1`` beside its ``.maxntid`` (``needs_min_ctas``; ``ptx.build_module``
sets it), and ``ptxas.assemble`` turns a C7508 warning into a ``CompileError``.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_math import I32
from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter
from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir import role_ops as ro
from tilelang.ir.values import Function

__all__ = ["HANDLERS", "check_target", "needs_min_ctas", "uses_roles"]

# Targets whose PTX has setmaxnreg (sm_90a features; plain sm_90 lacks it).
TARGETS = frozenset({"sm_90a"})
# 32-bit registers per SM on sm_90: a block's warpgroups can hold at most this many
# together (more, and the consumers' setmaxnreg.inc waits forever for registers).
REGISTER_FILE = 65536
WARPGROUP_SHIFT = 7   # log2 of the 128 threads of a warpgroup


def uses_roles(fn: Function) -> list[o.Op]:
    """The warp-specialization ops of ``fn`` in program order (empty when it has none)."""
    return [op for op in o.walk(fn.body) if isinstance(op, ro.ROLE_OPS)]


def needs_min_ctas(fn: Function) -> bool:
    """Whether ``fn`` contains ``th.setmaxnreg`` (its PTX then needs ``.minnctapersm 1``)."""
    return any(isinstance(op, ro.SetMaxNRegOp) for op in o.walk(fn.body))


def check_target(fn: Function, target: str, num_threads: int) -> None:
    """Reject warp-specialization ops on a target without them, and a
    ``tl.warp_specialize`` whose thread counts do not add up to the block size or
    whose register counts exceed the register file (``CompileError``s)."""
    roles = uses_roles(fn)
    if roles and target not in TARGETS:
        raise CompileError(f"{roles[0].NAME} (warp specialization) needs sm_90a; the "
                           f"kernel is compiled for {target}", kernel=fn.name, loc=roles[0].loc,
                           hint="compile for sm_90a, or pass warp_specialize=False")
    for op in roles:
        if isinstance(op, ro.WarpSpecializeOp) and op.num_threads != num_threads:
            raise CompileError(
                f"tl.warp_specialize runs {op.consumer_threads} consumer + "
                f"{op.producer_threads} producer threads, but the block has {num_threads}",
                kernel=fn.name, loc=op.loc,
                hint="a bug in the pass that wrote it: num_threads must be their sum")
        if isinstance(op, ro.WarpSpecializeOp) and op.consumer_regs and op.producer_regs:
            total = op.consumer_threads * op.consumer_regs + \
                op.producer_threads * op.producer_regs
            if total > REGISTER_FILE:
                raise CompileError(
                    f"tl.warp_specialize asks for {op.consumer_threads} x {op.consumer_regs} "
                    f"+ {op.producer_threads} x {op.producer_regs} = {total} registers; an "
                    f"SM has {REGISTER_FILE}, so setmaxnreg.inc would never return",
                    kernel=fn.name, loc=op.loc,
                    hint="lower consumer_regs or producer_regs (e.g. 232 and 40 for two "
                         "consumer warpgroups and one producer)")


def _warp_specialize(e: KernelEmitter, op: ro.WarpSpecializeOp) -> None:
    bld = e.b
    consumer, producer = e.new_block("ws.consumer"), e.new_block("ws.producer")
    merge = e.new_block("ws.end")
    # The warpgroup index, read from lane 0 with shfl.sync (as CUTLASS does): ptxas
    # then knows it is the same in every lane of a warp and compiles a uniform
    # branch; %tid.x compared directly is correct but looks divergent to it.
    group = bld.lshr(e.sreg("tid.x"), ir.Constant(I32, WARPGROUP_SHIFT))
    group = e.call_intrinsic("llvm.nvvm.shfl.sync.idx.i32", I32,
                             [ir.Constant(I32, -1), group, ir.Constant(I32, 0),
                              ir.Constant(I32, 0x1F)])
    is_consumer = bld.icmp_unsigned("<", group,
                                    ir.Constant(I32, op.consumer_threads >> WARPGROUP_SHIFT))
    bld.cbranch(is_consumer, consumer, producer)
    reaches_end = False
    for bb, region in ((consumer, op.consumer), (producer, op.producer)):
        bld.position_at_end(bb)
        if e.emit_block(region) is not None:
            reaches_end = True
            bld.branch(merge)
        # the region's last op left its own location; the code after the op has the op's
        e._set_loc(op.loc)
    if not reaches_end:            # both regions returned: so does the op
        e.llfn.blocks.remove(merge)
        return
    bld.position_at_end(merge)


def _effect(e: KernelEmitter, asm: str) -> None:
    e.inline_asm(ir.VoidType(), asm, "~{memory}", [], side_effect=True, convergent=True)


def _setmaxnreg(e: KernelEmitter, op: ro.SetMaxNRegOp) -> None:
    _effect(e, f"setmaxnreg.{'inc' if op.inc else 'dec'}.sync.aligned.u32 {op.regs};")


def _bar_sync(e: KernelEmitter, op: ro.BarSyncOp) -> None:
    _effect(e, f"bar.sync {op.id}, {op.threads};")


HANDLERS: dict[type, Handler] = {
    ro.WarpSpecializeOp: _warp_specialize, ro.SetMaxNRegOp: _setmaxnreg,
    ro.BarSyncOp: _bar_sync,
}
"""Handlers of the warp-specialization ops."""
