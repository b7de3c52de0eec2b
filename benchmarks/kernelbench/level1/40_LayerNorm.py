"""KernelBench level 1, problem 40: LayerNorm over (64, 256, 256) with weight and bias, x (16, 64, 256, 256).

Each sample is one row of x's contiguous (N, C*H*W) view; program r normalizes row r
(mean pass, variance pass) and writes (x - mean) / sqrt(var + eps) * w + b, with w
and b the (64, 256, 256) affine parameters seen as one flat vector. The module
starts with w = 1, b = 0; random ones test the affine part too.

Tolerance: sums of C*H*W terms: ``reduction_tolerance(C*H*W)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "40_LayerNorm"
SIZES = dict(batch_size=16, features=64, dim1=256, dim2=256)
CPU_SIZES = dict(batch_size=3, features=4, dim1=9, dim2=13)


@tl.func
def row_mean_rstd(X, row, L, eps, BLOCK):
    """Mean and 1/sqrt(var + eps) of X[row, :L] (biased variance), in two passes so
    that the variance does not cancel: the mean first, then squared deviations."""
    acc = tl.zeros((BLOCK,), f32)
    for k in range(tl.cdiv(L, BLOCK)):
        acc += tl.load(X, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
    mean = tl.sum(acc, 0) / L
    acc = tl.zeros((BLOCK,), f32)
    for k in range(tl.cdiv(L, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        cols = k * BLOCK + tl.arange(BLOCK)
        d = tl.where(cols < L, x - mean, 0.0)
        acc += d * d
    return mean, tl.rsqrt(tl.sum(acc, 0) / L + eps)


@tl.kernel
def layer_norm(X: tl.Tensor, W: tl.Tensor, B: tl.Tensor, Y: tl.Tensor, eps,
               BLOCK: tl.constexpr = 4096):
    row = tl.program_id(0)
    L = X.shape[1]
    mean, rstd = row_mean_rstd(X, row, L, eps, BLOCK)
    for k in range(tl.cdiv(L, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        w = tl.load(W, (k * BLOCK,), (BLOCK,))
        b = tl.load(B, (k * BLOCK,), (BLOCK,))
        tl.store(Y, (row, k * BLOCK), ((x - mean) * rstd * w + b)[None, :])


def _block(n: int) -> int:
    """Elements per loop step: 4096 on long rows, 64 on the CPU tiers' short ones."""
    return 4096 if n >= 1 << 14 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    shape = (s["features"], s["dim1"], s["dim2"])
    return [rand(rng, s["batch_size"], *shape), 0.5 + rand(rng, *shape), rand(rng, *shape) - 0.5]


def reference(inputs: list) -> np.ndarray:
    x, w, b = (a.astype(np.float64) for a in inputs)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w + b


def run(inputs: list, target: str) -> object:
    x, w, b = inputs
    n = x.shape[0]
    L = w.shape[0] * w.shape[1] * w.shape[2]
    y = empty(x, tuple(x.shape))
    layer_norm[(n,)](x.reshape(n, L), w.reshape(L), b.reshape(L), y.reshape(n, L), 1e-5,
                     BLOCK=_block(L), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x, w, b = inputs
    return torch.nn.functional.layer_norm(x, tuple(w.shape), w, b, eps=1e-5)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["features"] * sizes["dim1"] * sizes["dim2"])


def compile_specs(sizes: dict) -> list:
    L = sizes["features"] * sizes["dim1"] * sizes["dim2"]
    return [(layer_norm, "X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32", dict(BLOCK=_block(L)))]
