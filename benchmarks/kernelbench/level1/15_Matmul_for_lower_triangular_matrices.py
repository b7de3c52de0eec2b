"""KernelBench level 1, problem 15: lower triangular A and B; C = tril(A @ B), N = 4096.

Program (i, j) computes the (BM, BN) tile of C but walks only the K blocks where
both factors can be non-zero (a tile on the wrong side of the diagonal walks none
and stores zeros), then zeroes the other triangle before the store: about a third
of a dense GEMM's work. The product of two triangular matrices is triangular, so
the mask changes nothing but rounding-free zeros.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "15_Matmul_for_lower_triangular_matrices"
SIZES = dict(N=4096)
CPU_SIZES = dict(N=75)


@tl.kernel(num_warps=4)
def trimatmul(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 128,
              BN: tl.constexpr = 128, BK: tl.constexpr = 32, STAGES: tl.constexpr = 3):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    # A[i, k] = 0 for k > i and B[k, j] = 0 for k < j: only k in [n0, m0 + BM) adds
    k_lo = n0 // BK
    k_hi = tl.cdiv(tl.minimum(m0 + BM, K), BK)
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(k_lo, k_hi, stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    rows = (m0 + tl.arange(BM))[:, None]
    cols = (n0 + tl.arange(BN))[None, :]
    tl.store(C, (m0, n0), tl.where(cols <= rows, acc, 0.0))


def _tiles(N: int) -> dict:
    return dict(BM=128, BN=128, BK=32) if N >= 512 else dict(BM=32, BN=32, BK=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    n = sizes["N"]
    return [np.tril(rand(rng, n, n)), np.tril(rand(rng, n, n))]


def reference(inputs: list) -> np.ndarray:
    a, b = (x.astype(np.float64) for x in inputs)
    return np.tril(a @ b)


def run(inputs: list, target: str) -> object:
    a, b = inputs
    N = a.shape[0]
    c = empty(a, (N, N))
    t = _tiles(N)
    trimatmul[(tl.cdiv(N, t["BM"]), tl.cdiv(N, t["BN"]))](a, b, c, **t, target=target)
    return c


def torch_eager(inputs: list) -> object:
    import torch
    return torch.tril(torch.matmul(inputs[0], inputs[1]))


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["N"])


def compile_specs(sizes: dict) -> list:
    return [(trimatmul, "A=f32[2]:16,B=f32[2]:16,C=f32[2]:16", _tiles(sizes["N"]))]
