"""lower-to-threads for the TMA pipeline ops (``tma_staging_ops``): mbarriers and TMA loads.

One elected thread (thread 0) initializes the barriers, announces each stage's
transaction bytes and issues the TMA loads; every op is predicated on that
election rather than branched, so control flow stays block-uniform. Every
thread waits on a stage's barrier (``th.mbarrier_wait``), which also makes the
landed data visible to it. Barrier ``s`` of a ``shared<S x i64>`` buffer is the
8 bytes at ``base + 8 * s``.

Before a stage is refilled, ``fence.proxy.async`` orders the generic-proxy reads
of its previous contents (made before the loop's block barrier) before the TMA
writes. Initialization is followed by ``fence.mbarrier_init`` (the inits must reach the
asynchronous proxy before a TMA copy completes on them) and a block barrier
(no thread may wait on a barrier before it is initialized).
"""

from __future__ import annotations

from dataclasses import replace
from math import prod
from typing import TYPE_CHECKING

from tilelang.errors import IRError
from tilelang.ir import hopper_ops as hp
from tilelang.ir import ops as o
from tilelang.ir import tma_ops as tma
from tilelang.ir import tma_staging_ops as ts
from tilelang.ir.role_ops import SetMaxNRegOp, WarpSpecializeOp
from tilelang.ir.types import i32
from tilelang.ir.values import Value

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering

BAR_BYTES = 8


def _elect(L: "_Lowering") -> Value:
    return L.b.cmp("eq", L.tid, L.b.const(L.elect_thread, i32))


def _bar(L: "_Lowering", bars: Value, stage: Value | int) -> Value:
    base = L.val(bars).base(L.b)
    if isinstance(stage, int):
        return L.b.add(base, L.b.const(BAR_BYTES * stage, i32)) if stage else base
    off = L.b.mul(L.b.cast(L.val(stage), i32), L.b.const(BAR_BYTES, i32))
    return L.b.add(base, off)


def lower_init(L: "_Lowering", op: ts.MbarrierInitRingOp) -> None:
    elect = _elect(L)
    for s in range(op.bars.type.shape[0]):
        L.b.emit0(tma.MbarrierInitOp, count=op.count, bar=_bar(L, op.bars, s), pred=elect)
    L.b.emit0(tma.FenceMbarrierInitOp)
    L.b.emit0(o.BarrierOp)


def lower_expect(L: "_Lowering", op: ts.MbarrierExpectOp) -> None:
    # The stage about to be refilled was last read through the generic proxy (ld.shared,
    # ldmatrix); after the block barrier that ordered those reads, this proxy fence
    # orders them before the asynchronous proxy's TMA writes.
    L.b.emit0(hp.FenceProxyAsyncOp)
    L.b.emit0(tma.MbarrierExpectTxOp, bytes=op.bytes, bar=_bar(L, op.bars, op.stage),
              pred=_elect(L))


def lower_copy(L: "_Lowering", op: ts.TmaCopyOp) -> None:
    dst = L.val(op.dst)
    mode = ts.tma_swizzle_mode(op.dst.type)
    assert mode is not None  # TmaCopyOp.verify
    boxes = ts.tma_boxes(op.dst.type)
    assert boxes is not None  # TmaCopyOp.verify
    bar, elect = _bar(L, op.bars, op.stage), _elect(L)
    for at, dst_j in _box_blocks(L, op.offsets, dst.base(L.b), boxes):
        L.b.emit0(tma.TmaLoadOp, box=boxes[0], swizzle=mode, tensor=L.val(op.tensor),
                  dst=dst_j, bar=bar, coords=at, pred=elect)


def _box_blocks(L: "_Lowering", offsets: tuple[Value, ...], base: Value,
                boxes: tuple[tuple[int, ...], int, int]) -> list[tuple[tuple[Value, ...], Value]]:
    """``(coords, shared address)`` of each box of a buffer at ``base`` holding the
    window at ``offsets``. A blocked buffer (rows wider than 128 bytes) is one box per
    128-byte column block, all from the same tensor map: block j starts
    j * block_bytes into the buffer and covers the tile's columns from j * box[-1]."""
    box, blocks, block_bytes = boxes
    coords = tuple(L.b.cast(L.val(v), i32) for v in offsets)
    out = []
    for j in range(blocks):
        at = coords if j == 0 else (*coords[:-1],
                                    L.b.add(coords[-1], L.b.const(j * box[-1], i32)))
        out.append((at, base if j == 0 else L.b.add(base, L.b.const(j * block_bytes, i32))))
    return out


def lower_wait(L: "_Lowering", op: ts.MbarrierWaitRingOp) -> None:
    L.b.emit0(tma.MbarrierWaitOp, bar=_bar(L, op.bars, op.stage),
              parity=L.b.cast(L.val(op.parity), i32))


def lower_inval(L: "_Lowering", op: ts.MbarrierInvalRingOp) -> None:
    # every thread has passed its last wait before any barrier is invalidated
    L.b.emit0(o.BarrierOp)
    elect = _elect(L)
    for s in range(op.bars.type.shape[0]):
        L.b.emit0(tma.MbarrierInvalOp, bar=_bar(L, op.bars, s), pred=elect)


def lower_store(L: "_Lowering", op: ts.TmaStoreTileOp) -> None:
    """Each thread writes its elements of the tile into the scratch area under the
    store buffer's swizzle, and its ``fence.proxy.async`` makes them visible to the
    asynchronous proxy; after the barrier, the elected thread stores the boxes
    (one per column block, as ``lower_copy`` loads them), commits and waits until
    they have read the buffer, so a later write to it (after the barrier
    insert-barriers puts before it) cannot change what is stored."""
    from tilelang.passes.gpu.lower_memory import lower_shared_store
    from tilelang.passes.nvidia.tma_store import store_buffer_type
    buf = store_buffer_type(op.value.type)
    if buf is None:
        raise IRError(f"lower-to-threads: no TMA layout for the tile of {op.NAME} (a bug "
                      f"in tma-store)", loc=op.loc)
    mode, boxes = ts.tma_swizzle_mode(buf), ts.tma_boxes(buf)
    assert mode is not None and boxes is not None  # store_buffer_type
    # the op's scratch range: 1024-byte aligned with TMA (allocate-shared)
    base = L.b.const(L.scratch(0, prod(buf.shape) * (buf.dtype.bits // 8)), i32)
    lower_shared_store(L, L.val(op.value), base, buf.swizzle)
    L.b.emit0(hp.FenceProxyAsyncOp)
    L.b.emit0(o.BarrierOp)
    elect = _elect(L)
    for at, src_j in _box_blocks(L, op.offsets, base, boxes):
        L.b.emit0(tma.TmaStoreOp, box=boxes[0], swizzle=mode, tensor=L.val(op.tensor),
                  src=src_j, coords=at, pred=elect)
    L.b.emit0(tma.BulkCommitOp, pred=elect)
    L.b.emit0(tma.BulkWaitReadOp, pending=0, pred=elect)


def lower_arrive(L: "_Lowering", op: ts.MbarrierArriveRingOp) -> None:
    # lane 0 of each warp arrives once the warp is done with the stage: the warp's
    # reads are complete in program order (a tl.dot's wgmma has been waited for)
    lane = L.b.binary("and", L.tid, L.b.const(L.warp_size - 1, i32))
    lane0 = L.b.cmp("eq", lane, L.b.const(0, i32))
    L.b.emit0(tma.MbarrierArriveOp, bar=_bar(L, op.bars, op.stage), pred=lane0)


def lower_warp_specialize(L: "_Lowering", op: WarpSpecializeOp) -> None:
    """Each region lowered for its own threads: the producer's issuing thread is its
    first (``consumer_threads``); each region first sets its register count."""
    regions = []
    for block, elect, regs, inc in ((op.producer, op.consumer_threads, op.producer_regs, False),
                                    (op.consumer, 0, op.consumer_regs, True)):
        L.b.builder.push()
        saved, L.elect_thread = L.elect_thread, elect
        if regs:
            L.b.emit0(SetMaxNRegOp, regs=regs, inc=inc)
        L._ops(block.ops)
        L.elect_thread = saved
        regions.append(L.b.builder.pop(()))
    L.b.loc = op.loc
    L.b.builder.emit(replace(op, producer=regions[0], consumer=regions[1]))


__all__ = ["lower_arrive", "lower_copy", "lower_expect", "lower_init", "lower_inval",
           "lower_store", "lower_wait", "lower_warp_specialize"]
