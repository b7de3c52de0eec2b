"""KernelBench level 1, problem 100: mean(clamp(1 - p * t, min=0)), p (32768, 32768), t in {-1, 1}.

KernelBench's targets have shape (batch_size,) and broadcast against the last axis
of the predictions (batch_size == dim there), so t[j] multiplies column j; the CPU
sizes keep that meaning with t of length dim. Program (i, j) sums the clamped loss
over its (BM, BN) tile (elements outside p are masked out, since 1 - 0 * t would
add 1), scales by 1/n and adds into the 0-d output with ``tl.atomic_add``.

Tolerance: a mean of n terms: ``reduction_tolerance(n)`` relative to |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance

NAME = "100_HingeLoss"
SIZES = dict(batch_size=32768, dim=32768)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def hinge(P: tl.Tensor, T: tl.Tensor, OUT: tl.Tensor, inv_n, BM: tl.constexpr = 16,
          BN: tl.constexpr = 1024):
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    p = tl.load(P, (m0, n0), (BM, BN))
    t = tl.load(T, (n0,), (BN,))
    rows = (m0 + tl.arange(BM))[:, None]
    cols = (n0 + tl.arange(BN))[None, :]
    inside = (rows < P.shape[0]) & (cols < P.shape[1])
    loss = tl.where(inside, tl.maximum(1.0 - p * t[None, :], 0.0), 0.0)
    tl.atomic_add(OUT, (0,), tl.sum(tl.sum(loss, 1), 0) * inv_n)


def _tiles(n: int) -> dict:
    return dict(BM=16, BN=1024) if n >= 1 << 14 else dict(BM=4, BN=64)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    t = rng.integers(0, 2, s["dim"]).astype(np.float32) * 2 - 1
    return [rand(rng, s["batch_size"], s["dim"]), t]


def reference(inputs: list) -> np.ndarray:
    p, t = (a.astype(np.float64) for a in inputs)
    return np.mean(np.maximum(1 - p * t, 0))


def run(inputs: list, target: str) -> object:
    p, t = inputs
    m, n = p.shape
    out = empty(p, (1,))
    c = _tiles(n)
    hinge[(tl.cdiv(m, c["BM"]), tl.cdiv(n, c["BN"]))](p, t, out, 1.0 / (m * n), **c, target=target)
    return out.reshape(())


def torch_eager(inputs: list) -> object:
    import torch
    p, t = inputs
    return torch.mean(torch.clamp(1 - p * t, min=0))


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim"])


def compile_specs(sizes: dict) -> list:
    return [(hinge, "P=f32[2]:16,T=f32[1]:16,OUT=f32[1]:16,inv_n=f32", _tiles(sizes["dim"]))]
