"""KernelBench level 1, problem 92: exclusive cumulative sum, y[j] = sum_{k < j} x[k], along dim 1 of a (32768, 32768) f32 matrix.

Program i scans BR rows, BK columns at a time. Inside a window the prefix sums
are one small matrix product, x @ U with U[k, j] = (k < j) built from
``tl.arange`` (a 0/1 matrix, so f32 products are exact and only the sums round);
a per-row carry adds the totals of the windows already done.
KernelBench builds it as zeros then cumsum(x[:, :-1]); the strict triangle
gives the same values directly.

Tolerance: sums of up to dim terms: ``reduction_tolerance(dim)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "92_cumsum_exclusive"
SIZES = dict(batch_size=32768, dim=32768)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def cumsum_exclusive(X: tl.Tensor, Y: tl.Tensor, BR: tl.constexpr = 16, BK: tl.constexpr = 64):
    r0 = tl.program_id(0) * BR
    N = X.shape[1]
    k_idx = tl.arange(BK)
    tri = (k_idx[:, None] < k_idx[None, :]).to(f32)
    carry = tl.zeros((BR, 1), f32)
    for kk in range(tl.cdiv(N, BK)):
        k0 = kk * BK
        x = tl.load(X, (r0, k0), (BR, BK))
        tl.store(Y, (r0, k0), tl.dot(x, tri) + carry)
        carry += tl.sum(x, 1, keepdims=True)


def _tiles(n: int) -> dict:
    """BR rows per program, BK columns per step: 16 x 64 at real sizes."""
    return dict(BR=16, BK=64) if n >= 1 << 12 else dict(BR=4, BK=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["dim"])
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x[:, :-1], axis=1)], axis=1)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    t = _tiles(x.shape[1])
    cumsum_exclusive[(tl.cdiv(x.shape[0], t["BR"]),)](*inputs, y, **t, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x = inputs[0]
    c = torch.cumsum(x.narrow(1, 0, x.size(1) - 1), dim=1)
    return torch.cat((torch.zeros_like(x[:, :1]), c), dim=1)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim"])


def compile_specs(sizes: dict) -> list:
    return [(cumsum_exclusive, "X=f32[2]:16,Y=f32[2]:16", _tiles(sizes["dim"]))]
