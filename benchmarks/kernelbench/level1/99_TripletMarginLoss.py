"""KernelBench level 1, problem 99: TripletMarginLoss (margin 1, p = 2, eps 1e-6), a, p, n (32768, 8192).

loss = mean_i max(||a_i - p_i + eps||_2 - ||a_i - n_i + eps||_2 + margin, 0), with
torch's pairwise_distance adding eps to the difference. Program i walks row i once,
accumulating both squared distances lane-wise, and adds its clamped loss / batch
into the 0-d output with ``tl.atomic_add``. Padding lanes are masked out (eps
would otherwise add to the distances).

Tolerance: sums of dim squares and a mean of batch terms:
``reduction_tolerance(dim * batch)`` relative to |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance
from tilelang import f32

NAME = "99_TripletMarginLoss"
SIZES = dict(batch_size=32768, dim=8192)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def triplet_margin(A: tl.Tensor, P: tl.Tensor, N: tl.Tensor, OUT: tl.Tensor, margin, eps,
                   inv_batch, BLOCK: tl.constexpr = 2048):
    row = tl.program_id(0)
    D = A.shape[1]
    sp = tl.zeros((BLOCK,), f32)
    sn = tl.zeros((BLOCK,), f32)
    for k in range(tl.cdiv(D, BLOCK)):
        a = tl.load(A, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        p = tl.load(P, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        n = tl.load(N, (row, k * BLOCK), (1, BLOCK)).reshape(BLOCK)
        inside = k * BLOCK + tl.arange(BLOCK) < D
        dp = tl.where(inside, a - p + eps, 0.0)
        dn = tl.where(inside, a - n + eps, 0.0)
        sp += dp * dp
        sn += dn * dn
    loss = tl.maximum(tl.sqrt(tl.sum(sp, 0)) - tl.sqrt(tl.sum(sn, 0)) + margin, 0.0)
    tl.atomic_add(OUT, (0,), loss * inv_batch)


def _block(d: int) -> int:
    return 2048 if d >= 4096 else 64


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    scale = rand(rng)
    return [rand(rng, s["batch_size"], s["dim"]) * scale, rand(rng, s["batch_size"], s["dim"]),
            rand(rng, s["batch_size"], s["dim"])]


def reference(inputs: list) -> np.ndarray:
    a, p, n = (x.astype(np.float64) for x in inputs)
    dp = np.sqrt(((a - p + 1e-6) ** 2).sum(axis=1))
    dn = np.sqrt(((a - n + 1e-6) ** 2).sum(axis=1))
    return np.mean(np.maximum(dp - dn + 1.0, 0))


def run(inputs: list, target: str) -> object:
    a, p, n = inputs
    b, d = a.shape
    out = empty(a, (1,))
    triplet_margin[(b,)](a, p, n, out, 1.0, 1e-6, 1.0 / b, BLOCK=_block(d), target=target)
    return out.reshape(())


def torch_eager(inputs: list) -> object:
    import torch
    a, p, n = inputs
    return torch.nn.functional.triplet_margin_loss(a, p, n, margin=1.0)


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim"])


def compile_specs(sizes: dict) -> list:
    return [(triplet_margin, "A=f32[2]:16,P=f32[2]:16,N=f32[2]:16,OUT=f32[1]:16,margin=f32,eps=f32,inv_batch=f32", dict(BLOCK=_block(sizes["dim"])))]
