"""The interpreter's ``tl.argreduce`` and ``tl.scan`` (``ir/scan_ops.py``).

``np.argmax``/``np.argmin`` already follow the op's rules (first index on ties,
the first NaN wins); ``np.add.accumulate``/``np.multiply.accumulate`` add one
element after the other, the order the GPU lowering uses too. 16-bit floats are
widened to f32 first and each output rounded once.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.interp.ops import compute, storage
from tilelang.ir.scan_ops import ArgReduceOp, ScanOp

_ARG = {"argmax": np.argmax, "argmin": np.argmin}
_ACCUMULATE = {"sum": np.add.accumulate, "prod": np.multiply.accumulate}


def compile_argreduce(op: ArgReduceOp, slot: Callable[[Any], int]) -> Callable[[list], None]:
    v, r = slot(op.value), slot(op.result)
    axis, keep, f = op.axis, op.keepdims, _ARG[op.fn]
    cd = compute(op.value.type.dtype)

    def run(env: list) -> None:
        x = env[v]
        if x.dtype != cd:
            x = x.astype(cd)
        env[r] = np.asarray(f(x, axis=axis, keepdims=keep), dtype=np.int32)
    return run


def compile_scan(op: ScanOp, slot: Callable[[Any], int]) -> Callable[[list], None]:
    v, r = slot(op.value), slot(op.result)
    axis, rev, f = op.axis, op.reverse, _ACCUMULATE[op.fn]
    dt = op.value.type.dtype
    st, cd = storage(dt), compute(dt)

    def run(env: list) -> None:
        x = env[v]
        if x.dtype != cd:
            x = x.astype(cd)
        if rev:
            x = np.flip(x, axis)
        with np.errstate(over="ignore", invalid="ignore"):
            y = f(x, axis=axis, dtype=cd)
        if rev:
            y = np.flip(y, axis)
        env[r] = np.ascontiguousarray(y.astype(st) if y.dtype != st else y)
    return run


COMPILERS = {ArgReduceOp: compile_argreduce, ScanOp: compile_scan}

__all__ = ["COMPILERS", "compile_argreduce", "compile_scan"]
