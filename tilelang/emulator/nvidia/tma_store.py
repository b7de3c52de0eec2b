"""The emulator's TMA stores (``th.tma_store``, ``th.bulk_commit``,
``th.bulk_wait_read`` of ``tilelang.ir.tma_ops``), exactly.

``th.tma_store`` reads its box from shared memory when issued, as a read by the
issuing thread (bounds, alignment, initialization, TMA or cp.async copies still in
flight, and races with writes since the last barrier are checked as for any
read), un-swizzling it with the absolute-address pattern of ``th.tma_load``, and
writes it to the tensor at once, skipping elements outside the tensor. The
hardware may read the source until the issuing thread's ``th.bulk_wait_read``;
the lowering waits right after issuing, and insert-barriers treats the store as a
read, so a later write of the source is separated from it by a barrier that the
issuing thread reaches only after its wait; without that barrier the write is a
reported race with the store's read. ``th.bulk_commit`` and ``th.bulk_wait_read``
have nothing left to do here.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.ir import ops as o
from tilelang.ir import tma_ops as tma
from tilelang.emulator.core import STATE, Closure, Env, Fault, Prep, Slot, lanes
from tilelang.emulator.nvidia.tma import _active, box_positions, compile_nothing
from tilelang.interp.ops import storage


def write_box(array: np.ndarray, coords: list[int], data: np.ndarray) -> None:
    """Write ``data`` (a box) into ``array`` at ``coords``, skipping what lies outside."""
    src, dst = [], []
    for c, b, d in zip(coords, data.shape, array.shape):
        lo, hi = max(c, 0), min(c + b, d)
        if lo >= hi:
            return
        dst.append(slice(lo, hi))
        src.append(slice(lo - c, hi - c))
    array[tuple(dst)] = data[tuple(src)]


def _compile_tma_store(op: tma.TmaStoreOp, slot: Slot, prep: Prep) -> Closure:
    n, box, mode = prep.num_threads, tuple(op.box), op.swizzle
    s = slot(op.src)
    cs = tuple(slot(c) for c in op.coords)
    p = slot(op.pred) if op.pred is not None else None
    position = prep.param_index[op.tensor.name]
    op_id = prep.op_id(op)
    nbytes = op.bytes
    dt = storage(op.tensor.type.dtype)
    rel = np.arange(nbytes, dtype=np.int64)

    def run(env: Env) -> None:
        state = env[STATE]
        sm = state.shared
        threads = _active(env, p, n)
        if not threads.size:
            return
        tensor = state.tensors[position]
        if tensor is None:
            raise Fault(f"th.tma_store writes tensor argument {op.tensor.name}, which was "
                        f"not passed as an array", "pass a numpy array for it")
        srcs = lanes(env[s], n)[threads].astype(np.int64)
        coords = [lanes(env[c], n)[threads].astype(np.int64) for c in cs]
        for k, t in enumerate(threads):
            one = np.array([int(t)])
            sm.positions(one, srcs[k:k + 1], nbytes, 128, "th.tma_store source")
            idx, gidx = box_positions(sm, int(srcs[k]), rel, mode)
            raw = sm.read(one, idx, gidx, op_id)
            data = np.ascontiguousarray(raw).view(dt).reshape(box)
            write_box(tensor.array, [int(c[k]) for c in coords], data)
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    tma.TmaStoreOp: _compile_tma_store,
    # the stores read their sources when issued here: no group is ever left reading
    tma.BulkCommitOp: compile_nothing,
    tma.BulkWaitReadOp: compile_nothing,
}

__all__ = ["COMPILERS", "write_box"]
