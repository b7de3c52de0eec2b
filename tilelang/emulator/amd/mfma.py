"""``th.mfma`` in the emulator: the CDNA wavefront-collective ``D = A @ B + C``.

Threads ``64*w .. 64*w + 63`` form wavefront ``w`` (the function's ``warp_size``
must be 64). Each op works on all wavefronts at once: the per-lane fragments
are gathered into each wavefront's A (``M x K``), B (``K x N``) and C (``M x N``)
through the fragment layouts of ``tilelang.ir.fragment_layouts`` (``mfma_*_a/b/c``, the
ISA's register order), ``D = A @ B + C`` is computed in f32 (f16 and bf16
inputs are exact in f32) and scattered back in C's order.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.fragment_layouts import MFMA_FRAGMENTS
from tilelang.emulator.core import Closure, Env, Prep, Slot
from tilelang.interp.ops import storage

WAVE = 64


def fragment_positions(shape: str, operand: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Row-major matrix position of element ``i`` of lane ``l``, as an int array
    ``(64, elements)``, and the matrix shape, for ``operand`` of the ``shape`` MFMA."""
    lay = MFMA_FRAGMENTS[shape][operand]()
    t = lay.table()
    return t[..., 0] * lay.shape[1] + t[..., 1], lay.shape


def _gather_index(pos: np.ndarray, waves: int) -> np.ndarray:
    """``index`` with ``frags.ravel()[index]`` each wavefront's matrix, row-major
    (``(waves, numel)``), for fragments ``frags`` of shape ``(elements, threads)``:
    element ``i`` of lane ``l`` of wavefront ``w`` is ``frags[i, 64*w + l]``."""
    lanes, elems = pos.shape
    src = np.empty(pos.size, np.int64)
    lane, i = np.indices(pos.shape)
    src[pos.ravel()] = (i * waves * WAVE + lane).ravel()
    return src[None, :] + (np.arange(waves) * WAVE)[:, None]


def _compile_mfma(op: th.MfmaOp, slot: Slot, prep: Prep) -> Closure:
    if prep.warp != WAVE:
        raise IRError(f"th.mfma is a 64-lane wavefront op, but {prep.name} runs "
                      f"{prep.warp}-lane warps", loc=op.loc,
                      hint="only the AMD lowering (warp_size 64) emits th.mfma")
    a_s = tuple(slot(v) for v in op.a)
    b_s = tuple(slot(v) for v in op.b)
    c_s = tuple(slot(v) for v in op.c)
    rs = tuple(slot(r) for r in op.results)
    n, W = prep.num_threads, prep.warps
    (a_pos, a_shape), (b_pos, b_shape), (c_pos, c_shape) = (
        fragment_positions(op.shape, x) for x in "abc")
    a_idx, b_idx, c_idx = (_gather_index(p, W) for p in (a_pos, b_pos, c_pos))
    d_pick = c_pos.T                                     # (elements, 64)
    ab_dt = storage(op.a[0].type.dtype)
    f32 = np.float32
    nc = len(c_s)

    def gather(env: Env, slots: tuple[int, ...], index: np.ndarray, shape: tuple[int, int],
               dt: Any) -> np.ndarray:
        frags = np.empty((len(slots), n), dt)
        for i, s in enumerate(slots):
            frags[i] = env[s]
        return frags.ravel()[index].reshape((W,) + shape).astype(f32)

    def run(env: Env) -> None:
        A = gather(env, a_s, a_idx, a_shape, ab_dt)
        B = gather(env, b_s, b_idx, b_shape, ab_dt)
        C = gather(env, c_s, c_idx, c_shape, f32)
        D = (np.matmul(A, B) + C).reshape(W, -1)
        d = D[:, d_pick].transpose(1, 0, 2).reshape(nc, n)
        for i, r in enumerate(rs):
            env[r] = d[i]
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    th.MfmaOp: _compile_mfma,
}
