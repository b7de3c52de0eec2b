"""The typing rules of loads, stores and atomic adds at per-element indices
(``ir/gather_ops.py``); the builtins are in ``language.py``.

``tl.gather(X, indices, mask=None, other=None)`` reads ``X[i0, i1, ...]`` for
every element of the index tiles, numpy's advanced indexing: ``indices`` is one
index per axis of ``X`` (a tile or a scalar; all broadcast to one shape, the
result's) or, for a 1-D ``X``, a single tile. ``tl.scatter(X, indices, value,
mask=None)`` writes, ``tl.scatter_add`` adds atomically. Out-of-bounds indices
read ``other`` (zero when absent) and write nothing, like window loads and
stores. ``tl.load``, ``tl.store`` and ``tl.atomic_add`` take the same form when
their offsets contain a tile and no window shape is given.
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TensorHandle, TileHandle
from tilelang.ir.gather_ops import GatherOp, ScatterOp
from tilelang.ir.types import TileType, i32


def is_index_form(offsets: Any) -> bool:
    """Whether ``offsets`` name elements (contain a tile), not a window's corner."""
    items = offsets if isinstance(offsets, (tuple, list)) else (offsets,)
    return any(isinstance(o, TileHandle) and not o.is_scalar for o in items)


def _indices(x: TensorHandle, indices: Any, what: str,
             shape: tuple[int, ...] | None = None) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    items = tuple(indices) if isinstance(indices, (tuple, list)) else (indices,)
    if len(items) != x.ndim:
        raise CompileError(
            f"{what} of {x.ndim}-D tensor '{x.name}' needs {x.ndim} index tiles, got "
            f"{len(items)}", hint=f"give one index (tile or scalar) per dimension of '{x.name}'")
    handles = []
    for i in items:
        h = sem.to_handle(i, i32)
        if not h.dtype.is_int:
            raise CompileError(f"{what}: indices must be integers, got {h.value.type}",
                               hint="convert with .to(tl.i32)")
        handles.append(h)
    out = shape or ()
    for h in handles:
        out = sem.broadcast_shapes(out, h.shape)
    if not out:
        raise CompileError(f"{what} needs at least one index tile",
                           hint="use tl.load/tl.store with a window for scalar offsets")
    return tuple(sem.broadcast_to(h, out).value for h in handles), out


def gather(x: Any, indices: Any, mask: Any = None, other: Any = None) -> TileHandle:
    """``X[indices]`` elementwise (out of bounds or masked: ``other``, else 0)."""
    x = sem._tensor(x, "tl.gather")
    idx, shape = _indices(x, indices, "tl.gather")
    other_v = None
    if other is not None and not (not sem.is_runtime(other) and other == 0):
        oh = sem.to_handle(other, x.dtype)
        if not oh.is_scalar:
            raise CompileError("tl.gather's other= must be a scalar")
        other_v = sem.cast(oh, x.dtype).value
    op = current().emit(GatherOp, (TileType(shape, x.dtype),), tensor=x.value, indices=idx,
                        mask=sem._mask(mask, shape), other=other_v)
    return TileHandle(op.result)


def scatter(x: Any, indices: Any, value: Any, mask: Any, reduce: str, what: str) -> None:
    x = sem._tensor(x, what)
    v = sem.to_handle(value, x.dtype)
    idx, shape = _indices(x, indices, what, v.shape)
    v = sem.cast(sem.broadcast_to(v, shape), x.dtype)
    if reduce and v.dtype.is_bool:
        raise CompileError(f"{what} of bool values", hint="add integers (x.to(tl.i32))")
    current().emit(ScatterOp, reduce=reduce, tensor=x.value, indices=idx, value=v.value,
                   mask=sem._mask(mask, shape))


__all__ = ["gather", "is_index_form", "scatter"]
