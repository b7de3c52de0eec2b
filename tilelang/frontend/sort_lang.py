"""``tl.sort(x, axis=-1, descending=False)``: a bitonic sorting network along the last axis.

The network has ``log2(n) * (log2(n) + 1) / 2`` compare-exchange steps for a
last axis of ``n`` (a power of two). In the step of distance ``j`` every
element meets its partner at index ``i ^ j``; the partner tile is made by
viewing the axis as ``(n / 2j, 2, j)`` and swapping the two halves of the
middle axis (each half taken out exactly by a ``max`` over that size-2 axis of
a ``where``: the other half is replaced by the dtype's lowest value). Each
element then keeps the smaller or the larger of the pair, by its position.

It is spelled with ops every tier already lowers (reshape, broadcast,
compare, where, max), so the interpreter, the emulators and the GPU code run
the same network and give the same bits. The order is numpy's with NaNs
largest: ascending puts NaNs last (as ``np.sort``); descending is the exact
reverse (NaNs first). Equal keys (``-0.0`` and ``0.0``) may come in either
order, as in any unstable sort, but every tier puts them in the same one.
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.ir import ops
from tilelang.ir.types import DType, TileType, i32


def _index(shape: tuple[int, ...], axis: int) -> TileHandle:
    n = shape[axis]
    op = current().emit(ops.ArangeOp, (TileType((n,), i32),), start=0, stop=n)
    line = sem.reshape(TileHandle(op.result), tuple(n if d == axis else 1
                                                    for d in range(len(shape))))
    return sem.broadcast_to(line, shape)


def _lowest(dtype: DType) -> Any:
    if dtype.is_float:
        return float("-inf")
    return -(1 << (dtype.bits - 1)) if dtype.is_signed else 0


def _partner(x: TileHandle, j: int) -> TileHandle:
    """``x`` with each element replaced by the one at index ``i ^ j`` of the last axis."""
    lead, n = x.shape[:-1], x.shape[-1]
    view = sem.reshape(x, lead + (n // (2 * j), 2, j))
    half = _index(view.shape, len(view.shape) - 2)
    lowest = sem.broadcast_to(sem.constant(_lowest(x.dtype), x.dtype), view.shape)

    def take(h: int) -> TileHandle:
        picked = sem.where(sem.binary("eq", half, sem.constant(h, i32)), view, lowest)
        return sem.broadcast_to(sem.reduce("max", picked, len(view.shape) - 2, True), view.shape)

    swapped = sem.where(sem.binary("eq", half, sem.constant(0, i32)), take(1), take(0))
    return sem.reshape(swapped, x.shape)


def _less(a: TileHandle, b: TileHandle) -> TileHandle:
    """``a < b`` with NaN the largest value."""
    lt = sem.binary("lt", a, b)
    if not a.dtype.is_float:
        return lt
    b_nan_a_not = sem.binary("and", sem.binary("ne", b, b), sem.binary("eq", a, a))
    return sem.binary("or", lt, b_nan_a_not)


def sort(x: Any, axis: Any = -1, descending: bool = False) -> TileHandle:
    if not isinstance(x, TileHandle) or x.is_scalar:
        raise CompileError(f"tl.sort needs a tile, got {x!r}")
    axis = sem.normalize_axis(axis, x.ndim, "tl.sort")
    if axis != x.ndim - 1:
        raise CompileError("tl.sort sorts along the last axis only",
                           hint="transpose (tl.trans) so the sorted axis comes last")
    if not isinstance(descending, bool):
        raise CompileError("tl.sort's descending must be a compile-time bool")
    n = x.shape[-1]
    if n & (n - 1):
        raise CompileError(f"tl.sort needs a power-of-two last axis, got {n}",
                           hint="load a power-of-two window; pad with other=float('inf')")
    if x.dtype.is_bool:
        raise CompileError("tl.sort of bool tiles is not supported", hint="convert with .to(tl.i32)")
    idx = _index(x.shape, x.ndim - 1)
    zero = sem.constant(0, i32)
    k = 2
    while k <= n:
        up = sem.binary("eq", sem.binary("and", idx, sem.constant(k, i32)), zero)
        if descending:
            up = sem.unary("not", up)
        j = k // 2
        while j >= 1:
            p = _partner(x, j)
            lower = sem.binary("eq", sem.binary("and", idx, sem.constant(j, i32)), zero)
            small = sem.where(_less(p, x), p, x)
            large = sem.where(_less(x, p), p, x)
            x = sem.where(sem.binary("eq", lower, up), small, large)
            j //= 2
        k *= 2
    return x
