"""KernelBench level 1, problem 11: C[b,i,j,k] = sum_l A[b,i,j,l] B[l,k], A (8, 256, 512, 256), B (256, 768).

Program (i, j) computes the (BM, BN) tile of C at rows i*BM.., columns j*BN.. by
walking K in steps of BK in a pipelined loop; windows past the edge load zeros,
which add nothing, and the store skips elements outside C.
The einsum contracts A's last axis, so it is the 2-D product of A's (b*i*j, l)
view with B, written through the (b*i*j, k) view of the output.

Tolerance: the inputs are f32 values in [0, 1), the products accumulate in f32 and the
reference is float64: ``reduction_tolerance(K)`` (1e-5 plus 4 ulps per sqrt(K))
relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "11_4D_tensor_matrix_multiplication"
SIZES = dict(b=8, i=256, j=512, l=256, k=768)
CPU_SIZES = dict(b=2, i=5, j=7, l=19, k=23)


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
    s = sizes
    return [rand(rng, s["b"], s["i"], s["j"], s["l"]), rand(rng, s["l"], s["k"])]


def reference(inputs: list) -> np.ndarray:
    a, b = inputs
    return np.einsum("bijl,lk->bijk", a.astype(np.float64), b.astype(np.float64))


def run(inputs: list, target: str) -> object:
    a, b = inputs
    bb, i, j, l = a.shape
    c = matmul_2d(a.reshape(bb * i * j, l), b, target)
    return c.reshape(bb, i, j, b.shape[1])


def torch_eager(inputs: list) -> object:
    import torch
    return torch.einsum("bijl,lk->bijk", inputs[0], inputs[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["l"])


def compile_specs(sizes: dict) -> list:
    return [(matmul, "A=f32[2]:16,B=f32[2]:16,C=f32[2]:16", _tiles(sizes["b"] * sizes["i"] * sizes["j"], sizes["k"], sizes["l"]))]
