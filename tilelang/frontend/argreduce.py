"""``tl.argmax`` / ``tl.argmin``: the index of the extreme value along an axis, by numpy's rules.

The result is the *first* index of the maximum (minimum); where the reduced
line holds a NaN it is the first NaN's index. It is spelled with ops every
tier already lowers, so the interpreter, the emulators and the PTX/HIP code
agree by construction:

    m    = tl.max(x, axis, keepdims=True)            # NaN-propagating
    hit  = (x == m) | (isnan(x) & isnan(m))           # isnan(v) is v != v
    idx  = tl.min(tl.where(hit, index along axis, n), axis)

A NaN in the line makes ``m`` NaN, so only NaNs hit; otherwise exactly the
positions equal to the extreme hit (``-0.0 == 0.0``, as numpy's comparison).
The index is i32; with ``axis=None`` the tile is flattened first (row-major).
"""

from __future__ import annotations

import math
from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.ir import ops
from tilelang.ir.types import TileType, i32


def _index_along(shape: tuple[int, ...], axis: int) -> TileHandle:
    """An i32 tile of ``shape`` holding each element's coordinate along ``axis``."""
    n = shape[axis]
    op = current().emit(ops.ArangeOp, (TileType((n,), i32),), start=0, stop=n)
    line = sem.reshape(TileHandle(op.result),
                       tuple(n if d == axis else 1 for d in range(len(shape))))
    return sem.broadcast_to(line, shape)


def arg_reduce(fn: str, x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:
    """``fn`` is ``"argmax"`` or ``"argmin"``."""
    what = f"tl.{fn}"
    if not isinstance(x, TileHandle) or x.is_scalar:
        raise CompileError(f"{what} needs a tile, got {x!r}",
                           hint="compute it on a tile loaded with tl.load")
    if axis is None:
        out = arg_reduce(fn, sem.reshape(x, (math.prod(x.shape),)), 0, False)
        return sem.reshape(out, (1,) * x.ndim) if keepdims else out
    axis = sem.normalize_axis(axis, x.ndim, what)
    if x.dtype.is_bool:
        x = sem.cast(x, i32)
    m = sem.reduce("max" if fn == "argmax" else "min", x, axis, True)
    m = sem.broadcast_to(m, x.shape)
    hit = sem.binary("eq", x, m)
    if x.dtype.is_float:
        both_nan = sem.binary("and", sem.binary("ne", x, x), sem.binary("ne", m, m))
        hit = sem.binary("or", hit, both_nan)
    idx = sem.where(hit, _index_along(x.shape, axis), sem.constant(x.shape[axis], i32))
    return sem.reduce("min", idx, axis, keepdims)
