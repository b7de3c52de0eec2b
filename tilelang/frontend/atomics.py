"""Semantics of the atomics that return old values (``tl.atomic_max`` ... ``tl.atomic_cas``).

``tl.atomic_<kind>(X, offsets, tile, mask=None)`` acts on the window of ``X`` at
``offsets`` of ``tile``'s shape (bounds and mask as ``tl.store``) and returns a
tile of the elements' old values (zero for elements not touched). The tile is
converted to ``X``'s dtype, as ``tl.store`` converts.
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.ir.atomic_ops import AtomicRMWOp, atomic_dtype_error
from tilelang.ir.types import TileType


def atomic_rmw(kind: str, x: Any, offsets: Any, tile: Any, mask: Any = None,
               cmp: Any = None) -> TileHandle:
    """Emit ``tl.atomic_<kind>`` and return the tile of old values."""
    what = f"tl.atomic_{kind}"
    x = sem._tensor(x, what)
    why = atomic_dtype_error(kind, x.dtype)
    if why:
        raise CompileError(f"{why} (tensor '{x.name}' is {x.dtype})",
                           hint="use an i32/u32/i64/u64 tensor" + (
                               " or f32/f64" if kind == "xchg" else ""))
    offs = sem._offsets(x, offsets, what)
    t = sem._stored_tile(x, tile, what)
    cmp_v = None
    if kind == "cas":
        c = sem._stored_tile(x, cmp, what)
        try:
            c = sem.broadcast_to(c, t.shape)
        except CompileError as e:
            raise CompileError(f"{what}'s cmp of shape {c.shape} does not fit the value's "
                               f"{t.shape}: {e.message}") from None
        cmp_v = c.value
    op = current().emit(AtomicRMWOp, (TileType(t.shape, x.dtype),), kind=kind, tensor=x.value,
                        offsets=offs, value=t.value, cmp=cmp_v, mask=sem._mask(mask, t.shape))
    return TileHandle(op.result)
