"""tl.gather / tl.scatter for lower-to-threads: one predicated access per element.

Index tiles, value and mask arrive blocked (``assign-layouts`` gives memory ops
blocked tiles), so slot ``r`` of each is the same element. Its address is
``ptr + sum(index_d * stride_d) * itemsize`` in i64 (an index tile may be i64), and
the access is predicated on the slot being real, every index lying inside the
tensor's runtime shape and the mask: a ``th.ld_global`` (``other`` elsewhere), a
``th.st_global`` or a ``th.atomic_add_global``, one element each (indices are
arbitrary, so nothing is vectorized).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.ir import thread_ops as th
from tilelang.ir.gather_ops import GatherOp, ScatterOp
from tilelang.ir.types import ScalarType, TileType, i64
from tilelang.ir.values import Value
from tilelang.passes.gpu.lower_memory import tensor_info

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering


def _element(L: "_Lowering", op: Any, tile: TileType, r: int,
             mask: Any) -> tuple[Value, Value | None]:
    b = L.b
    ptr, dims, strides = tensor_info(L, op.tensor)
    pred = L.valid(L.layout(tile), r)
    zero = b.const(0, i64)
    elem: Value | None = None
    for ix, dim, stride in zip(op.indices, dims, strides):
        index = b.cast(L.val(ix).slots[r], i64)
        inside = b.both(b.cmp("ge", index, zero), b.cmp("lt", index, b.cast(dim, i64)))
        pred = b.both(pred, inside)
        term = b.mul(index, b.cast(stride, i64))
        elem = term if elem is None else b.add(elem, term)
    if mask is not None:
        pred = b.both(pred, mask.slots[r])
    size = b.const(max(1, tile.dtype.bits // 8), i64)
    return b.add(ptr, b.mul(elem, size)), pred


def lower_gather(L: "_Lowering", op: GatherOp) -> None:
    t: TileType = op.result.type
    mask = L.val(op.mask) if op.mask is not None else None
    other = L.val(op.other) if op.other is not None else None
    lay = L.layout(t)
    fill = other if other is not None else L.b.const(0.0 if t.dtype.is_float else 0, t.dtype)
    slots: list[Value] = []
    for r in range(lay.slots):
        if lay.never_valid(r):
            slots.append(fill)
            continue
        addr, pred = _element(L, op, t, r, mask)
        (res,) = results = (L.b.builder.fresh(ScalarType(t.dtype)),)
        L.b.builder.emit(th.LdGlobalOp(results=results, loc=L.b.loc, dtype=t.dtype, vec=1,
                                       addr=addr, pred=pred, other=other))
        slots.append(res)
    L.bind(op.result, L.new_tile(t, slots))


def lower_scatter(L: "_Lowering", op: ScatterOp) -> None:
    tile = L.val(op.value)
    t: TileType = op.value.type
    mask = L.val(op.mask) if op.mask is not None else None
    for r in range(len(tile.slots)):
        if tile.layout.never_valid(r):
            continue
        addr, pred = _element(L, op, t, r, mask)
        if op.kind == "add":
            L.b.emit0(th.AtomicAddGlobalOp, addr=addr, value=tile.slots[r], pred=pred)
        else:
            L.b.emit0(th.StGlobalOp, addr=addr, values=(tile.slots[r],), pred=pred)
