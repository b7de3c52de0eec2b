"""Warp-collective ops of the emulator: ``th.ldmatrix``, ``th.mma``, ``th.shfl``.

Threads ``32*w .. 32*w + 31`` form warp ``w``; lane ``l`` of a warp is thread
``32*w + l``. Each op works on all warps at once with arrays of shape
``(warps, 32, ...)``. The fragment layouts are the PTX ISA's (checked against
"Matrix Fragments for mma.m16n8k16 with floating point type" and "Warp-level
matrix load instruction: ldmatrix"), with ``g = l // 4`` and ``t = l % 4``:

* ``ldmatrix``: lane ``8*j + r`` gives the byte offset of row ``r`` (8 16-bit
  elements, 16-byte aligned) of matrix ``j``; lane ``l`` receives results
  ``[2j] = M_j[g][2t]`` and ``[2j+1] = M_j[g][2t+1]`` (``.trans``: ``M_j[2t][g]`` and
  ``M_j[2t+1][g]``). With ``num`` 1 or 2 only lanes ``0..8*num-1`` give addresses.
* ``mma m16n8k16``: ``a_i = A[g + 8*((i//2) % 2)][2t + i%2 + 8*(i//4)]``,
  ``b_i = B[2t + i%2 + 8*(i//2)][g]``, ``c_i = C[g + 8*(i//2)][2t + i%2]``, same for
  D; ``D = A @ B + C`` computed in f32 (inputs are exact in f32) and rounded to
  C's dtype.
* ``shfl``: the value of lane ``l ^ b`` (bfly), ``b`` (idx), ``l + b`` (down; own
  value past the last lane), ``l - b`` (up; own value before lane 0), ``b`` being
  the per-lane ``lane`` operand, which must be in ``[0, warp)``. ``warp`` is the
  function's warp size: 32, or 64 on AMD, where a shuffle spans the wavefront.

``ldmatrix`` and ``mma`` are NVIDIA warp ops: in a function with 64-lane warps
they are a lowering bug, reported as such.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.emulator.core import (
    STATE, WARP, Closure, Env, Fault, Prep, Slot, lane_list, lanes,
)
from tilelang.interp.ops import storage

_L = np.arange(WARP)
_G, _T = _L // 4, _L % 4

# (row, col) of fragment element i of every lane, for m16n8k16.
A_ROWS = [_G + 8 * ((i // 2) % 2) for i in range(8)]
A_COLS = [2 * _T + (i % 2) + 8 * (i // 4) for i in range(8)]
B_ROWS = [2 * _T + (i % 2) + 8 * (i // 2) for i in range(4)]
B_COLS = [_G for _ in range(4)]
C_ROWS = [_G + 8 * (i // 2) for i in range(4)]
C_COLS = [2 * _T + (i % 2) for i in range(4)]


def _nvidia_only(op: o.Op, prep: Prep) -> None:
    if prep.warp != WARP:
        raise IRError(f"{op.NAME} is a 32-lane NVIDIA warp op, but {prep.name} runs "
                      f"{prep.warp}-lane wavefronts", loc=op.loc,
                      hint="the AMD lowering must not emit it (a lowering bug)")


def _compile_ldmatrix(op: th.LdMatrixOp, slot: Slot, prep: Prep) -> Closure:
    _nvidia_only(op, prep)
    a, n, num, trans = slot(op.addr), prep.num_threads, op.num, op.trans
    rs = tuple(slot(r) for r in op.results)
    dt = storage(op.dtype)
    W = prep.warps
    # threads giving row addresses: lanes 0 .. 8*num-1 of every warp
    threads = (np.arange(W)[:, None] * WARP + np.arange(8 * num)).ravel()
    op_id = prep.op_id(op)
    # result k of lane l is element pick[k, l] of the warp's num*64 loaded elements
    pick = np.array([j * 64 + (row * 8 + col) for j in range(num) for k in (0, 1)
                     for row, col in [((2 * _T + k), _G) if trans else (_G, 2 * _T + k)]])

    def run(env: Env) -> None:
        sm = env[STATE].shared
        addr = lanes(env[a], n)[threads]
        idx, gidx = sm.positions(threads, addr, 16, 16, "th.ldmatrix row")
        m = sm.read(threads, idx, gidx, op_id).view(dt).reshape(W, num * 64)
        out = m[:, pick].transpose(1, 0, 2).reshape(2 * num, n)
        for j, r in enumerate(rs):
            env[r] = out[j]
    return run


def _fragment_index(rows: list, cols: list, ncols: int, warps: int) -> np.ndarray:
    """``index`` such that ``frags.ravel()[index]`` is each warp's matrix, row-major
    (shape ``(warps, nrows * ncols)``), for fragments ``frags`` of shape
    ``(elements, threads)``: element ``i`` of lane ``l`` of warp ``w`` is
    ``frags[i, 32*w + l]``."""
    flat = np.stack([r * ncols + c for r, c in zip(rows, cols)])   # (elements, 32)
    elems = flat.size
    src = np.empty(elems, np.int64)                  # matrix position -> (i, lane)
    i, lane = np.indices(flat.shape)
    src[flat.ravel()] = (i * warps * WARP + lane).ravel()
    return src[None, :] + (np.arange(warps) * WARP)[:, None]


def _compile_mma(op: th.MmaOp, slot: Slot, prep: Prep) -> Closure:
    _nvidia_only(op, prep)
    if op.shape != "m16n8k16":
        raise IRError(f"the emulator has no th.mma of shape {op.shape!r}", loc=op.loc)
    a_s = tuple(slot(v) for v in op.a)
    b_s = tuple(slot(v) for v in op.b)
    c_s = tuple(slot(v) for v in op.c)
    rs = tuple(slot(r) for r in op.results)
    n, W = prep.num_threads, prep.warps
    out_dt = storage(op.c[0].type.dtype)
    f32 = np.float32
    a_perm = _fragment_index(A_ROWS, A_COLS, 16, W)
    b_perm = _fragment_index(B_ROWS, B_COLS, 8, W)
    c_perm = _fragment_index(C_ROWS, C_COLS, 8, W)
    d_pick = np.stack([r * 8 + c for r, c in zip(C_ROWS, C_COLS)])   # (4, 32)

    ab_dt = storage(op.a[0].type.dtype)

    def gather(env: Env, slots: tuple[int, ...], perm: np.ndarray, shape: tuple[int, int],
               dt: np.dtype) -> np.ndarray:
        frags = np.empty((len(slots), n), dt)
        for i, s in enumerate(slots):
            frags[i] = env[s]
        return frags.ravel()[perm].reshape((W,) + shape).astype(f32)   # exact in f32

    def run(env: Env) -> None:
        A = gather(env, a_s, a_perm, (16, 16), ab_dt)
        B = gather(env, b_s, b_perm, (16, 8), ab_dt)
        C = gather(env, c_s, c_perm, (16, 8), out_dt)
        D = (np.matmul(A, B) + C).reshape(W, 128)
        d = D[:, d_pick].transpose(1, 0, 2).reshape(4, n)
        if out_dt != f32:
            d = d.astype(out_dt)
        for i, r in enumerate(rs):
            env[r] = d[i]
    return run


def _compile_shfl(op: th.ShflOp, slot: Slot, prep: Prep) -> Closure:
    v, b, r, mode = slot(op.value), slot(op.lane), slot(op.result), op.mode
    n, W, WARP = prep.num_threads, prep.warps, prep.warp
    base = (np.arange(W) * WARP)[:, None]
    lanes_ = np.arange(WARP)
    cache: dict[int, np.ndarray] = {}

    def source(lane: Any) -> np.ndarray:
        """Thread index each thread reads, shape (n,), for lane operands ``lane``."""
        if mode == "bfly":
            j = lanes_ ^ lane
        elif mode == "idx":
            j = lane
        elif mode == "down":
            j = lanes_ + lane
            j = np.where(j >= WARP, lanes_, j)
        else:
            j = lanes_ - lane
            j = np.where(j < 0, lanes_, j)
        return (base + j).reshape(n)

    def run(env: Env) -> None:
        lane = np.asarray(env[b])
        if lane.ndim == 0:
            key = int(lane)
            src = cache.get(key)
            if src is None and 0 <= key < WARP:
                src = cache[key] = source(key)
        else:
            src = None if ((lane < 0) | (lane >= WARP)).any() else \
                source(lane.reshape(W, WARP).astype(np.int64))
        if src is None:
            bad = np.broadcast_to((lane < 0) | (lane >= WARP), (n,))
            tids = np.flatnonzero(bad)
            got = int(np.broadcast_to(lane, (n,))[tids[0]])
            raise Fault(f"th.shfl {mode} lane operand {got} outside [0, {WARP}) in "
                        f"{lane_list(tids)}",
                        f"the lane operand of a shuffle is a lane index or offset in "
                        f"0..{WARP - 1}")
        value = env[v]
        if np.ndim(value) == 0:
            env[r] = value               # every lane holds the same value
        else:
            env[r] = value[src]
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    th.LdMatrixOp: _compile_ldmatrix,
    th.MmaOp: _compile_mma,
    th.ShflOp: _compile_shfl,
}
