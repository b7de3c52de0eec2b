"""KernelBench level 1, problem 24: log-softmax over dim 1 of a (4096, 393216) f32 matrix.

A row of 393216 floats does not fit in one tile, so program i walks row i twice:
first an online pass (``row_max_and_sum``) for the max and the sum of exponentials,
then a pass that writes the output. Inputs are 8 * rand - 4 rather than rand, so
the exponentials span e^8.

Tolerance: f32 exp (a few ulps) and a sum of N terms: ``reduction_tolerance(N)``
(1e-5 plus 32 ulps per sqrt(N)) relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "24_LogSoftmax"
SIZES = dict(batch_size=4096, dim=393216)
CPU_SIZES = dict(batch_size=5, dim=333)


@tl.func
def row_max_and_sum(X, row, N, BLOCK):
    """max_j X[row, j] and sum_j exp(X[row, j] - max), in one pass (online softmax):
    each lane keeps a running max m and a sum s rescaled whenever m grows."""
    m = tl.full((BLOCK,), float("-inf"), f32)
    s = tl.zeros((BLOCK,), f32)
    for k in range(tl.cdiv(N, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK), other=float("-inf")).reshape(BLOCK)
        m_new = tl.maximum(m, x)
        # a lane that has seen only padding keeps m = -inf; shift it by 0 so that
        # exp(-inf - -inf) never makes a NaN
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - shift) + tl.exp(x - shift)
        m = m_new
    row_max = tl.max(m, 0)
    return row_max, tl.sum(s * tl.exp(m - row_max), 0)


@tl.kernel
def logsoftmax(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 4096):
    row = tl.program_id(0)
    N = X.shape[1]
    row_max, total = row_max_and_sum(X, row, N, BLOCK)
    for k in range(tl.cdiv(N, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK))
        tl.store(Y, (row, k * BLOCK), x - row_max - tl.log(total))


def _block(n: int) -> int:
    """Elements per loop step: 4096 on long rows, 64 on the CPU tiers' short ones."""
    return 4096 if n >= 1 << 14 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    logsoftmax[(x.shape[0],)](x, y, BLOCK=_block(x.shape[1]), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.log_softmax(inputs[0], dim=1)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim"])


def compile_specs(sizes: dict) -> list:
    return [(logsoftmax, "X=f32[2]:16,Y=f32[2]:16", dict(BLOCK=_block(sizes["dim"])))]
