"""Packed low-bit tensors for lower-to-threads: plane addressing and bit unpacking.

After ``lower-lowbit`` a window of a low-bit tensor is a tile of ``u8`` codes. A
row of ``C`` elements of a ``b``-bit dtype holds its planes one after the other
(``tilelang.ir.lowbit``): plane ``(lo, w)`` of the row starting at element
``row`` (``sum(index_d * stride_d)`` over the leading dims) begins at bit
``row * b + C * lo``, and element ``c`` of it is ``w`` bits at bit ``c * w``
further on. Strides and ``C`` are multiples of 8 (``PackedArray``), so a row's
planes start on whole bytes.

A thread moves its slots in groups of ``v = op.vec`` consecutive elements
(``vectorize``: ``v <= 8``, ``v`` times the narrowest plane width a multiple
of 8, the group starting at a multiple of ``v``), so each plane of a group is
``v * w / 8`` whole bytes: one ``u8``/``u16``/``u32`` access when the tensor is
``aligned`` and ``divisible`` (then the bytes are aligned to their size), else one
access per byte. The word is unpacked with constant shifts and masks, codes are
assembled by or-ing the planes in at ``lo``, and a store packs the same way. A
group is wholly inside or outside the row (``v <= 8`` divides ``C``, a multiple
of 8), so the first element's predicate governs it. With ``v = 1`` a load reads
each element's byte of each plane and shifts by ``(c * w) % 8`` at run time; a
store must write whole bytes, so one whose groups would not is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.errors import CompileError
from tilelang.ir import lowbit
from tilelang.ir import thread_ops as th
from tilelang.ir.types import TileType, i64, u8, u16, u32
from tilelang.ir.values import Value
from tilelang.passes.gpu.lower_memory import load, window_index

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import _Lowering

_WORD = {1: u8, 2: u16, 4: u32}


def _position(L: "_Lowering", op: Any, tile: TileType, r: int,
              mask: Any) -> tuple[Value, Value, Value | None]:
    """(element offset of slot ``r``'s row, its column, predicate)."""
    b = L.b
    _, _, strides = L.tensors[op.tensor.name]
    indices, pred = window_index(L, op.tensor, op.offsets, tile, r, mask)
    row = b.const(0, i64)
    for index, stride in zip(indices[:-1], strides):
        row = b.add(row, b.mul(index, b.cast(stride, i64)))
    return row, indices[-1], pred


def _plane_byte(L: "_Lowering", op: Any, row: Value, col: Value, lo: int, w: int) -> Value:
    """The address of the byte holding element ``col`` of plane ``(lo, w)``."""
    b = L.b
    ptr, dims, _ = L.tensors[op.tensor.name]
    bits = op.tensor.type.dtype.bits
    width = b.cast(dims[-1], i64)
    at = b.add(b.add(b.mul(row, b.const(bits, i64)), b.mul(width, b.const(lo, i64))),
               b.mul(col, b.const(w, i64)))
    return b.add(ptr, b.binary("shr", at, b.const(3, i64)))


def _wide(op: Any) -> bool:
    tt = op.tensor.type
    return tt.aligned and tt.divisible


def _read_word(L: "_Lowering", op: Any, addr: Value, nbytes: int, pred: Value | None) -> Value:
    """``nbytes`` bytes at ``addr`` as one little-endian u32 (0 where ``pred`` fails)."""
    b = L.b
    if _wide(op):
        (word,) = load(L, _WORD[nbytes], 1, addr=addr, pred=pred)
        return b.cast(word, u32)
    word = None
    for k in range(nbytes):
        (byte,) = load(L, u8, 1, addr=b.add(addr, b.const(k, i64)), pred=pred)
        part = b.binary("shl", b.cast(byte, u32), b.const(8 * k, u32))
        word = part if word is None else b.binary("or", word, part)
    return word


def lower_packed_load(L: "_Lowering", op: Any) -> None:
    b = L.b
    t: TileType = op.result.type
    dt = op.tensor.type.dtype
    mask = L.val(op.mask) if op.mask is not None else None
    other = L.val(op.other) if op.other is not None else None
    lay = L.layout(t)
    v = max(1, min(op.vec, _run(lay)))
    slots: list[Value] = []
    for r in range(0, lay.slots, v):
        row, col, pred = _position(L, op, t, r, mask)
        codes: list[Value | None] = [None] * v
        for lo, w in lowbit.planes(dt):
            m = b.const((1 << w) - 1, u32)
            if v * w >= 8:
                word = _read_word(L, op, _plane_byte(L, op, row, col, lo, w), v * w // 8, pred)
                parts = [b.binary("and", b.binary("shr", word, b.const(j * w, u32)), m)
                         for j in range(v)]
            else:           # one element: its byte, shifted at run time
                (byte,) = load(L, u8, 1, addr=_plane_byte(L, op, row, col, lo, w), pred=pred)
                shift = b.cast(b.binary("and", b.mul(col, b.const(w, i64)), b.const(7, i64)),
                               u32)
                parts = [b.binary("and", b.binary("shr", b.cast(byte, u32), shift), m)]
            for j, part in enumerate(parts):
                part = b.binary("shl", part, b.const(lo, u32)) if lo else part
                codes[j] = part if codes[j] is None else b.binary("or", codes[j], part)
        out = [b.cast(c, u8) for c in codes]
        if other is not None and pred is not None:
            out = [b.where(pred, c, other) for c in out]
        slots += out
    L.bind(op.result, L.new_tile(t, slots))


def lower_packed_store(L: "_Lowering", op: Any) -> None:
    b = L.b
    tile = L.val(op.value)
    t: TileType = op.value.type
    dt = op.tensor.type.dtype
    v = max(1, min(op.vec, _run(tile.layout)))
    narrowest = dt.bits & -dt.bits
    if v * narrowest < 8:
        raise CompileError(
            f"a store to a packed {dt} tensor writes whole bytes, but this one's threads "
            f"would write {v} element(s) of {narrowest} bit(s) at a time",
            kernel=L.fn.name, loc=op.loc,
            hint=f"give each thread {8 // narrowest} consecutive elements: a tile of at least "
                 f"{8 // narrowest * L.threads} elements (or fewer warps), whose last "
                 f"dimension and last offset are multiples of {8 // narrowest}")
    mask = L.val(op.mask) if op.mask is not None else None
    for r in range(0, len(tile.slots), v):
        if tile.layout.never_valid(r):
            continue
        row, col, pred = _position(L, op, t, r, mask)
        for lo, w in lowbit.planes(dt):
            m = b.const((1 << w) - 1, u32)
            word = None
            for j in range(v):
                part = b.binary("and", b.binary("shr", b.cast(tile.slots[r + j], u32),
                                                b.const(lo, u32)), m)
                part = b.binary("shl", part, b.const(j * w, u32))
                word = part if word is None else b.binary("or", word, part)
            addr = _plane_byte(L, op, row, col, lo, w)
            nbytes = v * w // 8
            if _wide(op):
                b.emit0(th.StGlobalOp, addr=addr, values=(b.cast(word, _WORD[nbytes]),),
                        pred=pred)
                continue
            for k in range(nbytes):
                byte = b.cast(b.binary("shr", word, b.const(8 * k, u32)), u8)
                b.emit0(th.StGlobalOp, addr=b.add(addr, b.const(k, i64)), values=(byte,),
                        pred=pred)


def _run(layout: Any) -> int:
    from tilelang.passes.gpu.vectorize import slot_run
    return slot_run(layout)


__all__ = ["lower_packed_load", "lower_packed_store"]
