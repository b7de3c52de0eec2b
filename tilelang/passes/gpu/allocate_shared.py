"""allocate-shared: give every ``tl.alloc_shared`` buffer a byte offset, reusing dead space.

Contract. Input: a verified tile-IR module. Output: the same module in which
every ``tl.alloc_shared`` has ``offset >= 0``, a multiple of ``BUFFER_ALIGN``
(128 bytes), counted from the start of the user-buffer area, and every function
has the attribute ``shared_user_bytes`` (the end of the highest buffer, 0 when
there is none). ``lower-to-threads`` puts the user area right after its scratch
area (``shared_area.user_area_base``). Offsets already present are ignored
and recomputed, so the pass may run again after a pass that adds buffers.

Liveness. Ops are numbered in program order (pre-order over regions). A buffer
is live from its ``tl.alloc_shared`` to its last use, where a use inside a
region counts as a use at the op of the buffer's own block that encloses it:
a buffer allocated before a loop and used in it stays live over the whole loop
(every iteration needs it), while one allocated inside a loop body lives only
within the iteration. A buffer that escapes through a region's operands or a
``tl.yield`` (an alias the analysis does not follow) is live to the end of the
function. A shared-typed result computed from buffers (a view such as
``tl.shared_slice``) stands for them: its uses are theirs; so does a
``tl.shared_load`` result (and its reshapes and transposes) that the
tensor-core lowering reads in place (``shared_operands.py``), since the buffer
is read where the ``tl.dot`` is. Two buffers whose live ranges intersect never
overlap in memory;
otherwise the later one may reuse the space of the earlier. Reuse is safe
because ``insert-barriers`` fences every write after a read of shared memory,
so the new buffer's first write waits for the dead one's last read.

Placement is greedy by size: buffers sorted by decreasing size (then by
program order) each take the lowest 128-aligned offset where they overlap no
already placed buffer that is live at the same time.

Budget. A function attribute ``max_shared_bytes`` (the target's per-block
limit, recorded by the runtime's target with ``with_shared_limit`` before the
pipeline runs; the numbers are in ``tilelang/hardware.py``) makes the pass check
that the scratch area plus the user area fit. If they do not, it raises a
``CompileError`` naming the kernel, the source line of the largest buffer live
when the most memory is in use, the bytes needed and available, and what to
change. Without the attribute nothing is checked (the pass stays target-free).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_regions
from tilelang.ir.types import SharedType
from tilelang.ir.values import Block, Function, Loc, Module
from tilelang.passes.gpu.shared_area import (BUFFER_ALIGN, scratch_area_bytes, shared_align,
                                             user_area_base)
from tilelang.passes.gpu.shared_operands import shared_operand_values
from tilelang.passes.gpu.dot_instr import DotUnit

LIMIT_ATTR = "max_shared_bytes"
TOTAL_ATTR = "shared_user_bytes"


@dataclass(frozen=True)
class Interval:
    """One buffer's live range ``[start, end)`` in op numbers, and its size."""

    name: str
    start: int
    end: int
    size: int
    loc: Loc | None = None
    type: SharedType | None = None

    def overlaps(self, other: "Interval") -> bool:
        return self.start < other.end and other.start < self.end


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def with_shared_limit(module: Module, limit: int) -> Module:
    """``module`` with every function's shared-memory budget set to ``limit`` bytes."""
    return Module(tuple(_set_attr(f, LIMIT_ATTR, limit) for f in module.functions))


def buffer_bytes(t: SharedType) -> int:
    """Bytes of a buffer as lower-to-threads lays it out (row-major, sub-byte
    dtypes one byte per element)."""
    n = max(1, t.dtype.bits // 8)
    for s in t.shape:
        n *= s
    return n


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _set_attr(fn: Function, key: str, value: Any) -> Function:
    attrs = [(k, v) for k, v in fn.attrs if k != key]
    attrs.append((key, value))
    return replace(fn, attrs=tuple(attrs))


# -- liveness --------------------------------------------------------------------------

class _Liveness:
    """Numbers the ops of a function and records each buffer's live range."""

    def __init__(self, fn: Function) -> None:
        self.count = 0
        self.span_end: dict[int, int] = {}      # id(op) -> number after its last nested op
        self.start: dict[str, int] = {}
        self.depth: dict[str, int] = {}         # nesting depth of the alloc's block
        self.allocs: dict[str, o.AllocSharedOp] = {}
        self.uses: list[tuple[str, list[o.Op]]] = []  # buffer, enclosing ops outermost first
        self.views: dict[str, set[str]] = {}    # value -> the buffers it may read
        self.in_place = shared_operand_values(fn.body, DotUnit.of(fn))
        self.escaped: set[str] = set()
        self._walk(fn.body, [])

    def _walk(self, block: Block, path: list[o.Op]) -> None:
        for op in block.ops:
            number = self.count
            self.count += 1
            here = path + [op]
            passes_through = bool(op.regions()) or op.has_trait(o.Trait.TERMINATOR)
            buffers: set[str] = set()
            for v in op.operand_values():
                buffers |= self.views.get(v.name, set())
            for name in sorted(buffers):
                if passes_through:
                    self.escaped.add(name)
                self.uses.append((name, here))
            if isinstance(op, o.AllocSharedOp):
                self.allocs[op.result.name] = op
                self.start[op.result.name] = number
                self.depth[op.result.name] = len(path)
                self.views[op.result.name] = {op.result.name}
            elif buffers and not passes_through:
                # A shared-typed result made from buffers (tl.shared_slice, ...) is a
                # view of them, and so is a loaded tile that the tensor-core lowering
                # reads in place: their uses are the buffers' uses.
                for r in op.results:
                    if isinstance(r.type, SharedType) or r.name in self.in_place:
                        self.views[r.name] = buffers
            for r in op.regions():
                self._walk(r, here)
            self.span_end[id(op)] = self.count

    def intervals(self) -> list[Interval]:
        end = {name: self.start[name] + 1 for name in self.allocs}
        for name, path in self.uses:
            # The enclosing op in the alloc's own block stands for the nested use.
            anchor = path[self.depth[name]]
            end[name] = max(end[name], self.span_end[id(anchor)])
        for name in self.escaped:
            end[name] = self.count
        out = []
        for name, op in self.allocs.items():
            t: SharedType = op.result.type
            out.append(Interval(name, self.start[name], end[name], buffer_bytes(t), op.loc, t))
        return out


# -- placement ---------------------------------------------------------------------------

def place(intervals: list[Interval], align: int = BUFFER_ALIGN) -> dict[str, int]:
    """Offsets (multiples of ``align``) such that buffers live at the same time never
    overlap: greedy by decreasing size, each at the lowest gap among the placed
    buffers whose live ranges meet its own."""
    offsets: dict[str, int] = {}
    placed: list[tuple[Interval, int]] = []
    for iv in sorted(intervals, key=lambda i: (-i.size, i.start, i.name)):
        busy = sorted((off, off + other.size) for other, off in placed if other.overlaps(iv))
        offset = 0
        for lo, hi in busy:
            if offset + iv.size <= lo:
                break                       # fits in the gap below this buffer
            offset = max(offset, _align(hi, align))
        offsets[iv.name] = offset
        placed.append((iv, offset))
    return offsets


def _function(fn: Function) -> Function:
    intervals = _Liveness(fn).intervals()
    offsets = place(intervals, shared_align(fn, BUFFER_ALIGN))
    total = max((offsets[i.name] + i.size for i in intervals), default=0)
    limit = fn.attr(LIMIT_ATTR)
    if isinstance(limit, int) and not isinstance(limit, bool):
        _check_budget(fn, intervals, total, limit)
    body = _rewrite(fn.body, offsets)
    return _set_attr(replace(fn, body=body), TOTAL_ATTR, total)


def _rewrite(block: Block, offsets: dict[str, int]) -> Block:
    out = []
    for op in block.ops:
        if isinstance(op, o.AllocSharedOp):
            op = replace(op, offset=offsets[op.result.name])
        elif op.regions():
            op = map_regions(op, lambda b: _rewrite(b, offsets))
        out.append(op)
    return Block(block.args, tuple(out))


# -- budget ------------------------------------------------------------------------------

def _peak(intervals: list[Interval]) -> list[Interval]:
    """The buffers live at the moment the most buffer bytes are live."""
    best: list[Interval] = []
    best_bytes = -1
    for t in sorted({i.start for i in intervals}):
        live = [i for i in intervals if i.start <= t < i.end]
        n = sum(i.size for i in live)
        if n > best_bytes:
            best, best_bytes = live, n
    return best


def _where(loc: Loc | None) -> str:
    return f" (tl.alloc_shared at {loc.file}:{loc.line})" if loc is not None else ""


def _check_budget(fn: Function, intervals: list[Interval], user: int, limit: int) -> None:
    scratch = scratch_area_bytes(fn)
    base = user_area_base(fn) if user else scratch
    needed = base + user
    if needed <= limit:
        return
    hint = ("use smaller tiles (block sizes), fewer pipeline stages (stages= / num_stages) "
            "or a narrower dtype for the shared buffers")
    if not intervals:
        raise CompileError(
            f"the kernel needs {needed} bytes of shared memory per block for exchanging "
            f"tiles between threads (broadcast, transpose, reductions, tl.dot), but the "
            f"target allows {limit}", kernel=fn.name, loc=fn.loc, hint="use smaller tiles")
    live = sorted(_peak(intervals), key=lambda i: (-i.size, i.start))
    largest = live[0]
    others = ", ".join(f"{i.type} = {i.size} B{_where(i.loc)}" for i in live[1:4])
    more = f" and {len(live) - 4} more" if len(live) > 4 else ""
    message = (
        f"the kernel needs {needed} bytes of shared memory per block but the target allows "
        f"{limit} ({needed - limit} too many): {user} for tl.alloc_shared buffers"
        f"{f' after {base} of scratch for exchanges between threads' if base else ''}. "
        f"The largest buffer live when the most memory is in use is this {largest.type} "
        f"({largest.size} bytes)"
        + (f"; also live then: {others}{more}" if others else ""))
    raise CompileError(message, kernel=fn.name, loc=largest.loc or fn.loc, hint=hint)


__all__ = ["BUFFER_ALIGN", "Interval", "LIMIT_ATTR", "TOTAL_ATTR", "buffer_bytes", "place",
           "run", "with_shared_limit"]
