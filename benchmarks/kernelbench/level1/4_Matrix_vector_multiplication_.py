"""KernelBench level 1, problem 4: y = A @ b, A (2048, 1048576), b (1048576, 1).

Program (i, s) multiplies BM rows of A by split s of b (KSPLIT consecutive
entries), BK at a time, keeping BM x BK partial products in registers; their row
sums go into y with ``tl.atomic_add`` (y starts at zero). The split keeps 2048 x
1M from being 16 long programs per SM.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "4_Matrix_vector_multiplication_"
SIZES = dict(M=2048, K=1048576)
CPU_SIZES = dict(M=37, K=1000)


@tl.kernel(num_warps=4)
def matvec(A: tl.Tensor, X: tl.Tensor, Y: tl.Tensor, KSPLIT: tl.constexpr,
           BM: tl.constexpr = 16, BK: tl.constexpr = 512):
    m0 = tl.program_id(0) * BM
    k0 = tl.program_id(1) * KSPLIT
    acc = tl.zeros((BM, BK), f32)
    for k in range(KSPLIT // BK):
        a = tl.load(A, (m0, k0 + k * BK), (BM, BK))
        x = tl.load(X, (k0 + k * BK, 0), (BK, 1)).reshape(BK)
        acc += a * x[None, :]
    tl.atomic_add(Y, (m0, 0), tl.sum(acc, 1, keepdims=True))


def _config(K: int) -> dict:
    if K >= 1 << 16:
        return dict(BM=16, BK=512, KSPLIT=32768)
    return dict(BM=8, BK=64, KSPLIT=256)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, sizes["M"], sizes["K"]), rand(rng, sizes["K"], 1)]


def reference(inputs: list) -> np.ndarray:
    a, b = inputs
    return a.astype(np.float64) @ b.astype(np.float64)


def run(inputs: list, target: str) -> object:
    a, x = inputs
    M, K = a.shape
    y = empty(a, (M, 1))
    cfg = _config(K)
    matvec[(tl.cdiv(M, cfg["BM"]), tl.cdiv(K, cfg["KSPLIT"]))](a, x, y, **cfg, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.matmul(inputs[0], inputs[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["K"])


def compile_specs(sizes: dict) -> list:
    return [(matvec, "A=f32[2]:16,X=f32[2]:16,Y=f32[2]:16", _config(sizes["K"]))]
