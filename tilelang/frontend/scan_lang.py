"""``tl.argmax``, ``tl.argmin``, ``tl.cumsum`` and ``tl.cumprod`` (``ir/scan_ops.py``).

* ``tl.argmax(x, axis, keepdims=False)``: i32 indices along ``axis`` (numpy's
  ties and NaN rules: the first maximum, and a NaN is the maximum); ``tl.argmin``
  likewise. ``axis=None`` looks at the flattened tile, as numpy does.
* ``tl.cumsum(x, axis=0, reverse=False)``, ``tl.cumprod``: inclusive running
  sums (products) along ``axis``, from the last element when ``reverse``. Bool
  and integers narrower than 32 bits accumulate in i32 (as ``tl.sum``); other
  dtypes keep theirs.
"""

from __future__ import annotations

import math
from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.frontend.language import builtin
from tilelang.ir.scan_ops import ArgReduceOp, ScanOp
from tilelang.ir.types import ScalarType, TileType, i32


def _tile(x: Any, what: str) -> TileHandle:
    h = sem.to_handle(x)
    if h.is_scalar:
        raise CompileError(f"{what} needs a tile, got a scalar ({h.value.type})",
                           hint="a scalar has no axis to look along")
    return h


def _arg(fn: str, x: Any, axis: Any, keepdims: bool) -> TileHandle:
    h = _tile(x, f"tl.{fn}")
    if h.dtype.is_bool:
        h = sem.cast(h, i32)
    if axis is None:
        flat = sem.reshape(h, (math.prod(h.shape),))
        out = _arg(fn, flat, 0, False)
        return sem.reshape(out, (1,) * h.ndim) if keepdims else out
    axis = sem.normalize_axis(axis, h.ndim, f"tl.{fn}")
    shape = list(h.shape)
    if keepdims:
        shape[axis] = 1
    else:
        del shape[axis]
    t = TileType(tuple(shape), i32) if shape else ScalarType(i32)
    op = current().emit(ArgReduceOp, (t,), fn=fn, axis=axis, keepdims=bool(keepdims),
                        value=h.value)
    return TileHandle(op.result)


def _scan(fn: str, x: Any, axis: Any, reverse: Any) -> TileHandle:
    h = _tile(x, f"tl.cum{fn}")
    if not isinstance(reverse, bool):
        raise CompileError(f"tl.cum{fn}: reverse must be True or False, got {reverse!r}")
    if h.dtype.is_bool or (h.dtype.is_int and h.dtype.bits < 32):
        h = sem.cast(h, i32)
    axis = sem.normalize_axis(axis, h.ndim, f"tl.cum{fn}")
    op = current().emit(ScanOp, (TileType(h.shape, h.dtype),), fn=fn, axis=axis,
                        reverse=reverse, value=h.value)
    return TileHandle(op.result)


@builtin
def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:
    """The i32 index of the maximum along ``axis`` (first on ties; NaN is the maximum)."""
    return _arg("argmax", x, axis, keepdims)


@builtin
def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:
    """The i32 index of the minimum along ``axis`` (first on ties; NaN is the minimum)."""
    return _arg("argmin", x, axis, keepdims)


@builtin
def cumsum(x: Any, axis: Any = 0, reverse: bool = False) -> TileHandle:
    """Inclusive running sums along ``axis`` (from the end when ``reverse``)."""
    return _scan("sum", x, axis, reverse)


@builtin
def cumprod(x: Any, axis: Any = 0, reverse: bool = False) -> TileHandle:
    """Inclusive running products along ``axis`` (from the end when ``reverse``)."""
    return _scan("prod", x, axis, reverse)


__all__ = ["argmax", "argmin", "cumprod", "cumsum"]
