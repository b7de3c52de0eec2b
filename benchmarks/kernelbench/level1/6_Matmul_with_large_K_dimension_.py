"""KernelBench level 1, problem 6: C = A @ B with a large K, (256, 524288) x (524288, 256).

A 256 x 256 output has only 4 tiles of 128 x 128, too few programs for a GPU, so
K is split: program (i, j, s) computes the product of split s (KSPLIT consecutive
K columns, a multiple of BK) for the (BM, BN) tile and adds it into C with
``tl.atomic_add`` (C starts at zero).

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
The splits are added in an unspecified order, which the sqrt(K) term covers.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "6_Matmul_with_large_K_dimension_"
SIZES = dict(M=256, N=256, K=524288)
CPU_SIZES = dict(M=37, N=29, K=300)


@tl.kernel(num_warps=4)
def matmul_splitk(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, KSPLIT: tl.constexpr,
                  BM: tl.constexpr = 128, BN: tl.constexpr = 128, BK: tl.constexpr = 32,
                  STAGES: tl.constexpr = 3):
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    k0 = tl.program_id(2) * KSPLIT
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(KSPLIT // BK, stages=STAGES):
        a = tl.load(A, (m0, k0 + k * BK), (BM, BK))
        b = tl.load(B, (k0 + k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.atomic_add(C, (m0, n0), acc)


def _config(M: int, N: int, K: int) -> dict:
    """Tiles and the K columns per split: 8192 at real sizes (64 splits x 4 tiles)."""
    if K >= 1 << 16:
        return dict(BM=128, BN=128, BK=32, KSPLIT=8192)
    return dict(BM=32, BN=32, BK=16, KSPLIT=64)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, sizes["M"], sizes["K"]), rand(rng, sizes["K"], sizes["N"])]


def reference(inputs: list) -> np.ndarray:
    a, b = inputs
    return a.astype(np.float64) @ b.astype(np.float64)


def run(inputs: list, target: str) -> object:
    a, b = inputs
    M, K = a.shape
    N = b.shape[1]
    c = empty(a, (M, N))
    cfg = _config(M, N, K)
    grid = (tl.cdiv(M, cfg["BM"]), tl.cdiv(N, cfg["BN"]), tl.cdiv(K, cfg["KSPLIT"]))
    matmul_splitk[grid](a, b, c, **cfg, target=target)
    return c


def torch_eager(inputs: list) -> object:
    import torch
    return torch.matmul(inputs[0], inputs[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["K"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(matmul_splitk, "A=f32[2]:16,B=f32[2]:16,C=f32[2]:16", _config(s["M"], s["N"], s["K"]))]
