"""KernelBench level 1, problem 20: LeakyReLU with negative slope 0.01, on a (4096, 393216) f32 matrix.

y = x where x >= 0, else 0.01 x (torch.nn.functional.leaky_relu).

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: the function is exact in f32 (comparisons, selects, one multiply rounded once), so 1e-6 relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "20_LeakyReLU"
SIZES = dict(batch_size=4096, dim=393216)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def leaky_relu(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = tl.where(x >= 0, x, x * 0.01)
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return np.where(x >= 0, x, 0.01 * x)


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    leaky_relu[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), BLOCK=block,
                  target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch.nn.functional as F
    x = inputs[0]
    return F.leaky_relu(x, negative_slope=0.01)


def tolerance(sizes: dict) -> float:
    return 1e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(leaky_relu, "X=f32[1]:16,Y=f32[1]:16", dict(BLOCK=_block(n)))]
