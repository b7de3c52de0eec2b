"""How many stages a pipeline loop gets on a target without asynchronous copies.

Without ``cp.async`` (AMD) the ``pipeline`` pass still builds its ring of
shared buffers, but every copy is synchronous (global -> registers -> LDS), so
a stage buys less latency hiding than on NVIDIA while it costs the same LDS,
and CDNA has 64 KiB of it. There the pass gives a loop the largest stage count,
at most the requested one, whose rings fit the function's ``max_shared_bytes``
beside every other buffer (counted without reuse) and the exchanges' scratch:
the largest exchange inside the loop is live with the ring, one outside it may
take the ring's bytes (allocate-shared places it there once the ring is dead),
so the estimate is ``buffers + max(ring + inside, outside)``. One stage means
the loop is left as written (copy, barrier, compute).
The rewritten loop's ``stages`` attribute shows the choice. On targets with
``cp.async``, or without a recorded budget, the requested count stands (an
over-budget kernel is then allocate-shared's ``CompileError``).
"""

from __future__ import annotations

from typing import Sequence

from tilelang.ir import ops as o
from tilelang.ir.types import SharedType
from tilelang.ir.values import Function
from tilelang.passes.gpu import target_facts, vendor
from tilelang.passes.gpu.shared_area import exchange_bytes

_ALIGN = 128   # allocate-shared's BUFFER_ALIGN


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _bytes(t: SharedType) -> int:
    n = max(1, t.dtype.bits // 8)
    for s in t.shape:
        n *= s
    return _align(n)


def stages_that_fit(fn: Function, loop: o.ForOp, ring: Sequence[o.CopyOp]) -> int:
    """The stage count for ``loop`` whose ring buffers (the destinations of the
    eligible copies ``ring``) fit ``fn``'s shared-memory budget (see the module doc)."""
    limit = fn.attr("max_shared_bytes")
    if target_facts.async_copy(fn) or not isinstance(limit, int) or not ring:
        return loop.stages
    per_stage = sum(_bytes(c.dst.type) for c in ring)
    # every buffer but the loop's own destinations (the ring's first stage)
    others = sum(_bytes(op.result.type) for op in o.walk(fn.body)
                 if isinstance(op, o.AllocSharedOp)) - per_stage
    dot_scratch = vendor.of(fn).dot_scratch(fn)
    in_loop = {id(op) for op in o.walk(loop.body)}
    inside = outside = 0
    for op in o.walk(fn.body):
        n = exchange_bytes(op, dot_scratch)
        if id(op) in in_loop:
            inside = max(inside, n)
        else:
            outside = max(outside, n)
    stages = loop.stages
    while stages > 1 and others + max(stages * per_stage + _align(inside), outside) > limit:
        stages -= 1
    return stages


__all__ = ["stages_that_fit"]
