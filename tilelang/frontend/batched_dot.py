"""``tl.dot`` on 3-D tiles: ``[B, M, K] @ [B, K, N] (+ acc [B, M, N])``, as B 2-D dots.

Each batch's operands are taken out of the 3-D tiles by an exact selection
(``tl.max`` along the batch axis of ``where(batch == b, x, lowest)``: every
other batch is replaced by the dtype's lowest value, so the maximum is the
selected element itself, NaNs, infinities and signed zeros included), then
multiplied by the ordinary 2-D ``tl.dot``, which keeps its tensor-core
lowering on every target; the B results are put back with ``where``. So a
batched dot has exactly the semantics of B independent 2-D dots (docs/semantics.md).
The selection costs B passes over each operand: meant for the small batches of
a tile (heads, groups), not for large B.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.ir import ops
from tilelang.ir.types import DType, TileType, i32


def _batch_index(shape: tuple[int, ...]) -> TileHandle:
    op = current().emit(ops.ArangeOp, (TileType((shape[0],), i32),), start=0, stop=shape[0])
    return sem.broadcast_to(sem.reshape(TileHandle(op.result), (shape[0], 1, 1)), shape)


def _lowest(dtype: DType) -> Any:
    if dtype.is_float:
        return float("-inf")
    if dtype.is_bool:
        return False
    return -(1 << (dtype.bits - 1)) if dtype.is_signed else 0


def _select(x: TileHandle, b: int) -> TileHandle:
    """``x[b]`` of a 3-D tile, exactly."""
    keep = sem.binary("eq", _batch_index(x.shape), sem.constant(b, i32))
    lowest = sem.broadcast_to(sem.constant(_lowest(x.dtype), x.dtype), x.shape)
    return sem.reduce("max", sem.where(keep, x, lowest), 0, False)


def batched_dot(a: TileHandle, b: TileHandle, acc: Any, out_dtype: Any,
                dot2d: Callable[..., TileHandle]) -> TileHandle:
    if a.ndim != 3 or b.ndim != 3:
        raise CompileError(f"a batched tl.dot needs two 3-D tiles, got {a.value.type} and "
                           f"{b.value.type}", hint="give both operands the batch dimension first")
    if a.shape[0] != b.shape[0]:
        raise CompileError(f"tl.dot batch sizes differ: {a.value.type} @ {b.value.type}",
                           hint="both operands need the same first (batch) dimension")
    if a.dtype.is_bool:
        raise CompileError("tl.dot of bool tiles is not supported", hint="convert with .to(tl.i32)")
    nb = a.shape[0]
    shape = (nb, a.shape[1], b.shape[2])
    if acc is not None:
        acc = sem.to_handle(acc)
        if acc.shape != shape:
            raise CompileError(f"tl.dot accumulator is {acc.value.type} but "
                               f"{a.value.type} @ {b.value.type} has shape {shape}")
    outs = []
    for i in range(nb):
        acc_i = _select(acc, i) if acc is not None else None
        outs.append(dot2d(_select(a, i), _select(b, i), acc_i, out_dtype))
    out = sem.broadcast_to(sem.reshape(outs[0], (1,) + outs[0].shape), shape)
    bidx = _batch_index(shape)
    for i in range(1, nb):
        piece = sem.broadcast_to(sem.reshape(outs[i], (1,) + outs[i].shape), shape)
        out = sem.where(sem.binary("eq", bidx, sem.constant(i, i32)), piece, out)
    return out
