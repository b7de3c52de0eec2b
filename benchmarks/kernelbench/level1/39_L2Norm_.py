"""KernelBench level 1, problem 39: x / ||x||_2 over dim 1 for a (32768, 65535) f32 matrix.

Program i walks row i twice: once to accumulate v * v lane-wise in a BLOCK-wide
f32 tile, once to write x divided by the row's norm.

Tolerance: a sum of N terms: ``reduction_tolerance(N)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "39_L2Norm_"
SIZES = dict(batch_size=32768, dim=65535)
CPU_SIZES = dict(batch_size=5, dim=333)


@tl.kernel
def l2_norm(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 4096):
    row = tl.program_id(0)
    N = X.shape[1]
    acc = tl.zeros((BLOCK,), f32)
    for k in range(tl.cdiv(N, BLOCK)):
        v = tl.load(X, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        acc += v * v
    norm = tl.sqrt(tl.sum(acc, 0))
    for k in range(tl.cdiv(N, BLOCK)):
        x = tl.load(X, (row, k * BLOCK), (1, BLOCK))
        tl.store(Y, (row, k * BLOCK), x / norm)


def _block(n: int) -> int:
    """Elements per loop step: 4096 on long rows, 64 on the CPU tiers' short ones."""
    return 4096 if n >= 1 << 14 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    return [rand(rng, sizes["batch_size"], sizes["dim"])]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return x / np.sqrt((x * x).sum(axis=1, keepdims=True))


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    l2_norm[(x.shape[0],)](x, y, BLOCK=_block(x.shape[1]), target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x = inputs[0]
    return x / torch.norm(x, p=2, dim=1, keepdim=True)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim"])


def compile_specs(sizes: dict) -> list:
    return [(l2_norm, "X=f32[2]:16,Y=f32[2]:16", dict(BLOCK=_block(sizes["dim"])))]
