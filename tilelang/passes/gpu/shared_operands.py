"""tl.dot operands read in place from shared memory, for lower-to-threads.

A ``tl.shared_load`` whose every use is a tensor-core ``tl.dot`` operand (after
``reshape`` of unit dimensions and, for B, ``tl.trans``) needs no registers: the
dot's ``ldmatrix`` reads the buffer directly, and the load emits no code. That
holds when no op between the load and the dot may write the buffer (or any view
of the same allocation): the interpreter's ``shared_load`` is a snapshot, the
direct read is not. The analysis is conservative: an op between them that
writes the allocation anywhere in its regions, or any other use of the loaded
tile, keeps the ordinary per-slot load. Once ``allocate-shared`` has placed the
buffers, a write to another buffer placed over the same bytes counts as well
(its liveness ends at the ``shared_load``; ``in_place_reads`` tells such an
analysis which dots read a buffer later, so it can keep the buffer alive).

The tensor-core lowering (``lower_mma``) asks ``mma_operand_bases`` where the A
and B matrices live: a ``SharedOperand`` in its buffer, a register tile stashed
row-major in the scratch area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from tilelang.ir import ops as o
from tilelang.ir.staging_ops import SharedSliceOp
from tilelang.ir.types import SharedType, TileType, i32
from tilelang.ir.layouts import parse_layout
from tilelang.ir.values import Block, Function, Value
from tilelang.passes.gpu.dot_instr import DotUnit
from tilelang.passes.gpu.shared_area import align, itemsize, stash_bytes

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Shared, _Lowering


@dataclass
class SharedOperand:
    """A register-tile value of the tile IR that lives in shared memory: the
    buffer ``buf`` holds it row-major (``trans``: holds its transpose)."""

    type: TileType
    buf: "Shared"
    trans: bool = False


def shared_operand_values(body: Block, warps: DotUnit | int) -> set[str]:
    """Names of the tile values (shared_load results and their unit reshapes and
    transposes) that are lowered as ``SharedOperand``s of tensor-core dots
    (``warps``: the function's ``DotUnit``, or a warp count for NVIDIA's)."""
    return {v for chain, _, _ in _chains(body, warps, placed=True) for v in chain}


def in_place_reads(body: Block, warps: DotUnit | int) -> dict[str, list[o.DotOp]]:
    """For each allocation, the dots that may read it in place, after its
    ``tl.shared_load``: a liveness analysis must keep the buffer alive up to them.
    (Placement is ignored here: it is what such an analysis decides.)"""
    out: dict[str, list[o.DotOp]] = {}
    for _, root, dots in _chains(body, warps, placed=False):
        out.setdefault(root, []).extend(dots)
    return out


def _chains(body: Block, warps: DotUnit | int, placed: bool) -> list[tuple[set[str], str, list[o.DotOp]]]:
    defs: dict[str, o.Op] = {}
    uses: dict[str, list[o.Op]] = {}
    for op in o.walk(body):
        for r in op.results:
            defs[r.name] = op
        for v in set(op.operand_values()):
            uses.setdefault(v.name, []).append(op)
    out: list[tuple[set[str], str, list[o.DotOp]]] = []
    _blocks(body, _Facts(defs, uses, DotUnit.coerce(warps), placed), out)
    return out


@dataclass
class _Facts:
    defs: dict[str, o.Op]
    uses: dict[str, list[o.Op]]
    warps: DotUnit
    placed: bool     # whether allocate-shared's offsets count as aliasing


def _blocks(block: Block, f: _Facts, out: list) -> None:
    for i, op in enumerate(block.ops):
        if isinstance(op, o.SharedLoadOp):
            found = _operand_chain(op, block, i, f)
            if found is not None:
                out.append(found)
        for r in op.regions():
            _blocks(r, f, out)


def _operand_chain(load: o.SharedLoadOp, block: Block, pos: int,
                   f: _Facts) -> tuple[set[str], str, list[o.DotOp]] | None:
    """``load``'s chain of values, its allocation and its dots if every use ends in
    an eligible dot, else None."""
    root = _root(load.src, f.defs)
    chain: set[str] = set()
    dots: list[o.DotOp] = []
    work: list[tuple[Value, bool]] = [(load.result, False)]
    while work:
        v, trans = work.pop()
        chain.add(v.name)
        for user in f.uses.get(v.name, []):
            if isinstance(user, o.ReshapeOp) and not trans and unit_reshape(user):
                work.append((user.result, False))
            elif isinstance(user, o.TransOp) and not trans:
                work.append((user.result, True))
            elif isinstance(user, o.DotOp) and dot_operand_ok(user, v, trans, f.warps) and \
                    not _written_between(block, pos, user, root, f):
                dots.append(user)
            else:
                return None
    return chain, root, dots


def unit_reshape(op: o.ReshapeOp) -> bool:
    """Whether the reshape only adds or drops dimensions of size 1."""
    def squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(s for s in shape if s != 1)
    return squeeze(op.value.type.shape) == squeeze(op.result.type.shape)


def dot_operand_ok(dot: o.DotOp, v: Value, trans: bool, warps: DotUnit | int) -> bool:
    """Whether ``dot`` (on tensor cores) can read its operand ``v`` from a row-major
    buffer holding ``v`` (``trans``: holding its transpose)."""
    # ldmatrix (and the MFMA path's vector reads) take A fragments from a row-major
    # M x K buffer only; B from K x N (transposing load / per-element reads) or
    # from N x K (a transposed view, plain load).
    if dot.a.name == v.name and trans:
        return False
    return DotUnit.coerce(warps).select(dot.a.type, dot.b.type, dot.acc.type) is not None


def _root(buf: Value, defs: dict) -> str:
    """The allocation a shared value views (through tl.shared_slice)."""
    op = defs.get(buf.name)
    while isinstance(op, SharedSliceOp):
        buf = op.src
        op = defs.get(buf.name)
    return buf.name


def _written_between(block: Block, pos: int, dot: o.DotOp, root: str, f: _Facts) -> bool:
    """Whether an op after ``block.ops[pos]`` and before ``dot`` may write ``root``
    (a region op holding the dot counts as a whole: its loop may come back)."""
    for op in block.ops[pos + 1:]:
        if op is dot:
            return False
        holds = any(dot is x for r in op.regions() for x in o.walk(r))
        if _writes(op, root, f):
            return True
        if holds:
            return False
    return True  # the dot is not after the load in this block: keep the plain load


def _writes(op: o.Op, root: str, f: _Facts) -> bool:
    for x in [op, *(y for r in op.regions() for y in o.walk(r))]:
        if x.has_trait(o.Trait.WRITES_MEMORY) and any(
                isinstance(v.type, SharedType) and
                _may_alias(_root(v, f.defs), root, f.defs if f.placed else {})
                for v in x.operand_values()):
            return True
    return False


def _may_alias(r1: str, r2: str, defs: dict) -> bool:
    """Whether two allocations may share bytes: the same one, or both placed (by
    allocate-shared, which reuses the space of dead buffers) at overlapping ranges."""
    if r1 == r2:
        return True
    spans = [_span(defs.get(r)) for r in (r1, r2)]
    if spans[0] is None or spans[1] is None:
        return False  # unplaced buffers get disjoint space in lower-to-threads
    (lo1, hi1), (lo2, hi2) = spans
    return lo1 < hi2 and lo2 < hi1


def _span(alloc: o.Op | None) -> tuple[int, int] | None:
    offset = getattr(alloc, "offset", -1)
    if not isinstance(alloc, o.AllocSharedOp) or offset < 0:
        return None
    t: SharedType = alloc.result.type
    size = max(1, t.dtype.bits // 8)
    for d in t.shape:
        size *= d
    return offset, offset + size


def mma_operand_bases(L: "_Lowering", a: Any, b: Any) -> tuple[Value, Value, int]:
    """i32 byte addresses of the A and B matrices and the byte of the dot's scratch
    range where the accumulator may go: register tiles are stashed row-major in scratch, shared
    operands stay where they are (``None``: an operand not read from memory)."""
    top = 0
    bases = []
    for x in (a, b):
        if x is None:   # an operand the caller takes from registers
            bases.append(L.b.const(0, i32))
        elif isinstance(x, SharedOperand):
            bases.append(x.buf.base(L.b))
        else:
            bases.append(L.b.const(L.scratch(top, 0), i32))
            top += L.stash(x, base=top)
    return bases[0], bases[1], top


def in_place_sources(fn: Function, in_place: set[str] | None = None
                     ) -> Callable[[Value], tuple[SharedType, bool] | None]:
    """For a tile of ``fn`` that a ``tl.dot`` reads in place (``in_place``, default
    ``shared_operand_values``): the type of the buffer (or view) its ``tl.shared_load``
    reads and whether a ``tl.trans`` on the way flips it; ``None`` for any other tile."""
    if in_place is None:
        in_place = shared_operand_values(fn.body, DotUnit.of(fn))
    defs = {r.name: op for op in o.walk(fn.body) for r in op.results}

    def source(v: Value) -> tuple[SharedType, bool] | None:
        if v.name not in in_place:
            return None
        trans = False
        while True:
            op = defs.get(v.name)
            if isinstance(op, o.TransOp):
                trans, v = not trans, op.value
            elif isinstance(op, o.ReshapeOp):
                v = op.value
            elif isinstance(op, o.SharedLoadOp) and isinstance(op.src.type, SharedType):
                return op.src.type, trans
            else:
                return None

    return source


def fragment_dot_scratch(fn: Function, in_place: set[str] | None = None
                         ) -> Callable[[o.DotOp], int]:
    """The scratch bytes of each ``tl.dot`` of ``fn`` on a fragment instruction
    (mma.sync, MFMA), as ``mma_operand_bases`` and the lowerings use it: the
    operands that are register tiles, stashed one after the other (16-byte
    aligned), then the accumulator unless it and the result are in the
    instruction's fragment layout. A dot with no instruction takes the scalar
    path, which stashes A and B (``stash_bytes``). ``in_place``: the tiles read in
    place, when the caller has them (default ``shared_operand_values``)."""
    unit = DotUnit.of(fn)
    if in_place is None:
        in_place = shared_operand_values(fn.body, unit)

    def dot(op: o.DotOp) -> int:
        a, b, acc = op.a.type, op.b.type, op.acc.type
        if unit.select(a, b, acc) is None:
            return stash_bytes(op)
        used = sum(align(x.type.numel * itemsize(x.type.dtype), 16)
                   for x in (op.a, op.b) if x.name not in in_place)
        kept = all(t.layout and unit.accumulator(parse_layout(t.layout), *acc.shape)
                   for t in (acc, op.result.type))
        return used + (0 if kept else acc.numel * 4)

    return dot


def swizzle_of(x: object) -> str:
    """The swizzle of the buffer a shared operand is read from ("" for a stashed tile)."""
    buf = getattr(x, "buf", None)
    return buf.type.swizzle if buf is not None else ""
