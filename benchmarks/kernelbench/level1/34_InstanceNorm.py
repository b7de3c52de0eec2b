"""KernelBench level 1, problem 34: InstanceNorm2d (no affine, eps 1e-5), x (112, 64, 512, 512).

Each (n, c) plane is normalized by its own mean and biased variance; the planes are
the rows of x's contiguous (N*C, H*W) view, and program r does row r: a mean pass,
a variance pass, and a pass that writes (x - mean) / sqrt(var + eps).

Tolerance: sums of H*W terms: ``reduction_tolerance(H*W)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "34_InstanceNorm"
SIZES = dict(batch_size=112, features=64, dim1=512, dim2=512)
CPU_SIZES = dict(batch_size=2, features=3, dim1=9, dim2=13)


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
def instance_norm(X: tl.Tensor, Y: tl.Tensor, eps, BLOCK: tl.constexpr = 4096):
    row = tl.program_id(0)
    L = X.shape[1]
    mean, rstd = row_mean_rstd(X, row, L, eps, BLOCK)
    for k in range(tl.cdiv(L, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK))
        tl.store(Y, (row, k * BLOCK), (x - mean) * rstd)


def _block(n: int) -> int:
    """Elements per loop step: 4096 on long rows, 64 on the CPU tiers' short ones."""
    return 4096 if n >= 1 << 14 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["features"], s["dim1"], s["dim2"])]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    n, c, h, w = x.shape
    y = empty(x, (n, c, h, w))
    instance_norm[(n * c,)](x.reshape(n * c, h * w), y.reshape(n * c, h * w), 1e-5,
                            BLOCK=_block(h * w), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.nn.functional.instance_norm(inputs[0], eps=1e-5)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim1"] * sizes["dim2"])


def compile_specs(sizes: dict) -> list:
    return [(instance_norm, "X=f32[2]:16,Y=f32[2]:16,eps=f32", dict(BLOCK=_block(sizes["dim1"] * sizes["dim2"])))]
