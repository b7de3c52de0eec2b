"""Emulation of ``th.atomic_rmw_global``: exact serialized read-modify-writes.

The active threads' atomics apply one at a time in thread order, so when
several threads hit one element each sees (and returns) the value left by the
lower threads before it: the threads are ranked per element and applied rank by
rank (each rank touches distinct elements and is one numpy step). A thread whose
predicate is false returns zero. The combine rules are the interpreter's
(``interp.atomics.combine``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.emulator.core import STATE, Closure, Env, Fault, Prep, Slot, lanes
from tilelang.emulator.global_memory import _active, _check_writeable, locate
from tilelang.interp.atomics import combine
from tilelang.interp.ops import storage
from tilelang.ir.atomic_ops import AtomicRMWGlobalOp


def _ranks(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable thread order grouped by element, and each thread's rank at its element."""
    order = np.argsort(q, kind="stable")
    qs = q[order]
    first = np.ones(len(qs), bool)
    first[1:] = qs[1:] != qs[:-1]
    idx = np.arange(len(qs))
    return order, idx - np.maximum.accumulate(np.where(first, idx, 0))


def _compile_atomic_rmw(op: AtomicRMWGlobalOp, slot: Slot, prep: Prep) -> Closure:
    a, v, r, n = slot(op.addr), slot(op.value), slot(op.result), prep.num_threads
    c = slot(op.cmp) if op.cmp is not None else None
    p = slot(op.pred) if op.pred is not None else None
    dtype, kind, what = op.value.type.dtype, op.kind, "th.atomic_rmw_global"
    dt = storage(dtype)
    every = np.arange(n)

    def run(env: Env) -> None:
        out = np.zeros(n, dt)
        act = _active(env, p, n)
        if act is not None and act.size == 0:
            env[r] = out
            return
        threads = every if act is None else act
        addr = lanes(env[a], n).astype(np.int64, copy=False)
        vals = lanes(env[v], n).astype(dt, copy=False)
        cmps = lanes(env[c], n).astype(dt, copy=False) if c is not None else None
        if act is not None:
            addr, vals = addr[act], vals[act]
            cmps = cmps[act] if cmps is not None else None
        for t, rows, q in locate(env[STATE], addr, threads, 1, dt.itemsize, what):
            if t.flat.dtype != dt:
                raise Fault(f"{what} ({kind}) on {dtype} values at tensor '{t.name}' of "
                            f"{t.flat.dtype}", "an atomic must use the tensor's dtype")
            _check_writeable(t, what)
            pos, vs, tids = q[:, 0], vals[rows], threads[rows]
            cs = cmps[rows] if cmps is not None else None
            order, rank = _ranks(pos)
            for k in range(int(rank.max()) + 1 if len(rank) else 0):
                sel = order[rank == k]
                old = t.flat[pos[sel]].copy()
                t.flat[pos[sel]] = combine(kind, old, vs[sel], cs[sel] if cs is not None else None)
                out[tids[sel]] = old
        env[r] = out
    return run


COMPILERS: dict[type, Callable[[Any, Slot, Prep], Closure]] = {
    AtomicRMWGlobalOp: _compile_atomic_rmw,
}

__all__ = ["COMPILERS"]
