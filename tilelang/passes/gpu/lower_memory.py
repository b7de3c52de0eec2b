"""Memory ops for lower-to-threads: one predicated access per group of slots.

An element at tile coordinate ``c`` of a window at ``offsets`` has index
``offsets + c``; its address is ``ptr + sum(index_d * stride_d) * itemsize``
(i64). The index and its bounds check are in the tensor's ``index_dtype``: i32,
or i64 for a ``wide`` tensor (a dim or stride of ``2**31`` or more). The access
is predicated on the slot being real, the index lying inside the tensor's
runtime shape and, when given, the mask.

A thread's slots are accessed in groups of ``v`` consecutive slots, where ``v``
is the op's ``vec`` (set by the ``vectorize`` pass, which proved such groups
aligned, contiguous and wholly in or out of bounds) cut down to the layout's
runs of consecutive elements (``slot_run``). A group is one ``th.ld_global`` of
``v`` results or one ``th.st_global`` of ``v`` values, predicated on its first
element. ``tl.copy`` stores each group into shared memory with one
``th.st_shared``, or, when the copy ``is_async`` and a group is 4, 8 or 16
bytes, with one ``th.cp_async`` that zero-fills out-of-bounds groups
(``src_bytes = 0``). Whole-buffer ``tl.shared_load``/``tl.shared_store`` use
vector ``th.ld_shared``/``th.st_shared`` of up to 16 bytes along the layout's runs
(buffers are row-major and 16-byte aligned).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.passes.gpu.blocked_layout import Blocked
from tilelang.passes.gpu.lower_layouts import SwizzledOffsets, swizzled
from tilelang.ir.types import VECTOR_BYTES, DType, ScalarType, TileType, i32, i64
from tilelang.ir.values import Value
from tilelang.passes.gpu.vectorize import slot_run

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering


def tensor_info(L: "_Lowering", tensor: Value) -> tuple[Value, list[Value], list[Value]]:
    """Base address, dims and strides of a tensor parameter (emitted at the entry)."""
    return L.tensors[tensor.name]


def window_index(L: "_Lowering", tensor: Value, offsets: tuple[Value, ...], tile: TileType,
                 r: int, mask: Any) -> tuple[list[Value], Value | None]:
    """The tensor index (i64, one per dim) of slot ``r`` of a window of ``tensor`` and
    its predicate (a real slot, inside the tensor's shape, and the mask)."""
    b = L.b
    _, dims, _ = tensor_info(L, tensor)
    lay = L.layout(tile)
    coords = L.coords(L.flat(lay, r), tile.shape)
    pred = L.valid(lay, r)
    idx = tensor.type.index_dtype
    zero = b.const(0, idx)
    indices = []
    for off, c, dim in zip(offsets, coords, dims):
        index = b.add(b.cast(L.val(off), idx), b.cast(c, idx))
        pred = b.both(pred, b.both(b.cmp("ge", index, zero), b.cmp("lt", index, dim)))
        indices.append(b.cast(index, i64))
    if mask is not None:
        pred = b.both(pred, mask.slots[r])
    return indices, pred


def _element(L: "_Lowering", tensor: Value, offsets: tuple[Value, ...], tile: TileType,
             r: int, mask: Any) -> tuple[Value, Value | None]:
    """Address and predicate of slot ``r`` of a window of ``tensor``."""
    b = L.b
    ptr, _, strides = tensor_info(L, tensor)
    indices, pred = window_index(L, tensor, offsets, tile, r, mask)
    elem: Value | None = None
    for index, stride in zip(indices, strides):
        term = b.mul(index, b.cast(stride, i64))
        elem = term if elem is None else b.add(elem, term)
    size = b.const(max(1, tile.dtype.bits // 8), i64)
    return b.add(ptr, b.mul(elem, size)), pred


def _itemsize(dtype: DType) -> int:
    return max(1, dtype.bits // 8)


def group_width(vec: int, layout: Any) -> int:
    """Slots per access: the op's ``vec`` within the layout's runs (both powers of two)."""
    return max(1, min(vec, slot_run(layout)))


def load(L: "_Lowering", dtype: DType, v: int, **fields: Any) -> list[Value]:
    """Emit a ``th.ld_global`` of ``v`` elements; its results."""
    results = tuple(L.b.builder.fresh(ScalarType(dtype)) for _ in range(v))
    L.b.builder.emit(th.LdGlobalOp(results=results, loc=L.b.loc, dtype=dtype, vec=v, **fields))
    return list(results)


def lower_load(L: "_Lowering", op: o.LoadOp) -> None:
    t: TileType = op.result.type
    mask = L.val(op.mask) if op.mask is not None else None
    other = L.val(op.other) if op.other is not None else None
    lay = L.layout(t)
    v = group_width(op.vec, lay)
    slots: list[Value] = []
    for r in range(0, lay.slots, v):
        addr, pred = _element(L, op.tensor, op.offsets, t, r, mask)
        slots += load(L, t.dtype, v, addr=addr, pred=pred, other=other)
    L.bind(op.result, L.new_tile(t, slots))


def lower_store(L: "_Lowering", op: Any, atomic: bool) -> None:
    tile = L.val(op.value)
    t: TileType = op.value.type
    mask = L.val(op.mask) if op.mask is not None else None
    v = 1 if atomic else group_width(op.vec, tile.layout)
    for r in range(0, len(tile.slots), v):
        if tile.layout.never_valid(r):
            continue
        addr, pred = _element(L, op.tensor, op.offsets, t, r, mask)
        if atomic:
            L.b.emit0(th.AtomicAddGlobalOp, addr=addr, value=tile.slots[r], pred=pred)
        else:
            L.b.emit0(th.StGlobalOp, addr=addr, values=tuple(tile.slots[r:r + v]), pred=pred)


def lower_copy(L: "_Lowering", op: o.CopyOp) -> None:
    buf = L.val(op.dst)
    t = TileType(buf.type.shape, buf.type.dtype)
    lay = L.layout(t)
    size = _itemsize(t.dtype)
    base = buf.base(L.b)  # a tl.shared_slice view's base is a runtime value
    v = group_width(op.vec, lay)
    nbytes = v * size
    use_cp_async = getattr(op, "is_async", False) and nbytes in (4, 8, 16) and \
        t.dtype.bits >= 8 and L.async_copy
    where = buffer_offsets(L, lay, buf.type.swizzle)
    for r in range(0, lay.slots, v):
        if lay.never_valid(r):
            continue
        addr, pred = _element(L, op.tensor, op.offsets, t, r, None)
        dst = L.b.add(L.b.mul(where(r), L.b.const(size, i32)), base)
        # cp.async has no predicate, so groups with padding slots in some threads
        # (which must not write past the buffer) take the synchronous path.
        if use_cp_async and lay.always_valid(r):
            full = L.b.const(nbytes, i32)
            src_bytes = full if pred is None else L.b.where(pred, full, L.b.const(0, i32))
            L.b.emit0(th.CpAsyncOp, bytes=nbytes, dst=dst, src=addr, src_bytes=src_bytes)
            continue
        values = load(L, t.dtype, v, addr=addr, pred=pred, other=None)
        L.b.emit0(th.StSharedOp, addr=dst, values=tuple(values), pred=L.valid(lay, r))


def buffer_offsets(L: "_Lowering", lay: Any, swizzle: str) -> Any:
    """``r -> `` the element offset where slot ``r`` of a row-major register tile in
    layout ``lay`` lives in a buffer with ``swizzle``. A blocked slot's flat index is
    ``tid * vec`` plus a constant, in separate bits when the block size and ``vec``
    are powers of two, so the swizzle costs a few values per thread
    (``SwizzledOffsets``)."""
    if not swizzle or not isinstance(lay, Blocked):
        return lambda r: swizzled(L, swizzle, L.flat(lay, r))
    exact = lay.threads & (lay.threads - 1) == 0 and lay.vec & (lay.vec - 1) == 0
    offs = SwizzledOffsets(L, swizzle, L.b.mul(L.tid, L.b.const(lay.vec, i32)), exact)
    return lambda r: offs.at(lay.slot_base(r))


def shared_width(t: TileType, layout: Any) -> int:
    """Slots per ``th.ld_shared``/``th.st_shared`` between a whole row-major buffer and a
    register tile of type ``t``: the layout's runs, at most 16 bytes, and a divisor of
    the element count (so a group's slots are all real or all padding, and a ring of
    buffers keeps every stage aligned)."""
    if t.dtype.bits not in (8, 16, 32, 64):
        return 1
    v = min(slot_run(layout), VECTOR_BYTES // _itemsize(t.dtype))
    while v > 1 and t.numel % v:
        v //= 2
    return max(v, 1)


def lower_shared_load(L: "_Lowering", t: TileType, base: Value,
                      swizzle: str = "") -> list[Value]:
    """The slots of a register tile of type ``t`` read from a buffer at byte ``base``
    (row-major, with ``swizzle``: a shared type's annotation)."""
    lay = L.layout(t)
    v = shared_width(t, lay)
    size = _itemsize(t.dtype)
    slots: list[Value] = []
    where = buffer_offsets(L, lay, swizzle)
    for r in range(0, lay.slots, v):
        elem = where(r)
        valid = L.valid(lay, r)
        if valid is not None:  # padding reads element 0 (there is no predicate)
            elem = L.b.where(valid, elem, L.b.const(0, i32))
        addr = L.b.add(L.b.mul(elem, L.b.const(size, i32)), base)
        results = tuple(L.b.builder.fresh(ScalarType(t.dtype)) for _ in range(v))
        L.b.builder.emit(th.LdSharedOp(results=results, loc=L.b.loc, dtype=t.dtype, vec=v,
                                       addr=addr))
        slots += results
    return slots


def lower_shared_store(L: "_Lowering", tile: Any, base: Value, swizzle: str = "") -> None:
    """Write the register tile ``tile`` (a lower-to-threads ``Tile``) to a buffer at
    ``base`` (row-major, with ``swizzle``)."""
    lay = tile.layout
    v = shared_width(tile.type, lay)
    size = _itemsize(tile.type.dtype)
    where = buffer_offsets(L, lay, swizzle)
    for r in range(0, len(tile.slots), v):
        if lay.never_valid(r):
            continue
        addr = L.b.add(L.b.mul(where(r), L.b.const(size, i32)), base)
        L.b.emit0(th.StSharedOp, addr=addr, values=tuple(tile.slots[r:r + v]),
                  pred=L.valid(lay, r))
