"""KernelBench level 1, problem 94: mean((p - t)^2) of two (32768, 32768) f32 matrices.

Over the matrices as flat vectors, program i computes the sum of the elementwise
loss over its BLOCK elements (d = p - t; padding reads 0 on both sides, so d = 0
and adds nothing), scales it by 1/n and adds it into the one-element output with
``tl.atomic_add``. The result is a 0-d array, as torch's.

Tolerance: a mean of n terms (f32 partials added in any order):
``reduction_tolerance(n)`` relative to |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance

NAME = "94_MSELoss"
SIZES = dict(batch_size=32768, dim=32768)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def mse(P: tl.Tensor, T: tl.Tensor, OUT: tl.Tensor, inv_n, BLOCK: tl.constexpr = 4096):
    i0 = tl.program_id(0) * BLOCK
    d = tl.load(P, (i0,), (BLOCK,)) - tl.load(T, (i0,), (BLOCK,))
    tl.atomic_add(OUT, (0,), tl.sum(d * d, 0) * inv_n)


def _block(n: int) -> int:
    return 4096 if n >= 1 << 20 else 128


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    scale = rand(rng)
    return [rand(rng, s["batch_size"], s["dim"]) * scale, rand(rng, s["batch_size"], s["dim"])]


def reference(inputs: list) -> np.ndarray:
    p, t = (a.astype(np.float64) for a in inputs)
    return np.mean((p - t) ** 2)


def run(inputs: list, target: str) -> object:
    p, t = inputs
    n = p.shape[0] * p.shape[1]
    out = empty(p, (1,))
    block = _block(n)
    mse[(tl.cdiv(n, block),)](p.reshape(-1), t.reshape(-1), out, 1.0 / n, BLOCK=block,
        target=target)
    return out.reshape(())


def torch_eager(inputs: list) -> object:
    import torch
    p, t = inputs
    return torch.mean((p - t) ** 2)


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(mse, "P=f32[1]:16,T=f32[1]:16,OUT=f32[1]:16,inv_n=f32", dict(BLOCK=_block(s["batch_size"] * s["dim"])))]
