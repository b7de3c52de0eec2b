"""KernelBench level 1, problem 18: C = A^T @ B^T, A (8192, 2048), B (4096, 8192).

A is stored (K, M) and B (N, K); each program loads the stored window and transposes it in registers
(``tl.trans``), so no transposed copy is ever made. Program (i, j) computes the
(BM, BN) tile of C; edges load zeros and the store skips elements outside C.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "18_Matmul_with_transposed_both"
SIZES = dict(M=2048, K=8192, N=4096)
CPU_SIZES = dict(M=45, K=70, N=39)


@tl.kernel(num_warps=4)
def matmul(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 128,
           BN: tl.constexpr = 128, BK: tl.constexpr = 32, STAGES: tl.constexpr = 3):
    K = A.shape[0]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.trans(tl.load(A, (k * BK, m0), (BK, BM)))
        b = tl.trans(tl.load(B, (n0, k * BK), (BN, BK)))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc)


def _tiles(M: int, N: int) -> dict:
    """128 x 128 x 32 tiles at real sizes; small ones for the CPU tiers."""
    return dict(BM=128, BN=128, BK=32) if min(M, N) >= 512 else dict(BM=32, BN=32, BK=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, *(sizes["K"], sizes["M"])), rand(rng, *(sizes["N"], sizes["K"]))]


def reference(inputs: list) -> np.ndarray:
    a, b = (x.astype(np.float64) for x in inputs)
    return a.T @ b.T


def run(inputs: list, target: str) -> object:
    a, b = inputs
    M = a.shape[1] if 1 else a.shape[0]
    N = b.shape[0] if 1 else b.shape[1]
    c = empty(a, (M, N))
    t = _tiles(M, N)
    matmul[(tl.cdiv(M, t["BM"]), tl.cdiv(N, t["BN"]))](a, b, c, **t, target=target)
    return c


def torch_eager(inputs: list) -> object:
    import torch
    a, b = inputs
    return torch.matmul(a.T, b.T)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["K"])


def compile_specs(sizes: dict) -> list:
    return [(matmul, "A=f32[2]:16,B=f32[2]:16,C=f32[2]:16", _tiles(sizes["M"], sizes["N"]))]
