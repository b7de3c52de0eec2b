"""KernelBench level 1, problem 47: sum over dim 1, keepdim of x (128, 4096, 4095).

Program (b, j) reduces the columns j*BN.. of x[b] over dim 1, walking it BK rows
at a time: a (BK, BN) accumulator takes each window elementwise and is reduced
over its rows at the end. Rows and columns past the edge load 0.0, which
changes nothing.

Tolerance: a sum of dim1 terms: ``reduction_tolerance(dim1)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "47_Sum_reduction_over_a_dimension"
SIZES = dict(batch_size=128, dim1=4096, dim2=4095)
CPU_SIZES = dict(batch_size=3, dim1=37, dim2=45)


@tl.kernel
def sum_dim1(X: tl.Tensor, Y: tl.Tensor, BK: tl.constexpr = 32, BN: tl.constexpr = 128):
    b = tl.program_id(0)
    n0 = tl.program_id(1) * BN
    D1 = X.shape[1]
    acc = tl.zeros((BK, BN), f32)
    for k in range(tl.cdiv(D1, BK)):
        x = tl.load(X, (b, k * BK, n0), (1, BK, BN), other=0.0).reshape(BK, BN)
        acc += x
    r = tl.sum(acc, 0)
    tl.store(Y, (b, 0, n0), r.reshape(1, 1, BN))


def _tiles(d1: int) -> dict:
    """(BK, BN) = 32 x 128 windows at real sizes, 8 x 16 on the CPU tiers."""
    return dict(BK=32, BN=128) if d1 >= 1024 else dict(BK=8, BN=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["dim1"], s["dim2"])]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x.sum(axis=1, keepdims=True)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    b, d1, d2 = x.shape
    y = empty(x, (b, 1, d2))
    t = _tiles(d1)
    sum_dim1[(b, tl.cdiv(d2, t["BN"]))](x, y, **t, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.sum(inputs[0], dim=1, keepdim=True)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim1"])


def compile_specs(sizes: dict) -> list:
    return [(sum_dim1, "X=f32[3]:16,Y=f32[3]:16", _tiles(sizes["dim1"]))]
