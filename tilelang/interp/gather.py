"""Interpreter semantics of ``tl.gather`` and ``tl.scatter`` (index tiles).

An element is accessed where every index lies inside the tensor's shape and the
mask holds; a gather gives ``other`` (zero) elsewhere. A store with repeated
indices keeps one of the values (numpy's assignment: the last in row-major
order); an add applies every value in row-major order (``np.add.at``, in the
compute dtype and rounded to the storage dtype per add, as the emulator does).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.interp.ops import Closure, Env, Slot, compute, make_scalar, storage
from tilelang.ir.gather_ops import GatherOp, ScatterOp


def _where(x: np.ndarray, idx: list[np.ndarray], mask: np.ndarray | None) -> np.ndarray:
    ok = np.ones(idx[0].shape, bool)
    for i, n in zip(idx, x.shape):
        ok &= (i >= 0) & (i < n)
    return ok if mask is None else ok & mask


def _compile_gather(op: GatherOp, slot: Slot) -> Closure:
    t, ix = slot(op.tensor), [slot(i) for i in op.indices]
    r, shape, st = slot(op.result), op.result.type.shape, storage(op.result.type.dtype)
    m = slot(op.mask) if op.mask is not None else None
    oth = slot(op.other) if op.other is not None else None
    zero = make_scalar(0, op.result.type.dtype)

    def run(env: Env) -> None:
        x = env[t]
        idx = [np.asarray(env[i]).astype(np.int64) for i in ix]
        ok = _where(x, idx, env[m] if m is not None else None)
        out = np.full(shape, zero if oth is None else env[oth], st)
        out[ok] = x[tuple(i[ok] for i in idx)]
        env[r] = out
    return run


def _compile_scatter(op: ScatterOp, slot: Slot) -> Closure:
    t, ix, v = slot(op.tensor), [slot(i) for i in op.indices], slot(op.value)
    m = slot(op.mask) if op.mask is not None else None
    add, dt = op.kind == "add", op.value.type.dtype
    st, cd = storage(dt), compute(dt)

    def run(env: Env) -> None:
        x = env[t]
        idx = [np.asarray(env[i]).astype(np.int64) for i in ix]
        ok = _where(x, idx, env[m] if m is not None else None)
        where = tuple(i[ok] for i in idx)
        vals = np.asarray(env[v])[ok]
        if not add:
            x[where] = vals
        elif st == cd:
            np.add.at(x, where, vals)
        else:   # one rounding per add, in order
            for k in range(len(vals)):
                pos = tuple(w[k] for w in where)
                x[pos] = (x[pos].astype(cd) + vals[k].astype(cd)).astype(st)
    return run


COMPILERS: dict[type, Callable[[Any, Slot], Closure]] = {
    GatherOp: _compile_gather, ScatterOp: _compile_scatter,
}

__all__ = ["COMPILERS"]
