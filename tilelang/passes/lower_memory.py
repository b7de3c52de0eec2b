"""Global-memory ops for lower-to-threads: one predicated access per slot.

An element at tile coordinate ``c`` of a window at ``offsets`` has index
``offsets + c``; its address is ``ptr + sum(index_d * stride_d) * itemsize``
(i64). The access is predicated on the slot being real, the index lying inside
the tensor's runtime shape and, when given, the mask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.types import ScalarType, TileType, i32, i64
from tilelang.ir.values import Value

if TYPE_CHECKING:
    from tilelang.passes.lower_to_threads import _Lowering


def tensor_info(L: "_Lowering", tensor: Value) -> tuple[Value, list[Value], list[Value]]:
    """Base address, dims and strides of a tensor parameter (emitted at the entry)."""
    return L.tensors[tensor.name]


def _element(L: "_Lowering", tensor: Value, offsets: tuple[Value, ...], tile: TileType,
             r: int, mask: Any) -> tuple[Value, Value | None]:
    """Address and predicate of slot ``r`` of a window of ``tensor``."""
    b = L.b
    ptr, dims, strides = tensor_info(L, tensor)
    lay = L.layout(tile)
    coords = L.coords(L.flat(lay, r), tile.shape)
    pred = L.valid(lay, r)
    elem: Value | None = None
    zero = b.const(0, i32)
    for off, c, dim, stride in zip(offsets, coords, dims, strides):
        index = b.add(b.cast(L.val(off), i32), c)
        inside = b.both(b.cmp("ge", index, zero), b.cmp("lt", index, dim))
        pred = b.both(pred, inside)
        term = b.mul(b.cast(index, i64), b.cast(stride, i64))
        elem = term if elem is None else b.add(elem, term)
    if mask is not None:
        pred = b.both(pred, mask.slots[r])
    size = b.const(max(1, tile.dtype.bits // 8), i64)
    return b.add(ptr, b.mul(elem, size)), pred


def lower_load(L: "_Lowering", op: o.LoadOp) -> None:
    t: TileType = op.result.type
    mask = L.val(op.mask) if op.mask is not None else None
    other = L.val(op.other) if op.other is not None else None
    slots = []
    for r in range(L.layout(t).slots):
        addr, pred = _element(L, op.tensor, op.offsets, t, r, mask)
        slots.append(L.b.emit1(th.LdGlobalOp, ScalarType(t.dtype), dtype=t.dtype, vec=1,
                               addr=addr, pred=pred, other=other))
    L.bind(op.result, L.new_tile(t, slots))


def lower_store(L: "_Lowering", op: Any, atomic: bool) -> None:
    tile = L.val(op.value)
    t: TileType = op.value.type
    mask = L.val(op.mask) if op.mask is not None else None
    for r, v in enumerate(tile.slots):
        if tile.layout.never_valid(r):
            continue
        addr, pred = _element(L, op.tensor, op.offsets, t, r, mask)
        if atomic:
            L.b.emit0(th.AtomicAddGlobalOp, addr=addr, value=v, pred=pred)
        else:
            L.b.emit0(th.StGlobalOp, addr=addr, values=(v,), pred=pred)


def lower_copy(L: "_Lowering", op: o.CopyOp) -> None:
    buf = L.val(op.dst)
    t = TileType(buf.type.shape, buf.type.dtype)
    lay = L.layout(t)
    size = max(1, t.dtype.bits // 8)
    base = buf.base(L.b)  # a tl.shared_slice view's base is a runtime value
    for r in range(lay.slots):
        if lay.never_valid(r):
            continue
        addr, pred = _element(L, op.tensor, op.offsets, t, r, None)
        v = L.b.emit1(th.LdGlobalOp, ScalarType(t.dtype), dtype=t.dtype, vec=1, addr=addr,
                      pred=pred)
        dst = L.b.add(L.b.mul(L.flat(lay, r), L.b.const(size, i32)), base)
        L.b.emit0(th.StSharedOp, addr=dst, values=(v,), pred=L.valid(lay, r))
