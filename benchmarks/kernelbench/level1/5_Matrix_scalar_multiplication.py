"""KernelBench level 1, problem 5: C = A * s, s = 3.14, on a (65536, 16384) f32 matrix.

C = A * s with a runtime f32 scalar s (KernelBench: A is (65536, 16384)).

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: one f32 multiply by s rounded to f32 (as torch does): 1e-6 relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "5_Matrix_scalar_multiplication"
SIZES = dict(batch_size=65536, dim=16384)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def scale(X: tl.Tensor, Y: tl.Tensor, s, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = x * s
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x, 3.14]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x * np.float64(np.float32(inputs[1]))


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    scale[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), inputs[1], BLOCK=block,
             target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch.nn.functional as F  # noqa: F401
    x = inputs[0]
    return x * inputs[1]


def tolerance(sizes: dict) -> float:
    return 1e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(scale, "X=f32[1]:16,Y=f32[1]:16,s=f32", dict(BLOCK=_block(n)))]
