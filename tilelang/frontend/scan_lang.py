"""``tl.argmax``, ``tl.argmin``, ``tl.cumsum``, ``tl.cumprod`` and
``tl.associative_scan`` (``ir/scan_ops.py``).

* ``tl.argmax(x, axis, keepdims=False)``: i32 indices along ``axis`` (numpy's
  ties and NaN rules: the first maximum, and a NaN is the maximum); ``tl.argmin``
  likewise. ``axis=None`` looks at the flattened tile, as numpy does.
* ``tl.cumsum(x, axis=0, reverse=False)``, ``tl.cumprod``: inclusive running
  sums (products) along ``axis``, from the last element when ``reverse``. Bool
  and integers narrower than 32 bits accumulate in i32 (as ``tl.sum``); other
  dtypes keep theirs.
* ``tl.associative_scan(x, axis, combine_fn, reverse=False)``: the inclusive
  scan with a ``@tl.func`` ``combine_fn(a, b) -> c`` on scalars; ``x`` may be a
  tuple of tiles of one shape, then ``combine_fn(a1, .., ak, b1, .., bk)``
  returns a k-tuple and so does the scan. The function is traced once into the
  op's region on scalars of the tiles' dtypes; it must be straight-line and
  free of memory accesses (``tl.where`` instead of ``if``).
"""

from __future__ import annotations

import math
from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import TileHandle
from tilelang.frontend.language import builtin
from tilelang.ir import ops
from tilelang.ir.scan_ops import ArgReduceOp, AssociativeScanOp, ScanOp
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


@builtin
def associative_scan(values: Any, axis: Any, combine_fn: Any, reverse: bool = False, *,
                     _inline: Any = None) -> Any:
    """The inclusive scan of ``values`` along ``axis`` with the ``@tl.func``
    ``combine_fn`` (see the module docstring)."""
    what = "tl.associative_scan"
    single = not isinstance(values, (tuple, list))
    hs = [_tile(v, what) for v in ([values] if single else values)]
    if not hs:
        raise CompileError(f"{what} needs at least one tile")
    if any(h.shape != hs[0].shape for h in hs):
        raise CompileError(f"{what}: the tiles must have one shape, got "
                           f"{', '.join(str(h.shape) for h in hs)}")
    if not getattr(type(combine_fn), "__tl_func__", False) or _inline is None:
        raise CompileError(f"{what}: combine_fn must be a @tl.func, got "
                           f"{sem._describe(combine_fn)}",
                           hint="decorate the combine function with @tl.func")
    if not isinstance(reverse, bool):
        raise CompileError(f"{what}: reverse must be True or False, got {reverse!r}")
    axis = sem.normalize_axis(axis, hs[0].ndim, what)
    ctx = current()
    b = ctx.builder
    scalars = [ScalarType(h.dtype) for h in hs]
    b.push()
    try:
        args = tuple(b.fresh(t) for t in scalars * 2)
        out = _inline(combine_fn, [TileHandle(a) for a in args])
        outs = list(out) if isinstance(out, tuple) else [out]
        if len(outs) != len(hs):
            raise CompileError(f"{what}: combine_fn '{combine_fn.name}' must return "
                               f"{len(hs)} value{'s' if len(hs) > 1 else ''} (one per "
                               f"tile), got {len(outs)}")
        yields = []
        for o_, t in zip(outs, scalars):
            h = sem.to_handle(o_, t.dtype)
            if not h.is_scalar:
                raise CompileError(f"{what}: combine_fn '{combine_fn.name}' must return "
                                   f"scalars, got a tile of shape {h.shape}")
            yields.append(sem.cast(h, t.dtype).value)
        b.emit(ops.YieldOp(values=tuple(yields), loc=ctx.loc))
    except BaseException:
        b.pop_ops()
        raise
    block = b.pop(args)
    for op in block.ops[:-1]:
        if op.regions() or not op.has_trait(ops.Trait.PURE):
            raise CompileError(
                f"{what}: combine_fn '{combine_fn.name}' must be straight-line code without "
                f"memory accesses, but it has {op.NAME}"
                + (f" at line {op.loc.line}" if op.loc is not None else ""),
                hint="write branches with tl.where, and load what the combine needs "
                     "before the scan")
    op = ctx.emit(AssociativeScanOp, tuple(TileType(h.shape, h.dtype) for h in hs),
                  axis=axis, reverse=reverse, values=tuple(h.value for h in hs), combine=block)
    results = tuple(TileHandle(r) for r in op.results)
    return results[0] if single else results


associative_scan.__tl_inlines__ = True   # type: ignore[attr-defined]  (ast_to_ir.call)

__all__ = ["argmax", "argmin", "associative_scan", "cumprod", "cumsum"]
