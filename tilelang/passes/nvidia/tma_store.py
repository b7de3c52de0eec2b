"""tma-store: on targets with TMA, a tile's store becomes a TMA box store from a
swizzled shared buffer.

Contract. Input and output: verified tile-IR modules; the emulator gives the same
results before and after lowering. Only functions with the ``tma`` fact and
without ``@tl.kernel(tma=False)`` change. A ``tl.store(tensor, offsets, value)``
changes when

* it has no mask (a TMA store skips exactly the elements outside the tensor,
  which is what an unmasked ``tl.store`` does);
* the tensor is known 16-byte aligned with a unit inner stride and 16-byte
  strides (the ``aligned``, ``unit_stride`` and ``divisible`` facts), has whole-byte
  elements and the value's rank;
* the value's tile has a TMA layout (``store_buffer_type``): rows of 32, 64 or 128
  bytes under that swizzle, rows wider than 128 bytes as 128-byte column blocks
  (``shared_layouts.BlockSwizzle``), other rows of a multiple of 16 bytes
  unswizzled, every box dimension at most 256;
* the tensor has no TMA load (one tensor map serves one box) and no other store
  with another box;
* it is not inside a loop (a persistent kernel's tile loop): there LLVM keeps
  every slot's swizzled address live across the loop, and a 128x256 tile's
  consumers spill (384 bytes) where the plain epilogue does not.

It becomes ``tl.tma_store(tensor, offsets, v)``, where ``v`` is the stored value
or, when that value is a ``tl.convert_layout`` used only here, the converted tile
itself: the swizzled buffer takes any layout without bank conflicts, so the
exchange through scratch goes away. ``lower-to-threads`` writes the tile into the
scratch area at byte 0 (1024-byte aligned wherever TMA is used) under the
buffer's swizzle, then one thread stores the boxes (``lower_tma.lower_store``);
the scratch area is sized for it as for the exchange it replaces.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_regions
from tilelang.ir.shared_layouts import Swizzle, block_swizzle
from tilelang.ir.tma_staging_ops import TmaCopyOp, TmaStoreTileOp, tma_boxes, tma_swizzle_mode
from tilelang.ir.types import SharedType, TensorType, TileType
from tilelang.ir.values import Block, Function, Module
from tilelang.passes.nvidia.pipeline_tma import MAX_BOX, OPTION_ATTR, TMA_ATTR


def run(module: Module) -> Module:
    return Module(tuple(_function(f) if f.attr(TMA_ATTR, False) is True and
                        f.attr(OPTION_ATTR, True) is not False else f
                        for f in module.functions))


def store_buffer_type(t: TileType) -> SharedType | None:
    """The shared buffer a TMA store of a tile of type ``t`` goes through, or None."""
    size = t.dtype.bits // 8
    if t.dtype.bits % 8 or not 1 <= t.rank <= 5:
        return None
    rows = t.shape[-2] if t.rank >= 2 else 1
    cols = t.shape[-1]
    row = cols * size
    swizzle = ""
    if row in (32, 64, 128):
        swizzle = str(Swizzle((row // 16).bit_length() - 1, (16 // size).bit_length() - 1, 3))
    elif row > 128 and prod(t.shape[:-2]) == 1:
        blk = block_swizzle(rows, cols, t.dtype.bits)
        swizzle = str(blk) if blk is not None else ""
    buf = SharedType(tuple(t.shape), t.dtype, swizzle)
    mode, boxes = tma_swizzle_mode(buf), tma_boxes(buf)
    if mode is None or boxes is None or max(boxes[0]) > MAX_BOX:
        return None
    return buf


def _function(fn: Function) -> Function:
    loaded = {op.tensor.name for op in o.walk(fn.body) if isinstance(op, TmaCopyOp)}
    uses: dict[str, int] = {}
    defs: dict[str, o.Op] = {}
    for op in o.walk(fn.body):
        for v in op.operand_values():
            uses[v.name] = uses.get(v.name, 0) + 1
        for r in op.results:
            defs[r.name] = op
    body = _Rewriter(loaded, uses, defs).block(fn.body)
    return fn if body == fn.body else replace(fn, body=body)


class _Rewriter:
    def __init__(self, loaded: set[str], uses: dict[str, int], defs: dict[str, o.Op]) -> None:
        self.loaded, self.uses, self.defs = loaded, uses, defs
        self.boxes: dict[str, SharedType] = {}   # tensor -> its store buffer (one map)

    def block(self, block: Block, in_loop: bool = False) -> Block:
        out: list[o.Op] = []
        for op in block.ops:
            inner = in_loop or isinstance(op, o.ForOp)
            op = map_regions(op, lambda b: self.block(b, inner))
            if isinstance(op, o.StoreOp) and not in_loop:
                new = self._store(op)
                if new is not None:
                    out.extend(new)
                    continue
            out.append(op)
        return Block(block.args, tuple(out))

    def _store(self, op: o.StoreOp) -> list[o.Op] | None:
        tt, vt = op.tensor.type, op.value.type
        if op.mask is not None or not isinstance(tt, TensorType) or \
                not isinstance(vt, TileType) or vt.dtype != tt.dtype or vt.rank != tt.rank:
            return None
        if not (tt.aligned and tt.unit_stride and tt.divisible) or tt.wide or \
                op.tensor.name in self.loaded:          # (TMA coordinates are i32)
            return None
        buf_t = store_buffer_type(vt)
        if buf_t is None or self.boxes.setdefault(op.tensor.name, buf_t) != buf_t:
            return None
        value = op.value
        conv = self.defs.get(value.name)
        if isinstance(conv, o.ConvertLayoutOp) and self.uses.get(value.name) == 1:
            value = conv.value       # the swizzled buffer takes the tile in any layout
        return [TmaStoreTileOp(loc=op.loc, tensor=op.tensor, offsets=op.offsets, value=value)]


__all__ = ["run", "store_buffer_type"]
