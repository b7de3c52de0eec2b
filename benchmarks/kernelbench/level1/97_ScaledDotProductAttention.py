"""KernelBench level 1, problem 97: softmax(Q K^T / sqrt(D)) V, Q, K, V (32, 32, 512, 1024) f32.

The head dimension, 1024, is too wide to keep a query block's output in registers
across key blocks (as flash attention does), but the sequence, 512, is short: the
whole (BM, SEQ) score block fits. So program (i, bh) computes S = Q_i K^T walking
D in BD-wide steps, takes the row softmax of S / sqrt(D) in registers (keys past
the sequence end are masked to -inf), and writes O_i = P V one BD-wide column
block at a time. The (batch, heads) pair is flattened into one axis through a
contiguous view.

Tolerance: f32 dots over D then over SEQ terms, and f32 exp:
``reduction_tolerance(D + SEQ)`` relative to max |reference|.
"""

from __future__ import annotations

import math

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance
from tilelang import f32

NAME = "97_ScaledDotProductAttention"
SIZES = dict(batch_size=32, num_heads=32, sequence_length=512, embedding_dimension=1024)
CPU_SIZES = dict(batch_size=2, num_heads=2, sequence_length=37, embedding_dimension=40)


@tl.kernel(num_warps=8)
def attention(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, O: tl.Tensor, sm_scale,
              SEQ: tl.constexpr, BM: tl.constexpr = 64, BD: tl.constexpr = 64):
    m0 = tl.program_id(0) * BM
    bh = tl.program_id(1)
    L = Q.shape[1]
    D = Q.shape[2]
    s = tl.zeros((BM, SEQ), f32)
    for d in range(tl.cdiv(D, BD)):
        q = tl.load(Q, (bh, m0, d * BD), (1, BM, BD)).reshape(BM, BD)
        k = tl.load(K, (bh, 0, d * BD), (1, SEQ, BD)).reshape(SEQ, BD)
        s = tl.dot(q, tl.trans(k), s)
    keys = tl.arange(SEQ)[None, :]
    s = tl.where(keys < L, s * sm_scale, float("-inf"))
    p = tl.exp(s - tl.max(s, 1)[:, None])
    p = p / tl.sum(p, 1)[:, None]
    for d in range(tl.cdiv(D, BD)):
        v = tl.load(V, (bh, 0, d * BD), (1, SEQ, BD)).reshape(SEQ, BD)
        tl.store(O, (bh, m0, d * BD), tl.dot(p, v).reshape(1, BM, BD))


def _config(seq: int) -> dict:
    """SEQ is the sequence rounded up to a power of two; 16-row query blocks and
    16-wide head-dim steps, so that the tiles exchanged through shared memory (the
    (512, 16) key block, the (16, 512) scores) fit the 64 KiB of gfx942's LDS."""
    return dict(SEQ=pow2(seq, 16), BM=16, BD=16)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    shape = (s["batch_size"], s["num_heads"], s["sequence_length"], s["embedding_dimension"])
    return [rand(rng, *shape), rand(rng, *shape), rand(rng, *shape)]


def reference(inputs: list) -> np.ndarray:
    q, k, v = (x.astype(np.float64) for x in inputs)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def run(inputs: list, target: str) -> object:
    q, k, v = inputs
    b, h, seq, d = q.shape
    o = empty(q, (b, h, seq, d))
    cfg = _config(seq)
    views = [t.reshape(b * h, seq, d) for t in (q, k, v, o)]
    attention[(tl.cdiv(seq, cfg["BM"]), b * h)](*views, 1.0 / math.sqrt(d), **cfg, target=target)
    return o


def torch_eager(inputs: list) -> object:
    import torch
    q, k, v = inputs
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def tolerance(sizes: dict) -> float:
    s = sizes
    return reduction_tolerance(s["embedding_dimension"] + s["sequence_length"])


def compile_specs(sizes: dict) -> list:
    return [(attention, "Q=f32[3]:16,K=f32[3]:16,V=f32[3]:16,O=f32[3]:16,sm_scale=f32", _config(sizes["sequence_length"]))]
