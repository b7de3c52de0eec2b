"""``tl.gather`` and ``tl.scatter`` for lower-to-threads: one access per element.

Slot ``r`` of the index tiles, the mask and the value (all of one shape, so of
one blocked layout) names one element: its address is ``ptr + sum(index_d *
stride_d) * itemsize`` (i64), and the access is predicated on the slot being
real, every index lying inside the tensor's runtime shape, and the mask. A
gather is one ``th.ld_global`` per element (reading ``other`` when the
predicate is false), a scatter one ``th.st_global``, a scatter-add one
``th.atomic_add_global``; indices are arbitrary, so nothing is vectorized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.errors import IRError
from tilelang.ir import thread_ops as th
from tilelang.ir.gather_ops import GatherOp, ScatterOp
from tilelang.ir.types import ScalarType, i64
from tilelang.ir.values import Value
from tilelang.passes.gpu.lower_memory import tensor_info

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering


def _slots(L: "_Lowering", v: Value, lay: Any) -> list[Value]:
    tile = L.val(v)
    if tile.layout != lay:   # assign-layouts gives every operand of these ops the blocked one
        raise IRError(f"lower-to-threads: {v.name} is not in its gather's layout (a bug)")
    return tile.slots


def _addresses(L: "_Lowering", op: GatherOp | ScatterOp, shape_of: Value,
               ) -> tuple[Any, list[tuple[Value, Value | None]]]:
    """The layout of the elements and, per slot, its address and predicate."""
    b = L.b
    t = shape_of.type
    lay = L.layout(t)
    ptr, dims, strides = tensor_info(L, op.tensor)
    index_slots = [_slots(L, i, lay) for i in op.indices]
    mask = _slots(L, op.mask, lay) if op.mask is not None else None
    zero = b.const(0, i64)
    size = b.const(max(1, op.tensor.type.dtype.bits // 8), i64)
    out = []
    for r in range(lay.slots):
        pred = L.valid(lay, r)
        elem: Value | None = None
        for slots, dim, stride in zip(index_slots, dims, strides):
            index = b.cast(slots[r], i64)
            inside = b.both(b.cmp("ge", index, zero), b.cmp("lt", index, b.cast(dim, i64)))
            pred = b.both(pred, inside)
            term = b.mul(index, b.cast(stride, i64))
            elem = term if elem is None else b.add(elem, term)
        if mask is not None:
            pred = b.both(pred, mask[r])
        out.append((b.add(ptr, b.mul(elem, size)), pred))
    return lay, out


def lower_gather(L: "_Lowering", op: GatherOp) -> None:
    t = op.result.type
    other = L.val(op.other) if op.other is not None else None
    _, accesses = _addresses(L, op, op.result)
    slots = []
    for addr, pred in accesses:
        (res,) = (L.b.builder.fresh(ScalarType(t.dtype)),)
        L.b.builder.emit(th.LdGlobalOp(results=(res,), loc=L.b.loc, dtype=t.dtype, vec=1,
                                       addr=addr, pred=pred, other=other))
        slots.append(res)
    L.bind(op.result, L.new_tile(t, slots))


def lower_scatter(L: "_Lowering", op: ScatterOp) -> None:
    lay, accesses = _addresses(L, op, op.value)
    values = _slots(L, op.value, lay)
    for r, (addr, pred) in enumerate(accesses):
        if lay.never_valid(r):
            continue
        if op.reduce == "add":
            L.b.emit0(th.AtomicAddGlobalOp, addr=addr, value=values[r], pred=pred)
        else:
            L.b.emit0(th.StGlobalOp, addr=addr, values=(values[r],), pred=pred)


__all__ = ["lower_gather", "lower_scatter"]
