"""KernelBench level 1, problem 37: x / ||x||_F for x (112, 64, 512, 512).

Two kernels over x as one flat vector: ``sum_squares`` adds each program's partial
sum of x^2 into a one-element f32 total with ``tl.atomic_add``; ``scale`` divides
every element by the square root of that total.

Tolerance: a sum of n = 1.9e9 squares (f32 partials, added in any order):
``reduction_tolerance(n)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance

NAME = "37_FrobeniusNorm_"
SIZES = dict(batch_size=112, features=64, dim1=512, dim2=512)
CPU_SIZES = dict(batch_size=2, features=3, dim1=9, dim2=13)


@tl.kernel
def sum_squares(X: tl.Tensor, TOTAL: tl.Tensor, BLOCK: tl.constexpr = 4096):
    i0 = tl.program_id(0) * BLOCK
    x = tl.load(X, (i0,), (BLOCK,))
    tl.atomic_add(TOTAL, (0,), tl.sum(x * x, 0))


@tl.kernel
def scale(X: tl.Tensor, TOTAL: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 4096):
    i0 = tl.program_id(0) * BLOCK
    norm = tl.sqrt(tl.load(TOTAL, (0,), (1,)))
    tl.store(Y, (i0,), tl.load(X, (i0,), (BLOCK,)) / norm)


def _block(n: int) -> int:
    return 4096 if n >= 1 << 20 else 128


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["features"], s["dim1"], s["dim2"])]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x / np.sqrt((x * x).sum())


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    flat = x.reshape(-1)
    n = flat.shape[0]
    total = empty(x, (1,))
    y = empty(x, tuple(x.shape))
    block = _block(n)
    sum_squares[(tl.cdiv(n, block),)](flat, total, BLOCK=block, target=target)
    scale[(tl.cdiv(n, block),)](flat, total, y.reshape(-1), BLOCK=block, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x = inputs[0]
    return x / torch.norm(x, p="fro")


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["features"] * s["dim1"] * s["dim2"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    block = _block(s["batch_size"] * s["features"] * s["dim1"] * s["dim2"])
    return [(sum_squares, "X=f32[1]:16,TOTAL=f32[1]:16", dict(BLOCK=block)),
            (scale, "X=f32[1]:16,TOTAL=f32[1]:16,Y=f32[1]:16", dict(BLOCK=block))]
