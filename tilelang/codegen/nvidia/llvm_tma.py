"""Thread IR → LLVM IR for the mbarrier and TMA ops (``tilelang.ir.tma_ops``), and
the kernel parameters that carry TMA tensor maps.

Tensor maps. A tensor that some ``th.tma_load`` reads gets one more kernel
parameter after its strides: ``ptr byval([128 x i8]) align 64
"nvvm.grid_constant"``, which NVPTX prints as ``.param .align 64 .b8 k_param_N[128]``
and whose address it takes with ``cvta.param`` -- CUDA's ``const __grid_constant__
CUtensorMap`` -- so the copy reads the map straight from the launch parameters
(no global-memory copy, no extra launch-time allocation). The runtime builds
the 128 bytes with ``cuTensorMapEncodeTiled`` (``runtime/tensor_maps.py``).

Every op is inline PTX (llvmlite's LLVM has no mbarrier/TMA intrinsics that
take our operands); predicated ops set a predicate from an i32 so one elected
thread issues them without branching. Effects are volatile and clobber memory,
so they keep their order relative to shared accesses and barriers.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_math import I32, I64
from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter
from tilelang.codegen.nvidia.llvm_thread import shared_addr32
from tilelang.ir import ops as o
from tilelang.ir import tma_ops as tma
from tilelang.ir.values import Function, Value

TENSOR_MAP_BYTES = 128
TENSOR_MAP_ALIGN = 64


def uses_tma(fn: Function) -> bool:
    """Whether ``fn`` issues TMA copies (its shared memory is then 1024-byte aligned:
    the swizzles act on absolute address bits)."""
    return any(isinstance(op, (tma.TmaLoadOp, tma.TmaStoreOp)) for op in o.walk(fn.body))


def tensor_map_param(arg: ir.Argument) -> None:
    """Make ``arg`` (an opaque pointer parameter) a grid-constant 128-byte tensor map."""
    # llvmlite validates attribute names against its own list; these are NVPTX's.
    set.add(arg.attributes, f"byval([{TENSOR_MAP_BYTES} x i8])")
    set.add(arg.attributes, '"nvvm.grid_constant"')
    arg.attributes.align = TENSOR_MAP_ALIGN


def _effect(e: KernelEmitter, asm: str, cons: str = "", args: list[ir.Value] | None = None
            ) -> None:
    cons = f"{cons},~{{memory}}" if cons else "~{memory}"
    e.inline_asm(ir.VoidType(), asm, cons, args or [], side_effect=True)


def _predicated(e: KernelEmitter, body: str, cons: list[str], args: list[ir.Value],
                pred: Value | None) -> None:
    """``body`` (operands ``$0..``) run where ``pred`` holds (always without one)."""
    if pred is None:
        _effect(e, body, ",".join(cons), args)
        return
    k = len(args)
    flag = e.b.zext(e.val(pred), I32)
    asm = "{\n.reg .pred p;\n" f"setp.ne.b32 p, ${k}, 0;\n@p {body}\n}}"
    _effect(e, asm, ",".join(cons + ["r"]), args + [flag])


def _bar(e: KernelEmitter, v: Value) -> ir.Value:
    return shared_addr32(e, e.val(v))


def _init(e: KernelEmitter, op: tma.MbarrierInitOp) -> None:
    _predicated(e, f"mbarrier.init.shared::cta.b64 [$0], {op.count};", ["r"],
                [_bar(e, op.bar)], op.pred)


def _arrive(e: KernelEmitter, op: tma.MbarrierArriveOp) -> None:
    _predicated(e, "mbarrier.arrive.shared::cta.b64 _, [$0];", ["r"], [_bar(e, op.bar)],
                op.pred)


def _expect_tx(e: KernelEmitter, op: tma.MbarrierExpectTxOp) -> None:
    _predicated(e, f"mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], {op.bytes};", ["r"],
                [_bar(e, op.bar)], op.pred)


def _wait(e: KernelEmitter, op: tma.MbarrierWaitOp) -> None:
    # ${:uid} makes the label unique per inlined copy of the loop
    asm = ("{\n.reg .pred done;\n"
           "TL_MBAR_WAIT_${:uid}:\n"
           "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\n"
           "@!done bra TL_MBAR_WAIT_${:uid};\n}")
    _effect(e, asm, "r,r", [_bar(e, op.bar), e.val(op.parity)])


def _inval(e: KernelEmitter, op: tma.MbarrierInvalOp) -> None:
    _predicated(e, "mbarrier.inval.shared::cta.b64 [$0];", ["r"], [_bar(e, op.bar)], op.pred)


def _fence_init(e: KernelEmitter, op: tma.FenceMbarrierInitOp) -> None:
    _effect(e, "fence.mbarrier_init.release.cluster;")


def _tensor_map(e: KernelEmitter, op: tma.TmaLoadOp | tma.TmaStoreOp) -> ir.Value:
    """The address (i64) of the grid-constant tensor map of ``op``'s tensor."""
    maps = getattr(e, "tensor_maps", {})
    if op.tensor.name not in maps:
        raise e.error(f"{op.NAME} of '{op.tensor.name}' has no tensor-map parameter",
                      "emit the kernel with codegen.nvidia.ptx.build_module, which adds one")
    return e.b.ptrtoint(maps[op.tensor.name], I64)


def _tma_load(e: KernelEmitter, op: tma.TmaLoadOp) -> None:
    tmap = _tensor_map(e, op)
    rank = len(op.coords)
    # PTX lists coordinates innermost first; the IR lists them in dimension order
    coords = ", ".join(f"${3 + i}" for i in range(rank))
    body = (f"cp.async.bulk.tensor.{rank}d.shared::cluster.global.mbarrier::complete_tx::bytes"
            f" [$0], [$1, {{{coords}}}], [$2];")
    args = [shared_addr32(e, e.val(op.dst)), tmap, _bar(e, op.bar)] + \
        [e.val(c) for c in reversed(op.coords)]
    _predicated(e, body, ["r", "l", "r"] + ["r"] * rank, args, op.pred)


def _tma_store(e: KernelEmitter, op: tma.TmaStoreOp) -> None:
    tmap = _tensor_map(e, op)
    rank = len(op.coords)
    coords = ", ".join(f"${2 + i}" for i in range(rank))
    body = (f"cp.async.bulk.tensor.{rank}d.global.shared::cta.bulk_group"
            f" [$0, {{{coords}}}], [$1];")
    args = [tmap, shared_addr32(e, e.val(op.src))] + [e.val(c) for c in reversed(op.coords)]
    _predicated(e, body, ["l", "r"] + ["r"] * rank, args, op.pred)


def _bulk_commit(e: KernelEmitter, op: tma.BulkCommitOp) -> None:
    _predicated(e, "cp.async.bulk.commit_group;", [], [], op.pred)


def _bulk_wait_read(e: KernelEmitter, op: tma.BulkWaitReadOp) -> None:
    _predicated(e, f"cp.async.bulk.wait_group.read {op.pending};", [], [], op.pred)


HANDLERS: dict[type, Handler] = {
    tma.MbarrierInitOp: _init, tma.MbarrierArriveOp: _arrive,
    tma.MbarrierExpectTxOp: _expect_tx, tma.MbarrierWaitOp: _wait,
    tma.MbarrierInvalOp: _inval, tma.FenceMbarrierInitOp: _fence_init,
    tma.TmaLoadOp: _tma_load, tma.TmaStoreOp: _tma_store, tma.BulkCommitOp: _bulk_commit,
    tma.BulkWaitReadOp: _bulk_wait_read,
}
"""Handlers of the mbarrier/TMA thread-IR ops."""

__all__ = ["HANDLERS", "TENSOR_MAP_BYTES", "tensor_map_param", "uses_tma"]
