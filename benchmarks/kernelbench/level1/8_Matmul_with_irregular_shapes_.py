"""KernelBench level 1, problem 8: C = A @ B, (8205, 2949) x (2949, 5921).

Program (i, j) computes the (BM, BN) tile of C at rows i*BM.., columns j*BN.. by
walking K in steps of BK in a pipelined loop; windows past the edge load zeros,
which add nothing, and the store skips elements outside C.
None of M, N, K is a multiple of the tiles; the bounds-safe windows handle all three edges.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "8_Matmul_with_irregular_shapes_"
SIZES = dict(M=8205, K=2949, N=5921)
CPU_SIZES = dict(M=53, K=41, N=29)


@tl.kernel(num_warps=4)
def matmul(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 128,
           BN: tl.constexpr = 128, BK: tl.constexpr = 32, STAGES: tl.constexpr = 3):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc)


def _tiles(M: int, N: int, K: int) -> dict:
    """128 x 128 x 32 tiles at real sizes; small ones for the CPU tiers."""
    if min(M, N) >= 512:
        return dict(BM=128, BN=128, BK=32)
    return dict(BM=32, BN=32, BK=16)


def matmul_2d(a, b, target: str):
    """C = A @ B for 2-D A (M, K) and B (K, N), one program per (BM, BN) tile of C."""
    M, K = a.shape
    N = b.shape[1]
    c = empty(a, (M, N))
    t = _tiles(M, N, K)
    matmul[(tl.cdiv(M, t["BM"]), tl.cdiv(N, t["BN"]))](a, b, c, **t, target=target)
    return c


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, sizes["M"], sizes["K"]), rand(rng, sizes["K"], sizes["N"])]


def reference(inputs: list) -> np.ndarray:
    a, b = inputs
    return a.astype(np.float64) @ b.astype(np.float64)


def run(inputs: list, target: str) -> object:
    return matmul_2d(inputs[0], inputs[1], target)


def torch_eager(inputs: list) -> object:
    import torch
    return torch.matmul(inputs[0], inputs[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["K"])


def compile_specs(sizes: dict) -> list:
    return [(matmul, "A=f32[2]:16,B=f32[2]:16,C=f32[2]:16", _tiles(sizes["M"], sizes["N"], sizes["K"]))]
