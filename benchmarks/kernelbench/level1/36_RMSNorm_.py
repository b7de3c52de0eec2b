"""KernelBench level 1, problem 36: RMS normalization over the channels, x (112, 64, 512, 512).

y = x / sqrt(mean_c x^2 + eps) with the mean over dim 1 (the 64 channels) at each
(n, h, w). x's contiguous (N, C, H*W) view makes each pixel a column: program
(n, j) loads the (C, BHW) block of columns j*BHW.. (C rounded up to the power of
two CP; the extra rows read 0) and writes the block scaled column by column.

Tolerance: a sum of C squares: ``reduction_tolerance(C)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance

NAME = "36_RMSNorm_"
SIZES = dict(batch_size=112, features=64, dim1=512, dim2=512)
CPU_SIZES = dict(batch_size=2, features=5, dim1=9, dim2=13)


@tl.kernel
def rms_norm(X: tl.Tensor, Y: tl.Tensor, eps, CP: tl.constexpr, BHW: tl.constexpr = 128):
    n = tl.program_id(0)
    p0 = tl.program_id(1) * BHW
    C = X.shape[1]
    x = tl.load(X, (n, 0, p0), (1, CP, BHW)).reshape(CP, BHW)
    rms = tl.sqrt(tl.sum(x * x, 0) / C + eps)
    tl.store(Y, (n, 0, p0), (x / rms[None, :]).reshape(1, CP, BHW))


def _config(c: int, hw: int) -> dict:
    return dict(CP=pow2(c), BHW=128 if hw >= 1 << 14 else 16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [rand(rng, s["batch_size"], s["features"], s["dim1"], s["dim2"])]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    n, c, h, w = x.shape
    y = empty(x, (n, c, h, w))
    cfg = _config(c, h * w)
    rms_norm[(n, tl.cdiv(h * w, cfg["BHW"]))](x.reshape(n, c, h * w), y.reshape(n, c, h * w), 1e-5,
                                               **cfg, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x = inputs[0]
    return x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-5)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["features"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(rms_norm, "X=f32[3]:16,Y=f32[3]:16,eps=f32", _config(s["features"], s["dim1"] * s["dim2"]))]
