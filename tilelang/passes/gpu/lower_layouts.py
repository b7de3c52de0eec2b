"""Register tiles in assigned layouts, for lower-to-threads.

A tile whose type carries a ``layout`` (set by ``assign-layouts``) is spread
over the threads by that layout expression (``tilelang.ir.layouts``) instead of
the blocked layout. This module gives lower-to-threads what it needs of such a
layout: the coordinates of a thread's slot (from the layout's digits and the
thread id), which threads own an element when the layout replicates it, the
slot correspondence that makes a ``broadcast`` free, and reductions that stay
in registers (fold a thread's slots, then butterfly shuffles across lanes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from tilelang.ir import thread_ops as th
from tilelang.ir.layouts import LOCAL, REPLICA, Digit, Layout, digits, parse_layout, reduce
from tilelang.ir.types import DType, ScalarType, TileType, f32, i32
from tilelang.ir.values import Value

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering


@dataclass(frozen=True, eq=False)
class Assigned:
    """A layout expression as lowering uses it (the blocked layout's counterpart)."""

    expr: Layout
    digits: tuple[Digit, ...]

    @property
    def slots(self) -> int:
        return self.expr.num_slots

    @property
    def numel(self) -> int:
        return self.expr.numel

    def always_valid(self, r: int) -> bool:   # an assigned layout has no padding slots
        return True

    def never_valid(self, r: int) -> bool:
        return False

    @property
    def replicated(self) -> bool:
        return any(d.kind == REPLICA for d in self.digits)

    def __str__(self) -> str:
        return str(self.expr)


@lru_cache(maxsize=256)
def assigned(text: str, threads: int) -> Assigned:
    """The layout written ``text`` for a block of ``threads`` threads."""
    expr = parse_layout(text)
    if expr.num_threads != threads:
        raise ValueError(f"layout {text} spreads over {expr.num_threads} threads, "
                         f"the block has {threads}")
    return Assigned(expr, digits(expr))


def _digit(L: "_Lowering", d: Digit) -> Value:
    """``(tid // stride) % size`` for a thread digit."""
    b, c = L.b, (lambda v: L.b.const(v, i32))
    x = L.tid
    if d.stride > 1:
        x = (b.binary("shr", x, c(d.stride.bit_length() - 1)) if d.stride & (d.stride - 1) == 0
             else b.binary("floordiv", x, c(d.stride)))
    if d.stride * d.size < L.threads:
        x = (b.binary("and", x, c(d.size - 1)) if d.size & (d.size - 1) == 0
             else b.binary("mod", x, c(d.size)))
    return x


def slot_coords(L: "_Lowering", lay: Assigned, r: int) -> list[Value]:
    """The tile coordinates of slot ``r`` in this thread (i32 values)."""
    const = [0] * lay.expr.rank
    terms: list[list[Value]] = [[] for _ in range(lay.expr.rank)]
    for d in lay.digits:
        if d.kind == LOCAL:
            const[d.axis] += (r // d.stride) % d.size * d.scale
        elif d.axis >= 0:
            x = _digit(L, d)
            terms[d.axis].append(x if d.scale == 1 else L.b.mul(x, L.b.const(d.scale, i32)))
    out = []
    for k, ts in zip(const, terms):
        acc = L.b.const(k, i32) if k or not ts else None
        for t in ts:
            acc = t if acc is None else L.b.add(acc, t)
        out.append(acc)
    return out


def owner(L: "_Lowering", lay: Assigned) -> Value | None:
    """True in the one thread of each replica group that writes shared memory
    (``None``: the layout does not replicate)."""
    pred = None
    for d in lay.digits:
        if d.kind == REPLICA:
            pred = L.b.both(pred, L.b.cmp("eq", _digit(L, d), L.b.const(0, i32)))
    return pred


def broadcast_slots(src: Layout, dst: Layout) -> list[int] | None:
    """For each slot of ``dst``, the slot of ``src`` that holds, in the same thread,
    the element a broadcast from ``src.shape`` to ``dst.shape`` puts there; ``None``
    if some thread lacks it (the broadcast then goes through shared memory)."""
    if src.num_threads != dst.num_threads:
        return None
    want = dst.table().copy()                  # (threads, slots, rank)
    for axis, n in enumerate(src.shape):
        if n == 1:
            want[..., axis] = 0
    have = src.table()                         # (threads, src slots, rank)
    match = (want[:, :, None, :] == have[:, None, :, :]).all(-1).all(0)   # (slots, src slots)
    if not match.any(1).all():
        return None
    return [int(np.argmax(row)) for row in match]


def swizzled(L: "_Lowering", swizzle: str, flat: Value) -> Value:
    """Where element ``flat`` of a row-major buffer with ``swizzle`` (a shared type's
    annotation) lives: ``flat ^ ((flat & mask) >> shift)``, which moves whole 16-byte
    chunks, so vector accesses and ``ldmatrix`` rows stay contiguous."""
    if not swizzle:
        return flat
    swz = _parse_swizzle(swizzle)
    if is_blocked(swz):   # a BlockSwizzle: move the column block, then swizzle
        return swizzled(L, str(swz.swizzle), block_moved(L, swz, flat))
    if swz.is_identity:
        return flat
    mask = ((1 << swz.bits) - 1) << (swz.base + swz.shift)
    moved = L.b.binary("shr", L.b.binary("and", flat, L.b.const(mask, i32)),
                       L.b.const(swz.shift, i32))
    return L.b.binary("xor", flat, moved)


def block_moved(L: "_Lowering", swz, flat: Value) -> Value:
    """``swz.move(flat)`` (``swz``: a ``shared_layouts.BlockSwizzle``) as shifts and
    masks: the column-block bits of a row-major offset go above the row bits."""
    b = L.b
    lb, lr, lc, lt = swz.move_fields()

    def field(shift: int, width_mask: int, to: int) -> Value:
        v = b.binary("shr", flat, b.const(shift, i32)) if shift else flat
        v = b.binary("and", v, b.const(width_mask, i32))
        return b.binary("shl", v, b.const(to, i32)) if to else v

    parts = [b.binary("and", flat, b.const(~((1 << lt) - 1) | ((1 << lb) - 1), i32)),
             field(lc, swz.rows - 1, lb), field(lb, swz.blocks - 1, lb + lr)]
    return b.binary("or", b.binary("or", parts[0], parts[1]), parts[2])


class SwizzledOffsets:
    """Element offsets ``S(lane + C)`` in a buffer with swizzle ``S``, for one
    thread-dependent ``lane`` value and many compile-time offsets ``C``.

    Computing ``S(lane + C)`` afresh for every ``C`` gives each access its own XOR
    result; LLVM hoists those out of loops (they do not change between
    iterations) and each occupies a register. When ``lane`` and every ``C`` have
    no bits in common (``exact``, which the caller proves from powers of two),
    ``S`` is linear over XOR and ``S(lane + C) = (S(lane) ^ K) + R``, where ``K``
    is the XOR that ``C`` makes in the 16-byte-chunk bits and ``R`` is the rest of
    ``C``: a handful of distinct ``S(lane) ^ K`` values, each plus a constant that
    becomes an immediate offset. Otherwise each offset is swizzled as a whole.
    """

    def __init__(self, L: "_Lowering", swizzle: str, lane: Value, exact: bool) -> None:
        self.L, self.lane, self.exact = L, lane, exact
        swz = _parse_swizzle(swizzle) if swizzle else None
        self.move = None   # a BlockSwizzle's column-block move, applied first
        if swz is not None and is_blocked(swz):
            # The move is a bit permutation, so with ``lane`` and ``C`` disjoint,
            # move(lane + C) = move(lane) + move(C), still disjoint: the XOR split
            # below works on the moved values.
            self.move = swz
            self.lane = lane = block_moved(L, swz, lane) if exact else lane
            swz = swz.swizzle
        self.swz = None if swz is None or swz.is_identity else swz
        self.parts: dict[int, Value] = {}

    def at(self, const: int) -> Value:
        b, s = self.L.b, self.swz
        if self.move is not None:
            if not self.exact:
                return swizzled(self.L, str(self.move),
                                b.add(self.lane, b.const(const, i32)) if const else self.lane)
            const = int(self.move.move(const))
        if s is None:
            return b.add(self.lane, b.const(const, i32)) if const else self.lane
        if not self.exact:
            return swizzled(self.L, str(s), b.add(self.lane, b.const(const, i32)))
        key, rest = split_constant(s, const)
        if key not in self.parts:
            if 0 not in self.parts:
                self.parts[0] = swizzled(self.L, str(s), self.lane)
            self.parts[key] = b.binary("xor", self.parts[0], b.const(key, i32))
        return b.add(self.parts[key], b.const(rest, i32)) if rest else self.parts[key]


def split_constant(swz, const: int) -> tuple[int, int]:
    """``(K, R)`` with ``S(lane + const) == (S(lane) ^ K) + R`` for every ``lane`` that
    shares no bits with ``const`` (``swz``: a ``shared_layouts.Swizzle``)."""
    chunk = ((1 << swz.bits) - 1) << swz.base
    return (const & chunk) ^ ((const >> swz.shift) & chunk), const & ~chunk


def is_blocked(swz: object) -> bool:
    """Whether a parsed swizzle annotation is a ``shared_layouts.BlockSwizzle``."""
    from tilelang.ir.shared_layouts import BlockSwizzle
    return isinstance(swz, BlockSwizzle)


@lru_cache(maxsize=64)
def _parse_swizzle(text: str):   # -> shared_layouts.Swizzle | BlockSwizzle
    from tilelang.ir.shared_layouts import parse_swizzle
    return parse_swizzle(text)


_COMBINE = {"sum": "add", "max": "maximum", "min": "minimum"}


def _acc_dtype(dtype: DType) -> DType:
    return f32 if dtype.is_float and dtype.bits < 32 else dtype


def lower_reduce_in_registers(L: "_Lowering", src: "Tile", axis: int, fn: str,
                              out_t: TileType | ScalarType) -> list[Value] | None:
    """Reduce a tile in an assigned layout without shared memory, or ``None`` when
    the threads that share a result span several warps (or are not XOR-closed).

    Each thread folds the slots that land in one result slot, then the lanes of a
    group combine with butterfly shuffles; every lane ends with the full result,
    which is the replicated layout ``reduce`` describes.
    """
    lay: Assigned = src.layout   # type: ignore[assignment]
    red = reduce(lay.expr, axis, L.warp_size)
    if red.cross_warp or red.shuffle_masks is None:
        return None
    acc_dt = _acc_dtype(src.type.dtype)
    if acc_dt.bits > 32:   # a shuffle moves 32 bits
        return None
    fold = _COMBINE[fn]
    parts: list[Value | None] = [None] * red.layout.num_slots
    for s, v in enumerate(src.slots):
        x = L.b.cast(v, acc_dt)
        t = int(red.slot_map[s])
        parts[t] = x if parts[t] is None else L.b.binary(fold, parts[t], x)
    out = []
    for p in parts:
        assert p is not None   # every result slot receives at least one input slot
        for mask in red.shuffle_masks:
            other = L.b.emit1(th.ShflOp, p.type, mode="bfly", value=p,
                              lane=L.b.const(mask, i32))
            p = L.b.binary(fold, p, other)
        out.append(L.b.cast(p, src.type.dtype))
    return out
