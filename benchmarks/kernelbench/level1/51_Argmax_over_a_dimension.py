"""KernelBench level 1, problem 51: argmax over dim 1 of x (128, 4096, 4095), int64 indices.

Program (b, j) walks x[b]'s columns j*BN.. BK rows at a time, keeping per column the
best value so far and its row. In each window the best value is found with
``tl.max``, its first row with a ``tl.min`` over the rows where the value equals it;
a window replaces the running best only when strictly better, so ties keep the
first index, as torch does. Rows past the edge load float("-inf") and never win.

Tolerance: indices must be exact: 0.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand
from tilelang import f32

NAME = "51_Argmax_over_a_dimension"
SIZES = dict(batch_size=128, dim1=4096, dim2=4095)
CPU_SIZES = dict(batch_size=3, dim1=37, dim2=45)


@tl.kernel
def argmax_dim1(X: tl.Tensor, Y: tl.Tensor, BK: tl.constexpr = 32, BN: tl.constexpr = 128):
    b = tl.program_id(0)
    n0 = tl.program_id(1) * BN
    D1 = X.shape[1]
    best = tl.full((BN,), float("-inf"), f32)
    best_row = tl.zeros((BN,), tl.i32)
    for k in range(tl.cdiv(D1, BK)):
        x = tl.load(X, (b, k * BK, n0), (1, BK, BN), other=float("-inf")).reshape(BK, BN)
        m = tl.max(x, 0)
        rows = k * BK + tl.arange(BK)[:, None]
        first = tl.min(tl.where(x == m[None, :], rows, D1), 0)
        better = m > best
        best_row = tl.where(better, first, best_row)
        best = tl.where(better, m, best)
    tl.store(Y, (b, n0), best_row.reshape(1, BN))


def _tiles(d1: int) -> dict:
    """(BK, BN) = 32 x 128 windows at real sizes, 8 x 16 on the CPU tiers."""
    return dict(BK=32, BN=128) if d1 >= 1024 else dict(BK=8, BN=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["dim1"], s["dim2"])]


def reference(inputs: list) -> np.ndarray:
    return np.argmax(inputs[0], axis=1).astype(np.float64)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    b, d1, d2 = x.shape
    y = empty(x, (b, d2), np.int64)
    t = _tiles(d1)
    argmax_dim1[(b, tl.cdiv(d2, t["BN"]))](x, y, **t, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.argmax(inputs[0], dim=1)


def tolerance(sizes: dict) -> float:
    return 0.0


def compile_specs(sizes: dict) -> list:
    return [(argmax_dim1, "X=f32[3]:16,Y=i64[2]:16", _tiles(sizes["dim1"]))]
