"""allocate-shared: place every shared buffer and every exchange's scratch, reusing dead space.

Contract. Input: a verified tile-IR module. Output: the same module in which
every ``tl.alloc_shared`` has ``offset >= 0``, a multiple of ``BUFFER_ALIGN``
(128 bytes, or the function's ``shared_align``) counted from byte 0 of shared
memory; a function with exchanges (ops that pass data between threads through
shared memory, ``shared_area.exchange_bytes``) has the attribute
``scratch_offsets``, where each has its scratch: ``(op number, op name, byte
offset, bytes)``, op numbers in ``o.walk`` order; and every function has
``shared_user_bytes`` (the end of the highest buffer or scratch range, 0 when
there is none).
``lower-to-threads`` addresses each exchange at its own range. Offsets already
present are ignored and recomputed, so the pass may run again after a pass that
adds buffers.

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
is read where the ``tl.dot`` is. An exchange is live at its own op only: it
writes and reads its scratch within its lowering (a wgmma's asynchronous read
of staged operands ends at the ``wgmma_wait`` the lowering puts before any
later shared write, a TMA store's at its ``bulk_wait_read``). So the epilogue's
exchanges (a ``convert_layout`` of the accumulator, a TMA store) reuse the
pipeline ring, dead once the main loop is done.

The two roles of a ``tl.warp_specialize`` run at the same time: whatever one
role allocates or exchanges is live together with everything in the other, so
their ranges never share bytes (within one role, program order holds). A
buffer from outside that the producer role only fills by TMA (``tl.tma_copy``
into it or its ``tl.shared_slice``) and the consumer reads is a ring handed over
through mbarriers (``pipeline-tma``): every copy lands before the consumer's
wait on its stage, so the buffer dies at the consumer's last use, and the
consumer's epilogue reuses it. (In a persistent kernel that last use is the
consumer's loop over tiles, epilogue included, so nothing is reused there.)

A buffer filled by asynchronous copies (an ``is_async`` ``tl.copy`` on a target
with ``cp.async``, a ``tl.tma_copy``) counts as live from the start of the function
and, when allocated in a loop, over that whole loop: the copy writes from its
issue on, but insert-barriers fences only where it lands, so it must not take
the bytes of a range read earlier (in program order, or in the previous
iteration). Ranges after it may still take its bytes once it is dead.

Two ranges live at the same time never overlap in memory; otherwise the later
one may reuse the space of the earlier. Reuse is safe because
``insert-barriers`` fences every write after a read of shared memory, so the
new range's first write waits for the dead one's last read (the emulator's
race checks prove it per kernel).

Placement is greedy by size: ranges sorted by decreasing size (then by
program order) each take the lowest aligned offset where they overlap no
already placed range that is live at the same time.

Budget. A function attribute ``max_shared_bytes`` (the target's per-block
limit, recorded by the runtime's target with ``with_shared_limit`` before the
pipeline runs; the numbers are in ``tilelang/hardware.py``) makes the pass check
that the placed ranges fit. If they do not, it raises a ``CompileError`` naming
the kernel, the source line of the largest range live when the most memory is
in use, the bytes needed and available, and what to change. Without the
attribute nothing is checked (the pass stays target-free).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_regions
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.ir.staging_ops import SharedSliceOp
from tilelang.ir.tma_staging_ops import TmaCopyOp
from tilelang.ir.types import SharedType
from tilelang.ir.values import Block, Function, Loc, Module
from tilelang.ir.while_ops import WhileOp
from tilelang.passes.gpu import target_facts, vendor
from tilelang.passes.gpu.shared_area import (BUFFER_ALIGN, DOT_SCRATCH_ALIGN, SCRATCH_ATTR,
                                             exchange_bytes, shared_align)
from tilelang.passes.gpu.shared_operands import shared_operand_values
from tilelang.passes.gpu.dot_instr import DotUnit

LIMIT_ATTR = "max_shared_bytes"
TOTAL_ATTR = "shared_user_bytes"


@dataclass(frozen=True)
class Interval:
    """One buffer's or exchange's live range ``[start, end)`` in op numbers, and
    its size; ``role``: ``(warp_specialize op number, region index)`` of the role
    it lives in, if any; ``op``: the exchange's op name (``None`` for a buffer)."""

    name: str
    start: int
    end: int
    size: int
    loc: Loc | None = None
    type: SharedType | None = None
    role: tuple[int, int] | None = None
    op: str | None = None
    align: int = 1

    def overlaps(self, other: "Interval") -> bool:
        if self.role and other.role and self.role[0] == other.role[0] and \
                self.role[1] != other.role[1]:
            return True         # the two roles of one tl.warp_specialize run together
        return self.start < other.end and other.start < self.end

    def describe(self) -> str:
        if self.op is not None:
            where = f" at {self.loc.file}:{self.loc.line}" if self.loc is not None else ""
            return f"the scratch of {self.op}{where} ({self.size} bytes)"
        return f"this {self.type} ({self.size} bytes){_where(self.loc)}"


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
        self.dot_scratch = vendor.of(fn).dot_scratch(fn)
        self.exchanges: list[Interval] = []
        self.role: dict[str, tuple[int, int] | None] = {}
        self.span_end: dict[int, int] = {}      # id(op) -> number after its last nested op
        self.start: dict[str, int] = {}
        self.depth: dict[str, int] = {}         # nesting depth of the alloc's block
        self.allocs: dict[str, o.AllocSharedOp] = {}
        self.uses: list[tuple[str, list[o.Op]]] = []  # buffer, enclosing ops outermost first
        self.views: dict[str, set[str]] = {}    # value -> the buffers it may read
        self.in_place = shared_operand_values(fn.body, DotUnit.of(fn))
        self.escaped: set[str] = set()
        # (buffer, warp_specialize op number): allocated outside it, and used by its
        # consumer role / by its producer role other than as a TMA copy's destination
        self.consumed: set[tuple[str, int]] = set()
        self.produced_otherwise: set[tuple[str, int]] = set()
        self.ws_number: dict[int, int] = {}
        # buffers filled by asynchronous copies (cp.async, TMA), and the outermost
        # loop around each allocation
        self.async_copy = target_facts.async_copy(fn)
        self.async_filled: set[str] = set()
        self.outer_loop: dict[str, o.Op] = {}
        self._walk(fn.body, [], None)

    def _walk(self, block: Block, path: list[o.Op], role: tuple[int, int] | None) -> None:
        for op in block.ops:
            number = self.count
            self.count += 1
            here = path + [op]
            scratch = exchange_bytes(op, self.dot_scratch)
            if scratch > 0:
                self.exchanges.append(Interval(
                    f"scratch@{number}", number, number + 1, scratch, op.loc, None, role,
                    op.NAME, DOT_SCRATCH_ALIGN if isinstance(op, o.DotOp) else 1))
            passes_through = bool(op.regions()) or op.has_trait(o.Trait.TERMINATOR)
            buffers: set[str] = set()
            for v in op.operand_values():
                buffers |= self.views.get(v.name, set())
            for name in sorted(buffers):
                if passes_through:
                    self.escaped.add(name)
                self.uses.append((name, here))
                if role is not None and self.role.get(name) != role:
                    self._role_use(op, name, role)
            if isinstance(op, TmaCopyOp) or \
                    isinstance(op, o.CopyOp) and op.is_async and self.async_copy:
                self.async_filled |= self.views.get(op.dst.name, set())
            if isinstance(op, o.AllocSharedOp):
                loops = [p for p in path if isinstance(p, (o.ForOp, WhileOp))]
                if loops:
                    self.outer_loop[op.result.name] = loops[0]
                self.allocs[op.result.name] = op
                self.start[op.result.name] = number
                self.depth[op.result.name] = len(path)
                self.role[op.result.name] = role
                self.views[op.result.name] = {op.result.name}
            elif buffers and not passes_through:
                # A shared-typed result made from buffers (tl.shared_slice, ...) is a
                # view of them, and so is a loaded tile that the tensor-core lowering
                # reads in place: their uses are the buffers' uses.
                for r in op.results:
                    if isinstance(r.type, SharedType) or r.name in self.in_place:
                        self.views[r.name] = buffers
            if isinstance(op, WarpSpecializeOp):
                self.ws_number[id(op)] = number
            for i, r in enumerate(op.regions()):
                self._walk(r, here, (number, i) if isinstance(op, WarpSpecializeOp) else role)
            self.span_end[id(op)] = self.count

    def _role_use(self, op: o.Op, name: str, role: tuple[int, int]) -> None:
        """Record how a role of a ``tl.warp_specialize`` uses a buffer from outside it
        (regions: producer, then consumer)."""
        key = (name, role[0])
        if role[1] == 1:
            self.consumed.add(key)
            return
        fills = isinstance(op, SharedSliceOp) or (
            isinstance(op, TmaCopyOp) and
            not any(name in self.views.get(v.name, ()) for v in op.operand_values()
                    if v is not op.dst))
        if not fills:
            self.produced_otherwise.add(key)

    def _handed_over(self, name: str, ws: o.Op) -> bool:
        """Whether the producer role of ``ws`` only fills ``name`` by TMA for the
        consumer role to read: then every producer write lands before the consumer's
        wait on that stage, so the buffer dies at the consumer's last use."""
        key = (name, self.ws_number[id(ws)])
        return key in self.consumed and key not in self.produced_otherwise
    def intervals(self) -> list[Interval]:
        end = {name: self.start[name] + 1 for name in self.allocs}
        for name, path in self.uses:
            # The enclosing op in the alloc's own block stands for the nested use; in a
            # ring the producer hands over, the op in the role's block does.
            depth = self.depth[name]
            anchor = path[depth]
            if isinstance(anchor, WarpSpecializeOp) and len(path) > depth + 1 and \
                    self._handed_over(name, anchor):
                anchor = path[depth + 1]
            end[name] = max(end[name], self.span_end[id(anchor)])
        for name in self.escaped:
            end[name] = self.count
        start = dict(self.start)
        for name in self.async_filled:
            # An asynchronous copy writes from its issue on, and insert-barriers fences
            # only where it lands: the buffer must not reuse an earlier range's bytes
            # (a read there could still be pending), nor let a later range in its loop
            # lend it bytes that the next iteration's issue would overwrite.
            start[name] = 0
            loop = self.outer_loop.get(name)
            if loop is not None:
                end[name] = max(end[name], self.span_end[id(loop)])
        out = []
        for name, op in self.allocs.items():
            t: SharedType = op.result.type
            out.append(Interval(name, start[name], end[name], buffer_bytes(t), op.loc, t,
                                self.role[name]))
        return out + self.exchanges


# -- placement ---------------------------------------------------------------------------

def place(intervals: list[Interval], align: int = BUFFER_ALIGN) -> dict[str, int]:
    """Offsets (multiples of ``align``, or of a range's own larger ``align``) such
    that ranges live at the same time never overlap: greedy by decreasing size,
    each at the lowest gap among the placed ranges whose live ranges meet its own."""
    offsets: dict[str, int] = {}
    placed: list[tuple[Interval, int]] = []
    for iv in sorted(intervals, key=lambda i: (-i.size, i.start, i.name)):
        busy = sorted((off, off + other.size) for other, off in placed if other.overlaps(iv))
        a = max(align, iv.align)
        offset = 0
        for lo, hi in busy:
            if offset + iv.size <= lo:
                break                       # fits in the gap below this range
            offset = max(offset, _align(hi, a))
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
    scratch = tuple(sorted((i.start, i.op, offsets[i.name], i.size)
                           for i in intervals if i.op is not None))
    fn = replace(fn, body=_rewrite(fn.body, offsets))
    if scratch:         # (without exchanges, lower-to-threads' default layout is this one)
        fn = _set_attr(fn, SCRATCH_ATTR, scratch)
    return _set_attr(fn, TOTAL_ATTR, total)


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
    """The ranges (buffers and scratch) live at the moment the most bytes are live."""
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


def _check_budget(fn: Function, intervals: list[Interval], needed: int, limit: int) -> None:
    if needed <= limit:
        return
    live = sorted(_peak(intervals), key=lambda i: (-i.size, i.start))
    largest = live[0]
    others = ", ".join(i.describe() for i in live[1:4])
    more = f" and {len(live) - 4} more" if len(live) > 4 else ""
    buffers = sum(i.size for i in live if i.op is None)
    message = (
        f"the kernel needs {needed} bytes of shared memory per block but the target allows "
        f"{limit} ({needed - limit} too many); when the most memory is in use, "
        f"{buffers} bytes are tl.alloc_shared buffers and {sum(i.size for i in live) - buffers} "
        f"scratch for exchanges between threads (broadcast, transpose, reductions, tl.dot). "
        f"The largest range live then is {largest.describe()}"
        + (f"; also live: {others}{more}" if others else ""))
    raise CompileError(message, kernel=fn.name, loc=largest.loc or fn.loc, hint=(
        "use smaller tiles (block sizes), fewer pipeline stages (stages= / num_stages) "
        "or a narrower dtype for the shared buffers"))


__all__ = ["BUFFER_ALIGN", "Interval", "LIMIT_ATTR", "TOTAL_ATTR", "buffer_bytes", "place",
           "run", "with_shared_limit"]
