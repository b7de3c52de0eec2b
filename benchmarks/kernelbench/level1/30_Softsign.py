"""KernelBench level 1, problem 30: Softsign, on a (4096, 393216) f32 matrix.

y = x / (1 + |x|).

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: an addition and a division, two f32 roundings: 1e-6 relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "30_Softsign"
SIZES = dict(batch_size=4096, dim=393216)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def softsign(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = x / (1.0 + tl.abs(x))
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x / (1 + np.abs(x))


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    softsign[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), BLOCK=block,
                target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    import torch.nn.functional as F  # noqa: F401
    x = inputs[0]
    return x / (1 + torch.abs(x))


def tolerance(sizes: dict) -> float:
    return 1e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(softsign, "X=f32[1]:16,Y=f32[1]:16", dict(BLOCK=_block(n)))]
