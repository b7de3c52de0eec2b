"""Kernels at the tile configurations people tune for (the shared-memory reuse tests).

``matmul`` is ``examples/matmul.py``'s kernel; ``matmul_bias_gelu`` adds the
usual epilogue (a broadcast bias row, tanh-GELU), whose broadcast and layout
conversion exchange through scratch after the main loop.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from tilelang import f32


@tl.kernel(num_warps=8)
def matmul_bias_gelu(A: tl.Tensor, B: tl.Tensor, Bias: tl.Tensor, C: tl.Tensor,
                     BM: tl.constexpr = 128, BN: tl.constexpr = 128, BK: tl.constexpr = 64,
                     STAGES: tl.constexpr = 3):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    bias = tl.load(Bias, (n0,), (BN,)).to(f32)
    x = acc + bias[None, :]
    y = 0.5 * x * (1.0 + tl.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    tl.store(C, (m0, n0), y.to(C.dtype))


def bias_gelu_reference(a: np.ndarray, b: np.ndarray, bias: np.ndarray) -> np.ndarray:
    x = a.astype(np.float64) @ b.astype(np.float64) + bias.astype(np.float64)[None, :]
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
