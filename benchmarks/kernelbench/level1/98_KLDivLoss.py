"""KernelBench level 1, problem 98: kl_div(log(p), t, reduction="batchmean"), p and t (16384, 16384) row-softmaxed.

The loss is sum t * (log t - log p) / batch_size (torch's kl_div of log p, with
t > 0 everywhere here). Over the matrices as flat vectors, program i sums its
BLOCK terms (padding is masked out: 0 * log 0 would be NaN), scales by
1/batch_size and adds into the 0-d output with ``tl.atomic_add``. The inputs are
softmaxes of rand rows, as in KernelBench (computed in float32 numpy).

Tolerance: f32 logs and a sum of n terms: ``reduction_tolerance(n)`` relative to |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, rand, reduction_tolerance

NAME = "98_KLDivLoss"
SIZES = dict(batch_size=16384, dim=16384)
CPU_SIZES = dict(batch_size=7, dim=333)


@tl.kernel
def kl_div(P: tl.Tensor, T: tl.Tensor, OUT: tl.Tensor, inv_batch, BLOCK: tl.constexpr = 4096):
    i0 = tl.program_id(0) * BLOCK
    inside = i0 + tl.arange(BLOCK) < P.shape[0]
    p = tl.load(P, (i0,), (BLOCK,), other=1.0)
    t = tl.load(T, (i0,), (BLOCK,), other=1.0)
    terms = tl.where(inside, t * (tl.log(t) - tl.log(p)), 0.0)
    tl.atomic_add(OUT, (0,), tl.sum(terms, 0) * inv_batch)


def _block(n: int) -> int:
    return 4096 if n >= 1 << 20 else 128


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes


    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


    scale = rand(rng)
    return [softmax(rand(rng, s["batch_size"], s["dim"]) * scale), softmax(rand(rng, s["batch_size"], s["dim"]))]


def reference(inputs: list) -> np.ndarray:
    p, t = (a.astype(np.float64) for a in inputs)
    return np.sum(t * (np.log(t) - np.log(p))) / p.shape[0]


def run(inputs: list, target: str) -> object:
    p, t = inputs
    b, d = p.shape
    out = empty(p, (1,))
    block = _block(b * d)
    kl_div[(tl.cdiv(b * d, block),)](p.reshape(-1), t.reshape(-1), out, 1.0 / b, BLOCK=block,
                                     target=target)
    return out.reshape(())


def torch_eager(inputs: list) -> object:
    import torch
    p, t = inputs
    return torch.nn.functional.kl_div(torch.log(p), t, reduction="batchmean")


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["batch_size"] * s["dim"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(kl_div, "P=f32[1]:16,T=f32[1]:16,OUT=f32[1]:16,inv_batch=f32", dict(BLOCK=_block(s["batch_size"] * s["dim"])))]
