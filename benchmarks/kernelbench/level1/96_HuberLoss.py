"""KernelBench level 1, problem 96: smooth L1 (Huber, beta 1) loss, mean reduction of two (32768, 32768) f32 matrices.

Over the matrices as flat vectors, program i computes the sum of the elementwise
loss over its BLOCK elements (d = p - t; padding reads 0 on both sides, so d = 0
and adds nothing), scales it by 1/n and adds it into the one-element output with
``tl.atomic_add``. The result is a 0-d array, as torch's. Predictions are scaled by 3 * rand() so that both branches (|d| < 1 and |d| >= 1) occur.

Tolerance: a mean of n terms (f32 partials added in any order):
``reduction_tolerance(n)`` relative to |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance

NAME = "96_HuberLoss"
SIZES = dict(batch_size=32768, dim=32768)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def huber(P: tl.Tensor, T: tl.Tensor, OUT: tl.Tensor, inv_n, BLOCK: tl.constexpr = 4096):
    i0 = tl.program_id(0) * BLOCK
    d = tl.load(P, (i0,), (BLOCK,)) - tl.load(T, (i0,), (BLOCK,))
    tl.atomic_add(OUT, (0,), tl.sum(tl.where(tl.abs(d) < 1.0, 0.5 * d * d, tl.abs(d) - 0.5), 0) * inv_n)


def _block(n: int) -> int:
    return 4096 if n >= 1 << 20 else 128


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    scale = np.float32(3) * rand(rng)
    return [rand(rng, s["batch_size"], s["dim"]) * scale, rand(rng, s["batch_size"], s["dim"])]


def reference(inputs: list) -> np.ndarray:
    p, t = (a.astype(np.float64) for a in inputs)
    a = np.abs(p - t)
    return np.mean(np.where(a < 1, 0.5 * a * a, a - 0.5))


def run(inputs: list, target: str) -> object:
    p, t = inputs
    n = p.shape[0] * p.shape[1]
    out = empty(p, (1,))
    block = _block(n)
    huber[(tl.cdiv(n, block),)](p.reshape(-1), t.reshape(-1), out, 1.0 / n, BLOCK=block,
          target=target)
    return out.reshape(())


def torch_eager(inputs: list) -> object:
    import torch
    p, t = inputs
    return torch.nn.functional.smooth_l1_loss(p, t)


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(huber, "P=f32[1]:16,T=f32[1]:16,OUT=f32[1]:16,inv_n=f32", dict(BLOCK=_block(s["batch_size"] * s["dim"])))]
