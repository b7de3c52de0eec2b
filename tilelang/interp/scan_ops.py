"""The interpreter's ``tl.argreduce``, ``tl.scan`` and ``tl.associative_scan``
(``ir/scan_ops.py``).

``np.argmax``/``np.argmin`` already follow the op's rules (first index on ties,
the first NaN wins); ``np.add.accumulate``/``np.multiply.accumulate`` add one
element after the other, the order the GPU lowering uses too. 16-bit floats are
widened to f32 first and each output rounded once. An associative scan walks
the axis in the op's order, running the combine region once per step on whole
slices (its scalar ops work elementwise on arrays).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.interp.ops import compute, storage
from tilelang.ir.scan_ops import ArgReduceOp, AssociativeScanOp, ScanOp
from tilelang.ir.values import Block

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


def compile_associative_scan(op: AssociativeScanOp, slot: Callable[[Any], int],
                             compile_block: Callable[[Block], Callable[[list], Any]]
                             ) -> Callable[[list], None]:
    values = tuple(slot(v) for v in op.values)
    results = tuple(slot(r) for r in op.results)
    k, axis, rev = len(values), op.axis, op.reverse
    args = tuple(slot(a) for a in op.combine.args)
    left, right = args[:k], args[k:]
    combine = compile_block(op.combine)

    def run(env: list) -> None:
        xs = [np.moveaxis(env[v], axis, 0) for v in values]
        n = xs[0].shape[0]
        order = range(n - 1, -1, -1) if rev else range(n)
        outs = [np.empty_like(x) for x in xs]
        acc: list[Any] = []
        for step, i in enumerate(order):
            here = [x[i] for x in xs]
            if step == 0:
                acc = here
            else:   # forward: combine(acc, x[i]); reversed: combine(x[i], acc)
                for s, a in zip(left, here if rev else acc):
                    env[s] = a
                for s, b in zip(right, acc if rev else here):
                    env[s] = b
                acc = [np.asarray(a, dtype=out.dtype) for a, out in zip(combine(env), outs)]
            for out, a in zip(outs, acc):
                out[i] = a
        for r, out in zip(results, outs):
            env[r] = np.ascontiguousarray(np.moveaxis(out, 0, axis))
    return run


COMPILERS = {ArgReduceOp: compile_argreduce, ScanOp: compile_scan}

__all__ = ["COMPILERS", "compile_argreduce", "compile_associative_scan", "compile_scan"]
