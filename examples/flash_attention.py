"""Flash attention forward: O = softmax(Q K^T * sm_scale [+ causal mask]) V.

Q, K, V and O are bf16 tensors of shape [batch, heads, seq, HEAD_DIM]. Program
(i, j) computes BM query rows of head j % heads of batch j // heads. It loads
4-D windows of shape (1, 1, rows, HEAD_DIM) and reshapes them to 2-D tiles,
then walks the keys BN at a time with the online softmax: a running row
maximum m, a running denominator l and an unnormalized f32 accumulator that
is rescaled by exp(m_old - m_new) whenever the maximum grows. As in FA2 the
exponentials are exp2 of scores pre-multiplied by log2(e).

The key loop is ``tl.pipeline(tl.cdiv(end, BN), stages=2)`` over block
indices j (keys n0 = j * BN ..), not ``range(0, end, BN)``: its meaning is that
of a plain loop, and on GPUs the compiler fetches the K and V blocks of
iteration j + 1 into a second shared-memory buffer (cp.async) while block j is
computed. Counting blocks from 0 by 1 makes the iteration number the
induction variable itself, which the pipeliner uses to pick the buffer.

Keys past the end of the sequence (a ragged last block) and, when CAUSAL,
keys after the query are masked to -inf with ``tl.where``. A causal program
stops its loop at its last query row, so blocks entirely above the diagonal
are never loaded.

Tolerance: P is rounded to bf16 before the P @ V product (as on GPUs) and O
is stored as bf16; relative to the float64 reference (max |o - ref| / max
|ref|) we allow 2e-2.
"""

from __future__ import annotations

import math
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import bf16, f32

TOLERANCE = 2e-2  # bf16 output, relative to max |reference|
LOG2E = 1.4426950408889634


@tl.kernel(num_warps=4)
def flash_attention(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, O: tl.Tensor, sm_scale: float,
                    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr = False,
                    BM: tl.constexpr = 64, BN: tl.constexpr = 64):
    H, S = Q.shape[1], Q.shape[2]
    m0 = tl.program_id(0) * BM
    z = tl.program_id(1) // H
    h = tl.program_id(1) % H
    q = tl.load(Q, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    rows = m0 + tl.arange(BM)
    qk_scale = sm_scale * LOG2E

    m_i = tl.full((BM,), float("-inf"), f32)
    l_i = tl.zeros((BM,), f32)
    acc = tl.zeros((BM, HEAD_DIM), f32)
    end = tl.minimum(S, m0 + BM) if CAUSAL else S
    for j in tl.pipeline(tl.cdiv(end, BN), stages=2):
        n0 = j * BN
        k = tl.load(K, (z, h, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        v = tl.load(V, (z, h, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        cols = n0 + tl.arange(BN)
        keep = cols[None, :] < S
        if CAUSAL:
            keep = keep & (cols[None, :] <= rows[:, None])
        s = tl.where(keep, tl.dot(q, tl.trans(k)) * qk_scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(bf16), v, acc * alpha[:, None])
        m_i = m_new
    o = acc / l_i[:, None]
    tl.store(O, (z, h, m0, 0), o.to(O.dtype).reshape((1, 1, BM, HEAD_DIM)))


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, sm_scale: float,
              causal: bool) -> np.ndarray:
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) * sm_scale
    if causal:
        n = s.shape[-1]
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def run(target: str | None = "interp", batch: int = 1, heads: int = 2, seq: int = 200,
        head_dim: int = 64, causal: bool = False, BM: int = 64,
        BN: int = 64) -> tuple[float, bool]:
    """Attention over random bf16 Q, K, V; returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    shape = (batch, heads, seq, head_dim)
    q, k, v = (rng.standard_normal(shape).astype(ml_dtypes.bfloat16) for _ in range(3))
    o = np.zeros(shape, ml_dtypes.bfloat16)
    sm_scale = 1 / math.sqrt(head_dim)
    flash_attention[(tl.cdiv(seq, BM), batch * heads)].with_host_arrays(
        q, k, v, o, sm_scale, HEAD_DIM=head_dim, CAUSAL=causal, BM=BM, BN=BN, target=target)
    ref = reference(q, k, v, sm_scale, causal)
    err = float(np.max(np.abs(o.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


TUNE_SPACE = dict(BM=[32, 64, 128], BN=[32, 64], num_warps=[4, 8])


def tune_inputs(batch: int = 1, heads: int = 2, seq: int = 256, head_dim: int = 64,
                causal: bool = False) -> dict:
    """Inputs of ``tilelang tune examples/flash_attention.py:flash_attention --sizes ...``."""
    rng = np.random.default_rng(0)
    shape = (batch, heads, seq, head_dim)
    q, k, v = (rng.standard_normal(shape).astype(ml_dtypes.bfloat16) for _ in range(3))
    sm_scale = 1 / math.sqrt(head_dim)
    ref = reference(q, k, v, sm_scale, causal)
    return dict(args=(q, k, v, np.zeros(shape, ml_dtypes.bfloat16), sm_scale),
                kwargs=dict(HEAD_DIM=head_dim, CAUSAL=causal),
                grid=lambda meta: (tl.cdiv(seq, meta["BM"]), batch * heads),
                reference=lambda **inputs: ref, rtol=0.0,
                atol=TOLERANCE * float(np.max(np.abs(ref))))


if __name__ == "__main__":
    ok_all = True
    for causal in (False, True):
        for d in (64, 128):
            err, ok = run(head_dim=d, causal=causal)
            ok_all &= ok
            print(f"flash_attention seq=200 head_dim={d} causal={causal}: max relative error "
                  f"{err:.2e} (tolerance {TOLERANCE:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
