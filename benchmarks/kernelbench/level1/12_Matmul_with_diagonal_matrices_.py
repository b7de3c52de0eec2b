"""KernelBench level 1, problem 12: C = diag(a) @ B, a (4096,), B (4096, 4096).

diag(a) @ B scales row i of B by a[i]; no GEMM is needed. Program (i, j) loads
BM entries of a and the (BM, BN) tile of B and stores their broadcast product.

Tolerance: one f32 multiply per element, rounded once: 1e-6 relative to max |C|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "12_Matmul_with_diagonal_matrices_"
SIZES = dict(N=4096, M=4096)
CPU_SIZES = dict(N=45, M=70)


@tl.kernel
def diag_matmul(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 32,
                BN: tl.constexpr = 128):
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    a = tl.load(A, (m0,), (BM,))
    b = tl.load(B, (m0, n0), (BM, BN))
    tl.store(C, (m0, n0), a[:, None] * b)


def _tiles(M: int) -> dict:
    return dict(BM=32, BN=128) if M >= 512 else dict(BM=16, BN=32)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, sizes["N"]), rand(rng, sizes["N"], sizes["M"])]


def reference(inputs: list) -> np.ndarray:
    a, b = (x.astype(np.float64) for x in inputs)
    return a[:, None] * b


def run(inputs: list, target: str) -> object:
    a, b = inputs
    N, M = b.shape
    c = empty(b, (N, M))
    t = _tiles(M)
    diag_matmul[(tl.cdiv(N, t["BM"]), tl.cdiv(M, t["BN"]))](a, b, c, **t, target=target)
    return c


def torch_eager(inputs: list) -> object:
    return inputs[0].unsqueeze(1) * inputs[1]


def tolerance(sizes: dict) -> float:
    return 1e-6


def compile_specs(sizes: dict) -> list:
    return [(diag_matmul, "A=f32[1]:16,B=f32[2]:16,C=f32[2]:16", _tiles(sizes["M"]))]
