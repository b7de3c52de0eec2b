"""How many stages a pipeline loop gets on a target without asynchronous copies.

Without ``cp.async`` (AMD) the ``pipeline`` pass still builds its ring of
shared buffers, but every copy is synchronous (global -> registers -> LDS), so
a stage buys less latency hiding than on NVIDIA while it costs the same LDS,
and CDNA has 64 KiB of it. There the pass gives a loop the largest stage count,
at most the requested one, whose rings fit the function's ``max_shared_bytes``
beside every other buffer and the scratch area (counted without reuse: an upper
bound); one stage means the loop is left as written (copy, barrier, compute).
The rewritten loop's ``stages`` attribute shows the choice. On targets with
``cp.async``, or without a recorded budget, the requested count stands (an
over-budget kernel is then allocate-shared's ``CompileError``).
"""

from __future__ import annotations

from typing import Sequence

from tilelang.ir import ops as o
from tilelang.ir.types import SharedType
from tilelang.ir.values import Function
from tilelang.passes.gpu import target_facts
from tilelang.passes.gpu.shared_area import user_area_base

_ALIGN = 128   # allocate-shared's BUFFER_ALIGN


def _bytes(t: SharedType) -> int:
    n = max(1, t.dtype.bits // 8)
    for s in t.shape:
        n *= s
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def stages_that_fit(fn: Function, loop: o.ForOp, ring: Sequence[o.CopyOp]) -> int:
    """The stage count for ``loop`` whose ring buffers (the destinations of the
    eligible copies ``ring``) fit ``fn``'s shared-memory budget (see the module doc)."""
    limit = fn.attr("max_shared_bytes")
    if target_facts.async_copy(fn) or not isinstance(limit, int) or not ring:
        return loop.stages
    used = user_area_base(fn) + sum(_bytes(op.result.type) for op in o.walk(fn.body)
                                    if isinstance(op, o.AllocSharedOp))
    per_stage = sum(_bytes(c.dst.type) for c in ring)
    stages = loop.stages
    while stages > 1 and used + (stages - 1) * per_stage > limit:
        stages -= 1
    return stages


__all__ = ["stages_that_fit"]
