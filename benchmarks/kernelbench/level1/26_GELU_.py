"""KernelBench level 1, problem 26: GELU (exact, with erf), on a (4096, 393216) f32 matrix.

y = 0.5 x (1 + erf(x / sqrt 2)), torch.nn.functional.gelu's default.
erf is computed with Abramowitz & Stegun 7.1.26 (a rational
approximation in exp, absolute error at most 1.5e-7) in a @tl.func,
mirrored by sign for x < 0.

The matrix is one flat vector (a contiguous view): program i handles BLOCK
consecutive elements; the bounds-safe load and store handle the ragged end.
Inputs are uniform in [-4, 4) rather than KernelBench's [0, 1) so that every
branch of the function is exercised; the kernel does not depend on the range.

Tolerance: erf's approximation errs by at most 1.5e-7, times 0.5 |x| <= 2 that is
3e-7 absolute against max |y| ~ 4, plus f32 rounding: 2e-6 relative to max |reference|.
"""

from __future__ import annotations

import math

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand

NAME = "26_GELU_"
SIZES = dict(batch_size=4096, dim=393216)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.func
def erf(z):
    # Abramowitz & Stegun 7.1.26 on |z|, odd extension: |erf(z) - approx| <= 1.5e-7.
    a = tl.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                       + t * (-1.453152027 + t * 1.061405429))))
    r = 1.0 - poly * tl.exp(-a * a)
    return tl.where(z < 0, -r, r)


@tl.kernel
def gelu(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 1024):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    y = 0.5 * x * (1.0 + erf(x * 0.7071067811865476))
    tl.store(Y, (i0,), y)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    x = 8 * rand(rng, sizes["batch_size"], sizes["dim"]) - 4
    return [x]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def _block(n: int) -> int:
    return 1024 if n >= 1 << 20 else 128


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    n = x.shape[0] * x.shape[1]
    block = _block(n)
    gelu[(tl.cdiv(n, block),)](x.reshape(-1), y.reshape(-1), BLOCK=block,
            target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch.nn.functional as F
    x = inputs[0]
    return F.gelu(x)


def tolerance(sizes: dict) -> float:
    return 2e-6


def compile_specs(sizes: dict) -> list:
    n = sizes["batch_size"] * sizes["dim"]
    return [(gelu, "X=f32[1]:16,Y=f32[1]:16", dict(BLOCK=_block(n)))]
