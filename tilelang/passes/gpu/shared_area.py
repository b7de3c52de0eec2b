"""The layout of a GPU function's shared memory, as every GPU pass sees it.

An *exchange* is an op that passes data between threads through shared
memory: ``broadcast``, ``trans``, ``reduce``, ``convert_layout``, ``argreduce``,
``scan``, ``associative_scan``, a TMA store and ``tl.dot`` (its stashed operands and accumulator).
``exchange_bytes`` says how many bytes one needs; how many a dot stages depends
on the instruction it becomes, so the vendor lowering (``vendor.py``) answers
for dots.

``allocate-shared`` gives each exchange its own scratch range, placed by
liveness together with the ``tl.alloc_shared`` buffers (an exchange is live only
at its op, so it reuses the space of the pipeline ring once the main loop is
done), and records them in the function attribute ``scratch_offsets``; the
buffers' offsets then count from byte 0. A function without that attribute
(lower-to-threads run alone) has one scratch area at byte 0, as large as the
largest exchange, shared by all of them, and its buffers after it at a multiple
of ``shared_align``.
"""

from __future__ import annotations

from typing import Callable

from tilelang.ir import ops as o
from tilelang.ir.scan_ops import ArgReduceOp, AssociativeScanOp, ScanOp
from tilelang.ir.tma_staging_ops import TmaStoreTileOp
from tilelang.ir.types import DType
from tilelang.ir.values import Function
from tilelang.passes.gpu import vendor

# allocate-shared places buffers at multiples of this (swizzled layouts need
# 128-byte rows), so the user area starts at such a multiple too.
BUFFER_ALIGN = 128
# the function attribute of a larger alignment a pass needs (pipeline-tma: a
# TMA box with a 128-byte swizzle lands on a 1024-byte boundary)
ALIGN_ATTR = "shared_align"


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def itemsize(dtype: DType) -> int:
    return max(1, dtype.bits // 8)


def shared_align(fn: Function, default: int) -> int:
    """The alignment ``fn``'s shared buffers need: ``default`` or the recorded one."""
    a = fn.attr(ALIGN_ATTR, default)
    return max(default, a) if isinstance(a, int) and a > 0 and a & (a - 1) == 0 else default


# a dot's scratch range starts at a multiple of this: wgmma's canonical layouts
# swizzle on address bits up to 1024 (8 lines of 128 bytes)
DOT_SCRATCH_ALIGN = 1024

# the function attribute allocate-shared records the exchanges' scratch ranges in:
# a tuple of ``(op number, op name, byte offset, bytes)``, op numbers counted in
# ``o.walk`` order
SCRATCH_ATTR = "scratch_offsets"


def placed_scratch(fn: Function) -> tuple[tuple[int, str, int, int], ...] | None:
    """The exchanges' scratch ranges allocate-shared placed, or ``None``."""
    placed = fn.attr(SCRATCH_ATTR)
    return placed if isinstance(placed, tuple) else None


def scratch_area_bytes(fn: Function) -> int:
    """Bytes of the one scratch area at the start of ``fn``'s shared memory when
    allocate-shared did not place the exchanges (0 when it did)."""
    if placed_scratch(fn) is not None:
        return 0
    return align(scratch_needed(fn), 16)


def user_area_base(fn: Function) -> int:
    """Byte from which allocate-shared's offsets count: 0 where it placed the
    exchanges too, else the first ``shared_align`` multiple after the scratch area."""
    return align(scratch_area_bytes(fn), shared_align(fn, BUFFER_ALIGN))


def stash_bytes(dot: o.DotOp) -> int:
    """The scratch a dot on the scalar path uses: A, then B, stashed whole."""
    a, b = dot.a.type, dot.b.type
    return align(a.numel * itemsize(a.dtype), 16) + b.numel * itemsize(b.dtype)


def exchange_bytes(op: o.Op, dot_scratch: Callable[[o.DotOp], int]) -> int:
    """Bytes of scratch ``op`` exchanges through (0: it is no exchange); a dot
    takes ``dot_scratch(dot)``, the vendor's figure for its instruction."""
    # (a TMA store's tile goes through scratch too: lower_tma.lower_store)
    if isinstance(op, (o.BroadcastOp, o.TransOp, o.ReduceOp, o.ConvertLayoutOp,
                       TmaStoreTileOp, ArgReduceOp, ScanOp)):
        t = op.value.type
        return t.numel * itemsize(t.dtype)
    if isinstance(op, o.DotOp):
        return dot_scratch(op)
    if isinstance(op, AssociativeScanOp):     # the values stashed one after the other
        return sum(align(v.type.numel * itemsize(v.type.dtype), 16) for v in op.values)
    return 0


def scratch_needed(fn: Function) -> int:
    """Bytes of the largest exchange of ``fn``."""
    dot_scratch = vendor.of(fn).dot_scratch(fn)
    return max((exchange_bytes(op, dot_scratch) for op in o.walk(fn.body)), default=0)


__all__ = ["ALIGN_ATTR", "BUFFER_ALIGN", "DOT_SCRATCH_ALIGN", "SCRATCH_ATTR", "align",
           "exchange_bytes", "itemsize", "placed_scratch", "scratch_area_bytes",
           "scratch_needed", "shared_align", "stash_bytes", "user_area_base"]
