"""The interpreter's ``tl.gather`` and ``tl.scatter`` (``ir/gather_ops.py``).

An element whose indices fall outside the tensor's shape, or whose mask is
false, reads ``other`` and writes nothing. A plain scatter of two elements to
one position keeps numpy's (the later element's) value, which the op leaves
unspecified; a scatter-add adds every element (``np.add.at``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.interp.ops import make_scalar, storage
from tilelang.ir.gather_ops import GatherOp, ScatterOp

Env = list
Slot = Callable[[Any], int]


def _selected(env: Env, x: np.ndarray, idx_s: tuple[int, ...],
              m: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """The indices (int64) and which elements are inside the tensor and unmasked."""
    idx = [np.asarray(env[s]).astype(np.int64) for s in idx_s]
    sel = np.ones(idx[0].shape, bool)
    for i, dim in zip(idx, x.shape):
        sel &= (i >= 0) & (i < dim)
    if m is not None:
        sel &= env[m]
    return idx, sel


def compile_gather(op: GatherOp, slot: Slot) -> Callable[[Env], None]:
    t, r = slot(op.tensor), slot(op.result)
    idx_s = tuple(slot(i) for i in op.indices)
    m = slot(op.mask) if op.mask is not None else None
    oth = slot(op.other) if op.other is not None else None
    shape, st = op.result.type.shape, storage(op.result.type.dtype)
    zero = make_scalar(0, op.result.type.dtype)

    def run(env: Env) -> None:
        x = env[t]
        idx, sel = _selected(env, x, idx_s, m)
        out = np.full(shape, zero if oth is None else env[oth], st)
        if sel.any():
            out[sel] = x[tuple(i[sel] for i in idx)]
        env[r] = out
    return run


def compile_scatter(op: ScatterOp, slot: Slot) -> Callable[[Env], None]:
    t, v = slot(op.tensor), slot(op.value)
    idx_s = tuple(slot(i) for i in op.indices)
    m = slot(op.mask) if op.mask is not None else None
    add = op.reduce == "add"

    def run(env: Env) -> None:
        x = env[t]
        idx, sel = _selected(env, x, idx_s, m)
        if not sel.any():
            return
        where, values = tuple(i[sel] for i in idx), np.asarray(env[v])[sel]
        if add:
            np.add.at(x, where, values)
        else:
            x[where] = values
    return run


COMPILERS = {GatherOp: compile_gather, ScatterOp: compile_scatter}

__all__ = ["COMPILERS", "compile_gather", "compile_scatter"]
