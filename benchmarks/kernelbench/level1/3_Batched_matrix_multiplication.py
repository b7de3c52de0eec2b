"""KernelBench level 1, problem 3: C[b] = A[b] @ B[b], A (128, 512, 1024), B (128, 1024, 2048).

The batch is the grid's third axis: program (i, j, b) computes the (BM, BN) tile of
C[b], loading (1, BM, BK) and (1, BK, BN) windows of the 3-D tensors and dropping
the unit axis with ``reshape``; edges load zeros and the store skips elements
outside C.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "3_Batched_matrix_multiplication"
SIZES = dict(batch_size=128, m=512, k=1024, n=2048)
CPU_SIZES = dict(batch_size=3, m=37, k=45, n=29)


@tl.kernel(num_warps=4)
def bmm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 128,
        BN: tl.constexpr = 128, BK: tl.constexpr = 32, STAGES: tl.constexpr = 3):
    K = A.shape[2]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    b = tl.program_id(2)
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a_t = tl.load(A, (b, m0, k * BK), (1, BM, BK)).reshape(BM, BK)
        b_t = tl.load(B, (b, k * BK, n0), (1, BK, BN)).reshape(BK, BN)
        acc = tl.dot(a_t, b_t, acc)
    tl.store(C, (b, m0, n0), acc.reshape(1, BM, BN))


def _tiles(M: int, N: int) -> dict:
    """128 x 128 x 32 tiles at real sizes; small ones for the CPU tiers."""
    return dict(BM=128, BN=128, BK=32) if min(M, N) >= 512 else dict(BM=32, BN=32, BK=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["m"], s["k"]), rand(rng, s["batch_size"], s["k"], s["n"])]


def reference(inputs: list) -> np.ndarray:
    a, b = inputs
    return np.matmul(a.astype(np.float64), b.astype(np.float64))


def run(inputs: list, target: str) -> object:
    a, b = inputs
    nb, M, _ = a.shape
    N = b.shape[2]
    c = empty(a, (nb, M, N))
    t = _tiles(M, N)
    bmm[(tl.cdiv(M, t["BM"]), tl.cdiv(N, t["BN"]), nb)](a, b, c, **t, target=target)
    return c


def torch_eager(inputs: list) -> object:
    import torch
    return torch.bmm(inputs[0], inputs[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["k"])


def compile_specs(sizes: dict) -> list:
    return [(bmm, "A=f32[3]:16,B=f32[3]:16,C=f32[3]:16", _tiles(sizes["m"], sizes["n"]))]
