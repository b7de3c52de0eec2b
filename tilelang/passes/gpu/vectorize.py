"""vectorize: how many consecutive elements one thread may move with one instruction.

Contract. Input: a verified tile-IR module. Output: the same module in which
every ``tl.load``, ``tl.store`` and ``tl.copy`` has its ``vec`` attribute set
(replacing any earlier value; nothing else changes, and re-running the pass
gives the same result). ``vec`` is the largest power of two ``v`` such that

* ``v * itemsize <= 16`` bytes, for a dtype of 8, 16, 32 or 64 bits (a packed
  low-bit tensor instead: ``v <= 8`` elements that fill whole bytes of each of
  its planes, with ``unit_stride`` the only fact needed; see ``width``);
* in the tile's register layout (the blocked layout of ``blocked_layout.py``, or
  the tile type's layout annotation) each thread holds its slots in groups of
  ``v`` consecutive slots whose flat elements are consecutive and start at a
  multiple of ``v`` (``slot_run``), and ``v`` divides the tile's last dimension,
  so a group lies in one row;
* the tensor's type has all three facts (``aligned``, ``unit_stride``,
  ``divisible``; see ``TensorType``);
* the divisibility analysis proves the window's last offset a multiple of ``v``;
* the op has no ``mask``, or its mask is the same for the ``v`` elements of every
  group (built from splats, broadcasts along the last axis and elementwise ops
  of those). ``other`` does not matter.

Why that suffices: a group's first element is at ``base + (sum of index_d *
stride_d) * itemsize``; ``base`` is 16-byte aligned, every stride but the last
is a multiple of ``16 / itemsize``, and the last index (offset plus a column
that is a multiple of ``v``) is a multiple of ``v``, so the group is aligned to
``v * itemsize`` bytes and, with unit stride, contiguous. The last dimension
is a multiple of ``16 / itemsize``, hence of ``v``, so if the first element is
inside the tensor so is the whole group, and if it is outside so is every
element: one predicate (the first element's bounds, the slot's validity and
the mask) governs the whole group. Shared buffers are row-major and 16-byte
aligned, so a copy's group is aligned there too.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from tilelang.ir import ops as o
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.layouts import parse_layout
from tilelang.ir.rewrite import map_regions
from tilelang.ir.types import VECTOR_BYTES, TensorType, TileType
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.gpu.blocked_layout import Blocked, blocked
from tilelang.passes.tile.divisibility import Divisibility
from tilelang.passes.gpu.target_facts import num_threads


def run(module: Module) -> Module:
    return Module(tuple(_Vectorize(f).function() for f in module.functions))


# -- register layouts: runs of consecutive elements in one thread ------------------

@lru_cache(maxsize=256)
def _layout_run(text: str) -> int:
    """``slot_run`` of the layout expression ``text`` (from its table)."""
    expr = parse_layout(text)
    flat = expr.flat_table()                       # (threads, slots) -> flat element
    v = VECTOR_BYTES
    while v > 1:
        if expr.num_slots % v == 0:
            groups = flat.reshape(flat.shape[0], -1, v)
            first = groups[..., :1]
            if not np.any(first % v) and np.array_equal(groups, first + np.arange(v)):
                return v
        v //= 2
    return 1


def slot_run(layout: Any) -> int:
    """The largest power of two ``v`` such that every thread's slots ``r .. r + v - 1``
    (``r`` a multiple of ``v``) hold consecutive flat elements starting at a multiple
    of ``v``. ``layout`` is lower-to-threads' layout of a tile: a ``Blocked`` one, or
    an assigned one carrying its layout expression as ``expr``."""
    if isinstance(layout, Blocked):
        return layout.vec
    expr = getattr(layout, "expr", None)
    return _layout_run(str(expr)) if expr is not None else 1


def tile_run(t: TileType, threads: int) -> int:
    """``slot_run`` of the layout lower-to-threads gives the tile type ``t``."""
    return _layout_run(t.layout) if t.layout else blocked(t.numel, threads).vec


# -- masks --------------------------------------------------------------------------

class _Uniform:
    """Which bool tiles are constant along their last axis (so along any group)."""

    def __init__(self, fn: Function) -> None:
        self.defs = {r.name: op for op in o.walk(fn.body) for r in op.results}
        self.cache: dict[str, bool] = {}

    def along_last_axis(self, v: Value) -> bool:
        if not isinstance(v.type, TileType):
            return True                  # a scalar is the same everywhere
        hit = self.cache.get(v.name)
        if hit is None:
            self.cache[v.name] = False   # a cycle (there is none in SSA) proves nothing
            hit = self.cache[v.name] = self._compute(v)
        return hit

    def _compute(self, v: Value) -> bool:
        op = self.defs.get(v.name)
        if isinstance(op, o.SplatOp):
            return True
        if isinstance(op, o.BroadcastOp):
            src = op.value.type
            return src.shape[-1] == 1 or self.along_last_axis(op.value)
        if isinstance(op, o.ReshapeOp):
            same_rows = op.value.type.shape[-1] == v.type.shape[-1]
            return same_rows and self.along_last_axis(op.value)
        if isinstance(op, (o.BinaryOp, o.UnaryOp, o.CastOp, o.WhereOp, FmaOp)):
            return all(self.along_last_axis(x) for x in op.operand_values())
        return False


# -- the pass ---------------------------------------------------------------------------

class _Vectorize:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        # (hand-written IR may carry any attribute; lowering rejects a bad one)
        self.threads = num_threads(fn)
        self.div = Divisibility(fn)
        self.uniform = _Uniform(fn)

    def function(self) -> Function:
        return replace(self.fn, body=self.block(self.fn.body))

    def block(self, block: Block) -> Block:
        return Block(block.args, tuple(self.op(op) for op in block.ops))

    def op(self, op: o.Op) -> o.Op:
        if isinstance(op, o.LoadOp):
            return replace(op, vec=self.width(op.tensor, op.offsets, op.result.type, op.mask))
        if isinstance(op, o.StoreOp):
            return replace(op, vec=self.width(op.tensor, op.offsets, op.value.type, op.mask))
        if isinstance(op, o.CopyOp):
            t = TileType(op.dst.type.shape, op.dst.type.dtype)
            return replace(op, vec=self.width(op.tensor, op.offsets, t, None))
        return map_regions(op, self.block) if op.regions() else op

    def width(self, tensor: Value, offsets: tuple[Value, ...], tile: TileType,
              mask: Value | None) -> int:
        """The ``vec`` of an access of ``tile`` at ``offsets`` of ``tensor`` (see the
        module doc)."""
        tt = tensor.type
        if not isinstance(tt, TensorType) or not tile.shape or \
                (mask is not None and not self.uniform.along_last_axis(mask)):
            return 1
        packed = tt.dtype.is_lowbit and tt.dtype.bits < 8
        if packed:
            # ``v <= 8`` elements are whole bytes of each plane (lower_packed.py): a
            # packed row has a multiple of 8 elements (``PackedArray``), so such a group
            # is wholly inside or outside it without ``divisible``; lower-to-threads
            # makes each plane's bytes one access when ``aligned`` and ``divisible`` hold
            if not tt.unit_stride:
                return 1
            cap = 8
        elif tt.dtype.bits in (8, 16, 32, 64) and tt.aligned and tt.unit_stride and \
                tt.divisible:
            cap = VECTOR_BYTES // (tt.dtype.bits // 8)
        else:
            return 1
        v = min(cap, tile_run(tile, self.threads))
        while v > 1 and (tile.shape[-1] % v or not self.div.is_multiple(offsets[-1], v)):
            v //= 2
        if packed and v * (tt.dtype.bits & -tt.dtype.bits) < 8:   # not whole bytes
            return 1
        return v


__all__ = ["run", "slot_run", "tile_run"]
