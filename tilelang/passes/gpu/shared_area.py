"""The layout of a GPU function's shared memory, as every GPU pass sees it.

Shared memory starts with the scratch area, where ``broadcast``, ``trans``,
``reduce``, ``convert_layout``, a TMA store and the operands of ``tl.dot`` are
exchanged between threads (each exchange reuses it; its size is the largest
one). The user area follows at a multiple of ``shared_align``: there
``allocate-shared`` places the ``tl.alloc_shared`` buffers. How many bytes a dot
stages depends on the instruction it becomes, so the vendor lowering
(``vendor.py``) sizes the function's scratch, with ``scratch_needed`` for the
target-neutral exchanges.
"""

from __future__ import annotations

from typing import Callable

from tilelang.ir import ops as o
from tilelang.ir.scan_ops import ArgReduceOp, ScanOp
from tilelang.ir.tma_staging_ops import TmaStoreTileOp
from tilelang.ir.types import DType
from tilelang.ir.values import Block, Function
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


def scratch_area_bytes(fn: Function) -> int:
    """Bytes of the scratch area at the start of ``fn``'s shared memory."""
    return align(vendor.of(fn).scratch(fn, scratch_needed), 16)


def user_area_base(fn: Function) -> int:
    """Byte where the buffers placed by allocate-shared begin (after the scratch area)."""
    return align(scratch_area_bytes(fn), shared_align(fn, BUFFER_ALIGN))


def stash_bytes(dot: o.DotOp) -> int:
    """The scratch a dot on the scalar path uses: A, then B, stashed whole."""
    a, b = dot.a.type, dot.b.type
    return align(a.numel * itemsize(a.dtype), 16) + b.numel * itemsize(b.dtype)


def scratch_needed(block: Block, threads: int,
                   dot_scratch: Callable[[o.DotOp], int] = stash_bytes) -> int:
    """Bytes of scratch the exchanges of ``block`` need (the largest one); a dot
    takes ``dot_scratch(dot)`` (the vendor's figure for its instruction)."""
    need = 0
    for op in o.walk(block):
        # (a TMA store's tile goes through scratch too: lower_tma.lower_store)
        if isinstance(op, (o.BroadcastOp, o.TransOp, o.ReduceOp, o.ConvertLayoutOp,
                           TmaStoreTileOp, ArgReduceOp, ScanOp)):
            t = op.value.type
            need = max(need, t.numel * itemsize(t.dtype))
        elif isinstance(op, o.DotOp):
            need = max(need, dot_scratch(op))
    return need


__all__ = ["ALIGN_ATTR", "BUFFER_ALIGN", "align", "itemsize", "scratch_area_bytes",
           "scratch_needed", "shared_align", "stash_bytes", "user_area_base"]
