"""KernelBench level 1, problem 90: cumulative product along dim 1 of a (32768, 32768) f32 matrix.

Products have no matrix-product form, so program i carries the running product of
its BR rows through each BK-column window one column at a time (a static loop):
column j is extracted with a one-hot ``tl.where`` and sum, multiplied into the
carry, and written into the window's output tile at column j. The products are
the sequential ones torch computes, for any signs. The inputs are 0.5 + rand, so
products neither vanish nor explode within the CPU sizes' rows.

Tolerance: each output is a product of up to dim f32 factors, each rounding
once, so its relative error is up to dim ulps (random-walk: sqrt(dim));
``reduction_tolerance(dim)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "90_cumprod"
SIZES = dict(batch_size=32768, dim=32768)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def cumprod(X: tl.Tensor, Y: tl.Tensor, BR: tl.constexpr = 16, BK: tl.constexpr = 32):
    r0 = tl.program_id(0) * BR
    N = X.shape[1]
    cols = tl.arange(BK)[None, :]
    carry = tl.full((BR, 1), 1.0, f32)
    for kk in range(tl.cdiv(N, BK)):
        x = tl.load(X, (r0, kk * BK), (BR, BK), other=1.0)
        out = tl.zeros((BR, BK), f32)
        for j in tl.static_range(BK):
            carry = carry * tl.sum(tl.where(cols == j, x, 0.0), 1, keepdims=True)
            out = tl.where(cols == j, carry, out)
        tl.store(Y, (r0, kk * BK), out)


def _tiles(n: int) -> dict:
    return dict(BR=16, BK=32) if n >= 1 << 12 else dict(BR=4, BK=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    return [np.float32(0.5) + rand(rng, s["batch_size"], s["dim"])]


def reference(inputs: list) -> np.ndarray:
    return np.cumprod(inputs[0].astype(np.float64), axis=1)


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = empty(x, tuple(x.shape))
    t = _tiles(x.shape[1])
    cumprod[(tl.cdiv(x.shape[0], t["BR"]),)](x, y, **t, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    return torch.cumprod(inputs[0], dim=1)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["dim"])


def compile_specs(sizes: dict) -> list:
    return [(cumprod, "X=f32[2]:16,Y=f32[2]:16", _tiles(sizes["dim"]))]
