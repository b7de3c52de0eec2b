"""KernelBench level 1, problem 27: SELU, on a (4096, 393216) f32 matrix.

y = scale * (x where x > 0, else alpha (exp(x) - 1)), with torch's
alpha = 1.6732632423543772 and scale = 1.0507009873554805.

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: a few f32 roundings of exp, evaluated in f32 with the target's exp/log/tanh (a few ulps); 2e-6 relative to max |reference|.
(exp(x) - 1 cancels for small |x| but the error stays
absolute, at most a few 1e-7 against max |y| ~ 4.2)
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "27_SELU_"
SIZES = dict(batch_size=4096, dim=393216)
CPU_SIZES = dict(batch_size=7, dim=333)
ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


@tl.kernel
def selu(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = SCALE * tl.where(x > 0, x, ALPHA * (tl.exp(x) - 1.0))
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return SCALE * np.where(x > 0, x, ALPHA * np.expm1(x))


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    selu[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), BLOCK=block,
            target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    import torch.nn.functional as F  # noqa: F401
    x = inputs[0]
    return torch.selu(x)


def tolerance(sizes: dict) -> float:
    return 2e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(selu, "X=f32[1]:16,Y=f32[1]:16", dict(BLOCK=_block(n)))]
