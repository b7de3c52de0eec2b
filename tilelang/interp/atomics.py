"""Interpreter semantics of ``tl.atomic_rmw`` (``tl.atomic_max`` ... ``tl.atomic_cas``).

A program instance runs alone, so one op's read-modify-write of its window is
the numpy expression ``combine(kind, old, value, cmp)`` on the in-bounds,
unmasked elements; the result holds their old values and zero elsewhere.
Bounds and mask as ``tl.store`` (a true mask outside the tensor is a fault).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.interp.memory import _check_mask, _offsets, clip_window
from tilelang.interp.ops import Closure, Env, Slot, storage
from tilelang.ir.atomic_ops import AtomicRMWOp


def combine(kind: str, old: np.ndarray, value: np.ndarray,
            cmp: np.ndarray | None = None) -> np.ndarray:
    """The new element values of an atomic ``kind`` (elementwise, numpy dtypes kept)."""
    if kind == "max":
        return np.maximum(old, value)
    if kind == "min":
        return np.minimum(old, value)
    if kind == "and":
        return old & value
    if kind == "or":
        return old | value
    if kind == "xor":
        return old ^ value
    if kind == "xchg":
        return np.array(value, copy=True)
    if kind == "cas":
        assert cmp is not None  # AtomicRMWOp.verify: cas has cmp
        # compare bits, as the hardware does (no float kinds reach cas)
        return np.where(old == cmp, value, old)
    raise ValueError(f"unknown atomic kind {kind!r}")  # verify() rejects it first


def _compile_atomic_rmw(op: AtomicRMWOp, slot: Slot) -> Closure:
    t, name, offs_s = _offsets(op, slot)
    v, c, r = slot(op.value), (slot(op.cmp) if op.cmp is not None else None), slot(op.result)
    m = slot(op.mask) if op.mask is not None else None
    shape, st, kind = op.value.type.shape, storage(op.value.type.dtype), op.kind
    verb = f"tl.atomic_{kind} writes"

    def run(env: Env) -> None:
        x = env[t]
        offs = [int(env[s]) for s in offs_s]
        win = clip_window(x.shape, offs, shape)
        if m is not None and (win is None or not win[2]):
            _check_mask(env[m], win, offs, x, name, verb)
        out = np.zeros(shape, st)
        if win is not None:
            src, dst, _ = win
            region = x[src]
            old = region.copy()
            new = combine(kind, old, env[v][dst], env[c][dst] if c is not None else None)
            if m is None:
                region[...] = new
                out[dst] = old
            else:
                mask = env[m][dst]
                np.copyto(region, new, where=mask)
                np.copyto(out[dst], old, where=mask)
        env[r] = out
    return run


COMPILERS: dict[type, Callable[[Any, Slot], Closure]] = {AtomicRMWOp: _compile_atomic_rmw}

__all__ = ["COMPILERS", "combine"]
