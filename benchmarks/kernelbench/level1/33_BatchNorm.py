"""KernelBench level 1, problem 33: BatchNorm2d in training mode, x (64, 64, 512, 512).

A freshly built module is in training mode, so it normalizes each channel c by the
mean and biased variance of x[:, c] over (N, H, W) and applies the affine weight
and bias (random here; the module starts with 1 and 0). Running statistics are
updated by torch but are not an output. Program c walks channel c of x's
(N, C, H*W) view three times: mean, variance (squared deviations), output.

Tolerance: sums of N*H*W terms: ``reduction_tolerance(N*H*W)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "33_BatchNorm"
SIZES = dict(batch_size=64, features=64, dim1=512, dim2=512)
CPU_SIZES = dict(batch_size=3, features=4, dim1=9, dim2=13)


@tl.kernel
def batch_norm(X: tl.Tensor, W: tl.Tensor, B: tl.Tensor, Y: tl.Tensor, eps,
               BLOCK: tl.constexpr = 4096):
    c = tl.program_id(0)
    N = X.shape[0]
    HW = X.shape[2]
    count = N * HW
    acc = tl.zeros((BLOCK,), f32)
    for n in range(N):
        for k in range(tl.cdiv(HW, BLOCK)):
            acc += tl.load(X, (n, c, k * BLOCK), (1, 1, BLOCK)).reshape(BLOCK)
    mean = tl.sum(acc, 0) / count
    acc = tl.zeros((BLOCK,), f32)
    for n in range(N):
        for k in range(tl.cdiv(HW, BLOCK)):
            v = tl.load(X, (n, c, k * BLOCK), (1, 1, BLOCK)).reshape(BLOCK)
            d = tl.where(k * BLOCK + tl.arange(BLOCK) < HW, v - mean, 0.0)
            acc += d * d
    rstd = tl.rsqrt(tl.sum(acc, 0) / count + eps)
    w = tl.load(W, (c,), (1,))
    b = tl.load(B, (c,), (1,))
    for n in range(N):
        for k in range(tl.cdiv(HW, BLOCK)):
            x = tl.load(X, (n, c, k * BLOCK), (1, 1, BLOCK)).reshape(BLOCK)
            tl.store(Y, (n, c, k * BLOCK), ((x - mean) * rstd * w + b).reshape(1, 1, BLOCK))


def _block(hw: int) -> int:
    return 4096 if hw >= 1 << 14 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    c = s["features"]
    return [rand(rng, s["batch_size"], c, s["dim1"], s["dim2"]), 0.5 + rand(rng, c), rand(rng, c) - 0.5]


def reference(inputs: list) -> np.ndarray:
    x, w, b = (a.astype(np.float64) for a in inputs)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w[None, :, None, None] + b[None, :, None, None]


def run(inputs: list, target: str) -> object:
    x, w, b = inputs
    n, c, h, wd = x.shape
    y = empty(x, (n, c, h, wd))
    batch_norm[(c,)](x.reshape(n, c, h * wd), w, b, y.reshape(n, c, h * wd), 1e-5,
                     BLOCK=_block(h * wd), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x, w, b = inputs
    return torch.nn.functional.batch_norm(x, None, None, w, b, training=True, eps=1e-5)


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim1"] * s["dim2"])


def compile_specs(sizes: dict) -> list:
    return [(batch_norm, "X=f32[3]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[3]:16,eps=f32", dict(BLOCK=_block(sizes["dim1"] * sizes["dim2"])))]
