"""tl.atomic_rmw for lower-to-threads: one ``th.atomic_rmw_global`` per element.

The value tile (and ``cmp``) arrive blocked (``assign-layouts`` gives memory ops
blocked tiles), so each element lives in exactly one thread: each slot is one
predicated atomic at the element's address (``lower_memory._element``: real
slot, index inside the runtime shape, mask) whose result is the slot of the
old-value tile. A slot that is never a real element holds zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.ir.atomic_ops import AtomicRMWGlobalOp, AtomicRMWOp
from tilelang.ir.types import ScalarType, TileType
from tilelang.ir.values import Value
from tilelang.passes.gpu.lower_memory import _element

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering


def lower_atomic_rmw(L: "_Lowering", op: AtomicRMWOp) -> None:
    tile = L.val(op.value)
    cmp = L.val(op.cmp) if op.cmp is not None else None
    t: TileType = op.value.type
    mask = L.val(op.mask) if op.mask is not None else None
    zero = L.b.const(0.0 if t.dtype.is_float else 0, t.dtype)
    slots: list[Value] = []
    for r in range(len(tile.slots)):
        if tile.layout.never_valid(r):
            slots.append(zero)
            continue
        addr, pred = _element(L, op.tensor, op.offsets, t, r, mask)
        result = L.b.builder.fresh(ScalarType(t.dtype))
        L.b.builder.emit(AtomicRMWGlobalOp(
            results=(result,), loc=L.b.loc, kind=op.kind, addr=addr, value=tile.slots[r],
            cmp=cmp.slots[r] if cmp is not None else None, pred=pred))
        slots.append(result)
    L.bind(op.result, L.new_tile(op.result.type, slots))
