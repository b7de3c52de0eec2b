"""Semantics of indirect memory: ``tl.load``/``tl.store``/``tl.atomic_add`` at index tiles.

The Triton-like spelling: where a window access takes offsets, an indirect one
takes index tiles, ``tl.load(X, idx, mask=, other=)`` for a 1-D ``X`` or
``tl.load(X, (rows, cols))`` with one index tile (or scalar) per axis; the tiles
broadcast together (numpy rules) to the shape of the access. ``tl.store(X, idx, v)``
and ``tl.atomic_add(X, idx, v)`` broadcast ``v`` to it as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TensorHandle, TileHandle
from tilelang.ir.gather_ops import GatherOp, ScatterOp
from tilelang.ir.types import TileType


def is_index(offsets: Any) -> bool:
    """Whether ``offsets`` names elements by index tiles rather than a window start."""
    parts = offsets if isinstance(offsets, (tuple, list)) else (offsets,)
    return any(isinstance(p, TileHandle) and p.ndim > 0 for p in parts)


def _indices(x: TensorHandle, offsets: Any, what: str,
             extra: tuple[int, ...] = ()) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    parts = list(offsets) if isinstance(offsets, (tuple, list)) else [offsets]
    if len(parts) != x.ndim:
        raise CompileError(
            f"{what} of {x.ndim}-D tensor '{x.name}' needs {x.ndim} index tiles, got {len(parts)}",
            hint="give one integer tile (or scalar) per dimension, e.g. tl.load(X, (rows, cols))")
    hs = []
    for p in parts:
        h = sem.to_handle(p, None) if sem.is_runtime(p) else sem.to_handle(int(p))
        if not h.dtype.is_int:
            raise CompileError(f"{what} index tiles must be integers, got {h.value.type}",
                               hint="convert with .to(tl.i32) or .to(tl.i64)")
        hs.append(h)
    try:
        shape = tuple(np.broadcast_shapes(*(h.shape for h in hs), extra))
    except ValueError:
        raise CompileError(f"{what} index tiles of shapes {[h.shape for h in hs]} "
                           f"{'and value ' + str(extra) + ' ' if extra else ''}"
                           f"do not broadcast together") from None
    return tuple(sem.broadcast_to(h, shape).value for h in hs), shape


def gather(x: Any, offsets: Any, shape: Any, other: Any, mask: Any) -> TileHandle:
    x = sem._tensor(x, "tl.load")
    if shape is not None:
        raise CompileError("tl.load at index tiles takes no shape (the indices give it)",
                           hint="tl.load(X, idx, mask=..., other=...)")
    idx, shp = _indices(x, offsets, "tl.load")
    other_v = None
    if other is not None and not (not sem.is_runtime(other) and other == 0):
        oh = sem.to_handle(other, x.dtype)
        if not oh.is_scalar:
            raise CompileError("tl.load's other= must be a scalar")
        other_v = sem.cast(oh, x.dtype).value
    op = current().emit(GatherOp, (TileType(shp, x.dtype),), tensor=x.value, indices=idx,
                        mask=sem._mask(mask, shp), other=other_v)
    return TileHandle(op.result)


def scatter(kind: str, x: Any, offsets: Any, tile: Any, mask: Any) -> None:
    what = "tl.store" if kind == "store" else "tl.atomic_add"
    x = sem._tensor(x, what)
    t = sem.cast(sem.to_handle(tile, x.dtype), x.dtype)
    idx, shp = _indices(x, offsets, what, t.shape)
    if kind == "add" and x.dtype.is_bool:
        raise CompileError(f"tl.atomic_add into bool tensor '{x.name}'",
                           hint="add integers (x.to(tl.i32)) instead")
    current().emit(ScatterOp, kind=kind, tensor=x.value, indices=idx,
                   value=sem.broadcast_to(t, shp).value, mask=sem._mask(mask, shp))


__all__ = ["gather", "is_index", "scatter"]
