"""KernelBench level 1, problem 88: GELU, tanh approximation (minGPT), on a (8192, 8192) f32 matrix.

y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: a few f32 roundings of tanh and a cubic, evaluated in f32 with the target's exp/log/tanh (a few ulps); 2e-6 relative to max |reference|.
"""

from __future__ import annotations

import math

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "88_MinGPTNewGelu"
SIZES = dict(batch_size=8192, dim=8192)
CPU_SIZES = dict(batch_size=7, dim=333)
C = math.sqrt(2.0 / math.pi)


@tl.kernel
def new_gelu(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = 0.5 * x * (1.0 + tl.tanh(C * (x + 0.044715 * x * x * x)))
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    new_gelu[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), BLOCK=block,
                target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    import torch.nn.functional as F  # noqa: F401
    x = inputs[0]
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def tolerance(sizes: dict) -> float:
    return 2e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(new_gelu, "X=f32[1]:16,Y=f32[1]:16", dict(BLOCK=_block(n)))]
