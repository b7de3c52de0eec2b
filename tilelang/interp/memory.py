"""Interpreter closures for memory and debug ops: global windows, shared buffers,
``tl.print`` and ``tl.device_assert`` (see ``interpreter`` for the semantics).

A window ``X[o0:o0+s0, ...]`` is clipped once per access to its in-bounds part
(a tuple of slices into the tensor and the matching slices into the tile), so
bounds are handled by numpy slicing, never by per-element checks.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.ir import ops as o
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tilelang.ir import tma_staging_ops as tma
from tilelang.interp.ops import (
    CTX, Closure, Env, Fault, Slot, compute, make_scalar, storage,
)

_MASK_HINT = ("make the mask false wherever the index is outside the tensor (e.g. "
              "`mask & (offs < X.shape[d])`), or drop the mask: without one, loads and "
              "stores skip out-of-bounds elements by themselves")


class SharedBuffer:
    """A program instance's shared-memory buffer and which of its elements were written."""

    __slots__ = ("name", "data", "written", "complete")

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.name = name
        self.data = np.zeros(shape, dtype)
        self.written = np.zeros(shape, np.bool_)
        # Fast path for shared_load: every writer so far writes the whole buffer.
        self.complete = False

    def __repr__(self) -> str:
        return f"shared {self.name} = {self.data!r}"

    def stage(self, name: str | None, index: int) -> "SharedBuffer":
        """The view ``self[index]`` (``tl.shared_slice``): data and written-mask alias this
        buffer's, so writes through either are seen by both."""
        view = SharedBuffer.__new__(SharedBuffer)
        view.name = f"{self.name}[{index}]" if name is None else name
        view.data, view.written = self.data[index], self.written[index]
        # Not known to be whole: shared_load checks the written-mask of the view.
        view.complete = False
        return view


Window = tuple[tuple[slice, ...], tuple[slice, ...], bool]


def clip_window(tshape: tuple[int, ...], offs: list[int], shape: tuple[int, ...]) -> Window | None:
    """The in-bounds part of ``X[offs : offs + shape]``, or ``None`` if it is empty.

    Returns ``(src, dst, full)``: slices into the tensor, the matching slices into
    the tile, and whether the whole window is in bounds.
    """
    src, dst, full = [], [], True
    for off, size, n in zip(offs, shape, tshape):
        end = off + size
        lo = off if off > 0 else 0
        hi = end if end < n else n
        if hi <= lo:
            return None
        if lo != off or hi != end:
            full = False
        src.append(slice(lo, hi))
        dst.append(slice(lo - off, hi - off))
    return tuple(src), tuple(dst), full


def _check_mask(mask: np.ndarray, win: Window | None, offs: list[int], x: np.ndarray,
                name: str, verb: str) -> None:
    """Fault if ``mask`` is true at an index outside the tensor."""
    if win is None:
        bad = mask
    else:
        bad = mask.copy()
        bad[win[1]] = False
    if bad.any():
        first = np.argwhere(bad)[0]
        index = ", ".join(str(int(i) + off) for i, off in zip(first, offs))
        raise Fault(f"{verb} {name}[{index}] outside its shape {tuple(x.shape)} "
                    f"where the mask is true", _MASK_HINT)


def _offsets(op: Any, slot: Slot) -> tuple[int, str, tuple[int, ...]]:
    return slot(op.tensor), op.tensor.name, tuple(slot(v) for v in op.offsets)


def _compile_load(op: o.LoadOp, slot: Slot) -> Closure:
    t, name, offs_s = _offsets(op, slot)
    r, shape = slot(op.result), op.result.type.shape
    st = storage(op.result.type.dtype)
    m = slot(op.mask) if op.mask is not None else None
    oth = slot(op.other) if op.other is not None else None
    zero = make_scalar(0, op.result.type.dtype)

    def run(env: Env) -> None:
        x = env[t]
        offs = [int(env[s]) for s in offs_s]
        win = clip_window(x.shape, offs, shape)
        if m is None and win is not None and win[2]:
            env[r] = x[win[0]].copy()  # a copy: later stores must not change the tile
            return
        other = zero if oth is None else env[oth]
        out = np.full(shape, other, st)
        if m is None:
            if win is not None:
                out[win[1]] = x[win[0]]
        else:
            mask = env[m]
            if win is None or not win[2]:
                _check_mask(mask, win, offs, x, name, "tl.load reads")
            if win is not None:
                np.copyto(out[win[1]], x[win[0]], where=mask[win[1]])
        env[r] = out
    return run


def _compile_write(op: o.StoreOp | o.AtomicAddOp, slot: Slot,
                   combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
                   verb: str) -> Closure:
    t, name, offs_s = _offsets(op, slot)
    v, shape = slot(op.value), op.value.type.shape
    m = slot(op.mask) if op.mask is not None else None

    def run(env: Env) -> None:
        x = env[t]
        offs = [int(env[s]) for s in offs_s]
        win = clip_window(x.shape, offs, shape)
        if m is not None and (win is None or not win[2]):
            _check_mask(env[m], win, offs, x, name, verb)
        if win is None:
            return
        src, dst, full = win
        value = env[v] if full else env[v][dst]
        region = x[src]
        if combine is not None:
            value = combine(region, value)
        if m is None:
            region[...] = value
        else:
            mask = env[m] if full else env[m][dst]
            np.copyto(region, value, where=mask)
    return run


def _compile_store(op: o.StoreOp, slot: Slot) -> Closure:
    return _compile_write(op, slot, None, "tl.store writes")


def _compile_atomic_add(op: o.AtomicAddOp, slot: Slot) -> Closure:
    dt = op.tensor.type.dtype
    st, cd = storage(dt), compute(dt)
    if st == cd:
        def add(region: np.ndarray, value: np.ndarray) -> np.ndarray:
            return region + value
    else:
        def add(region: np.ndarray, value: np.ndarray) -> np.ndarray:
            return (region.astype(cd) + value.astype(cd)).astype(st)
    return _compile_write(op, slot, add, "tl.atomic_add writes")


def _compile_alloc_shared(op: o.AllocSharedOp, slot: Slot) -> Closure:
    r, name = slot(op.result), op.result.name
    shape, st = op.result.type.shape, storage(op.result.type.dtype)

    def run(env: Env) -> None:
        env[r] = SharedBuffer(name, shape, st)
    return run


def _compile_copy(op: o.CopyOp, slot: Slot) -> Closure:
    t, _, offs_s = _offsets(op, slot)
    d, shape = slot(op.dst), op.dst.type.shape
    zero = make_scalar(0, op.tensor.type.dtype)

    def run(env: Env) -> None:
        x, buf = env[t], env[d]
        win = clip_window(x.shape, [int(env[s]) for s in offs_s], shape)
        if win is not None and win[2]:
            buf.data[...] = x[win[0]]
        else:
            buf.data[...] = zero
            if win is not None:
                buf.data[win[1]] = x[win[0]]
        buf.written[...] = True
        buf.complete = True
    return run


def _compile_shared_load(op: o.SharedLoadOp, slot: Slot) -> Closure:
    s, r = slot(op.src), slot(op.result)

    def run(env: Env) -> None:
        buf = env[s]
        if not buf.complete and not buf.written.all():
            first = ", ".join(str(int(i)) for i in np.argwhere(~buf.written)[0])
            raise Fault(
                f"tl.shared_load reads shared memory that was never written: "
                f"{buf.name}[{first}] (buffer shape {buf.data.shape})",
                "fill the buffer (tl.copy or a shared store) before reading it, on every "
                "path that reaches the read, including the first loop iteration")
        env[r] = buf.data.copy()  # a copy: later writes to the buffer must not change it
    return run


def _compile_shared_store(op: o.SharedStoreOp, slot: Slot) -> Closure:
    d, v = slot(op.dst), slot(op.value)

    def run(env: Env) -> None:
        buf = env[d]
        buf.data[...] = env[v]
        buf.written[...] = True
        buf.complete = True
    return run


def _compile_shared_slice(op: SharedSliceOp, slot: Slot) -> Closure:
    s, i, r, name = slot(op.src), slot(op.index), slot(op.result), op.result.name
    n = op.src.type.shape[0]

    def run(env: Env) -> None:
        index = int(env[i])
        if not 0 <= index < n:
            raise Fault(f"tl.shared_slice index {index} outside [0, {n}) of "
                        f"{op.src.name}", "a stage index is taken modulo the stage count")
        env[r] = env[s].stage(name, index)
    return run


def _compile_nothing(op: o.Op, slot: Slot) -> Closure:
    # tl.copy completes when issued here, so async commits and waits have nothing to do.
    def run(env: Env) -> None:
        pass
    return run


def _compile_barrier(op: o.BarrierOp, slot: Slot) -> Closure:
    # One program instance runs as a whole, so there is nothing to wait for.
    def run(env: Env) -> None:
        pass
    return run


def _printable(value: Any) -> Any:
    return value.data if isinstance(value, SharedBuffer) else value


def _compile_print(op: o.PrintOp, slot: Slot) -> Closure:
    prefix, vals = op.prefix, tuple(slot(v) for v in op.values)

    def run(env: Env) -> None:
        ctx = env[CTX]
        x, y, z = ctx.pid
        print(f"[{ctx.kernel} pid=({x}, {y}, {z})] {prefix}",
              *[_printable(env[s]) for s in vals])
    return run


def _compile_assert(op: o.AssertOp, slot: Slot) -> Closure:
    c, message = slot(op.cond), op.message or "device assertion failed"

    def run(env: Env) -> None:
        cond = env[c]
        if np.all(cond):
            return
        text = message
        if np.ndim(cond):
            first = ", ".join(str(int(i)) for i in np.argwhere(~np.asarray(cond))[0])
            text += f" (condition false at tile index [{first}])"
        raise Fault(text, "the asserted condition is false in this program instance; "
                          "check the inputs and the launch grid, or the condition itself")
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot], Closure]] = {
    o.LoadOp: _compile_load,
    o.StoreOp: _compile_store,
    o.AtomicAddOp: _compile_atomic_add,
    o.AllocSharedOp: _compile_alloc_shared,
    o.CopyOp: _compile_copy,
    o.SharedLoadOp: _compile_shared_load,
    o.SharedStoreOp: _compile_shared_store,
    o.BarrierOp: _compile_barrier,
    SharedSliceOp: _compile_shared_slice,
    AsyncCommitOp: _compile_nothing,
    AsyncWaitOp: _compile_nothing,
    # TMA copies complete at once here, like cp.async ones: the barriers have nothing to do
    tma.TmaCopyOp: _compile_copy,
    tma.MbarrierInitRingOp: _compile_nothing,
    tma.MbarrierExpectOp: _compile_nothing,
    tma.MbarrierWaitRingOp: _compile_nothing,
    tma.MbarrierArriveRingOp: _compile_nothing,
    tma.MbarrierInvalRingOp: _compile_nothing,
    o.PrintOp: _compile_print,
    o.AssertOp: _compile_assert,
}
"""The compiler of each memory and debug op class."""

__all__ = ["COMPILERS", "SharedBuffer", "clip_window"]
