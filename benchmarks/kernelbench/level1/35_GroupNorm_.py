"""KernelBench level 1, problem 35: GroupNorm (8 groups, affine, eps 1e-5), x (112, 64, 512, 512).

Group g of sample n is the contiguous run of C/G channel planes, i.e. row n*G + g of
x's (N*G, C/G*H*W) view; program r computes that row's mean and biased variance
(two passes over the flat row), then writes each channel plane c of the group with
its own weight and bias, (x - mean) / sqrt(var + eps) * w[c] + b[c]. The module
starts with w = 1, b = 0; random ones test the affine part too.

Tolerance: sums of C/G*H*W terms: ``reduction_tolerance(C/G*H*W)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "35_GroupNorm_"
SIZES = dict(batch_size=112, features=64, num_groups=8, dim1=512, dim2=512)
CPU_SIZES = dict(batch_size=2, features=6, num_groups=3, dim1=9, dim2=13)


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
def group_norm(X: tl.Tensor, W: tl.Tensor, B: tl.Tensor, Y: tl.Tensor, eps,
               CPG: tl.constexpr, BLOCK: tl.constexpr = 4096):
    row = tl.program_id(0)
    L = X.shape[1]
    HW = L // CPG
    groups = W.shape[0] // CPG
    mean, rstd = row_mean_rstd(X, row, L, eps, BLOCK)
    for j in range(CPG):
        c = (row % groups) * CPG + j
        w = tl.load(W, (c,), (1,))
        b = tl.load(B, (c,), (1,))
        for k in range(tl.cdiv(HW, BLOCK)):
            x = tl.load(X, (row, j * HW + k * BLOCK), (1, BLOCK)).reshape(BLOCK)
            cols = k * BLOCK + tl.arange(BLOCK)
            y = (x - mean) * rstd * w + b
            # a window past the plane's end would write the next plane: mask it
            tl.store(Y, (row, j * HW + k * BLOCK), y[None, :], mask=(cols < HW)[None, :])


def _block(n: int) -> int:
    """Elements per loop step: 4096 on long rows, 64 on the CPU tiers' short ones."""
    return 4096 if n >= 1 << 14 else 64


def _groups(channels: int) -> int:
    """The group count of the sizes with this many channels (8 real, 3 on the CPU)."""
    return SIZES["num_groups"] if channels == SIZES["features"] else CPU_SIZES["num_groups"]


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    c = s["features"]
    return [rand(rng, s["batch_size"], c, s["dim1"], s["dim2"]), 0.5 + rand(rng, c), rand(rng, c) - 0.5]


def reference(inputs: list) -> np.ndarray:
    x, w, b = (a.astype(np.float64) for a in inputs)
    n, c, h, wd = x.shape
    g = _groups(c)
    xg = x.reshape(n, g, -1)
    mean = xg.mean(axis=2, keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=2, keepdims=True)
    y = ((xg - mean) / np.sqrt(var + 1e-5)).reshape(n, c, h, wd)
    return y * w[None, :, None, None] + b[None, :, None, None]


def run(inputs: list, target: str) -> object:
    x, w, b = inputs
    n, c, h, wd = x.shape
    g = _groups(c)
    L = c // g * h * wd
    y = empty(x, tuple(x.shape))
    group_norm[(n * g,)](x.reshape(n * g, L), w, b, y.reshape(n * g, L), 1e-5, CPG=c // g,
                         BLOCK=_block(h * wd), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x, w, b = inputs
    return torch.nn.functional.group_norm(x, _groups(x.shape[1]), w, b, eps=1e-5)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["features"] // sizes["num_groups"] * sizes["dim1"] * sizes["dim2"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(group_norm, "X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32", dict(CPG=s["features"] // s["num_groups"], BLOCK=_block(s["dim1"] * s["dim2"])))]
