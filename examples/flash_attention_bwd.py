"""Flash attention backward: dQ, dK, dV of O = softmax(Q K^T * sm_scale [+ causal]) V.

Q, dQ, O and dO are bf16 tensors [batch, heads, seq, HEAD_DIM]; K, V, dK and dV
are [batch, kv_heads, seq, HEAD_DIM] with ``heads = GROUP * kv_heads``
(grouped-query attention: query head h reads key/value head h // GROUP;
GROUP = 1 is multi-head attention).

Four kernels, as in FlashAttention-2, none of them with atomics:

1. ``attention_fwd``: the forward pass, which also stores the log-sum-exp of
   each query row, ``LSE = m + log2(l)`` in base 2 (the scores are multiplied
   by ``sm_scale * log2(e)`` as in the forward example), f32 [batch, heads, seq];
2. ``attention_bwd_preprocess``: ``Delta = rowsum(dO * O)`` (f32), the term of
   the softmax gradient ``dS = P * (dP - Delta)`` that needs a whole row;
3. ``attention_bwd_dkdv``: one program per block of BN keys of one key/value
   head: it recomputes ``P = exp2(S - LSE)`` for every block of BM queries of
   every query head of its group and accumulates ``dV += P^T dO`` and
   ``dK += dS^T Q`` in f32 registers;
4. ``attention_bwd_dq``: one program per block of BM queries: ``dQ += dS K``
   over the key blocks.

Rows and columns past the sequence end (a ragged last block) and, when CAUSAL,
keys after the query get ``P = 0``; a causal dK/dV program starts at the query
block of its diagonal and a causal dQ program stops at it, so blocks entirely
above the diagonal are never loaded.

Tolerance: P and dS are rounded to bf16 before their products (as on GPUs) and
the gradients are stored as bf16; relative to the float64 gradients (max |g -
ref| / max |ref| per gradient) we allow 1e-2.
"""

from __future__ import annotations

import math
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import bf16, f32

TOLERANCE = 1e-2  # bf16 gradients, relative to max |reference| of each
LOG2E = 1.4426950408889634


@tl.kernel(num_warps=4)
def attention_fwd(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, O: tl.Tensor, LSE: tl.Tensor,
                  sm_scale: float, HEAD_DIM: tl.constexpr, GROUP: tl.constexpr = 1,
                  CAUSAL: tl.constexpr = False, BM: tl.constexpr = 64, BN: tl.constexpr = 64):
    H, S = Q.shape[1], Q.shape[2]
    m0 = tl.program_id(0) * BM
    z = tl.program_id(1) // H
    h = tl.program_id(1) % H
    hk = h // GROUP
    q = tl.load(Q, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    rows = m0 + tl.arange(BM)
    qk_scale = sm_scale * LOG2E
    m_i = tl.full((BM,), float("-inf"), f32)
    l_i = tl.zeros((BM,), f32)
    acc = tl.zeros((BM, HEAD_DIM), f32)
    end = tl.minimum(S, m0 + BM) if CAUSAL else S
    for j in tl.pipeline(tl.cdiv(end, BN), stages=2):
        n0 = j * BN
        k = tl.load(K, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        v = tl.load(V, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
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
    tl.store(LSE, (z, h, m0), (m_i + tl.log2(l_i)).reshape((1, 1, BM)))


@tl.kernel(num_warps=4)
def attention_bwd_preprocess(O: tl.Tensor, dO: tl.Tensor, Delta: tl.Tensor,
                             HEAD_DIM: tl.constexpr, BM: tl.constexpr = 64):
    H = O.shape[1]
    m0 = tl.program_id(0) * BM
    z = tl.program_id(1) // H
    h = tl.program_id(1) % H
    o = tl.load(O, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    do = tl.load(dO, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    delta = tl.sum(o.to(f32) * do.to(f32), 1)
    tl.store(Delta, (z, h, m0), delta.reshape((1, 1, BM)))


@tl.kernel(num_warps=8)
def attention_bwd_dkdv(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, dO: tl.Tensor,
                       LSE: tl.Tensor, Delta: tl.Tensor, dK: tl.Tensor, dV: tl.Tensor,
                       sm_scale: float, HEAD_DIM: tl.constexpr, GROUP: tl.constexpr = 1,
                       CAUSAL: tl.constexpr = False, BM: tl.constexpr = 32,
                       BN: tl.constexpr = 64):
    HK, S = K.shape[1], K.shape[2]
    n0 = tl.program_id(0) * BN
    z = tl.program_id(1) // HK
    hk = tl.program_id(1) % HK
    k = tl.load(K, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
    v = tl.load(V, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
    cols = n0 + tl.arange(BN)
    qk_scale = sm_scale * LOG2E
    dk = tl.zeros((BN, HEAD_DIM), f32)
    dv = tl.zeros((BN, HEAD_DIM), f32)
    first = n0 // BM if CAUSAL else 0    # query blocks above the diagonal see no key here
    for g in range(GROUP):
        h = hk * GROUP + g
        for j in range(first, tl.cdiv(S, BM)):
            m0 = j * BM
            q = tl.load(Q, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
            do = tl.load(dO, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
            lse = tl.load(LSE, (z, h, m0), (1, 1, BM)).reshape((BM,))
            delta = tl.load(Delta, (z, h, m0), (1, 1, BM)).reshape((BM,))
            rows = m0 + tl.arange(BM)
            keep = (rows[:, None] < S) & (cols[None, :] < S)
            if CAUSAL:
                keep = keep & (cols[None, :] <= rows[:, None])
            s = tl.dot(q, tl.trans(k)) * qk_scale
            p = tl.where(keep, tl.exp2(s - lse[:, None]), 0.0)
            dv = tl.dot(tl.trans(p.to(bf16)), do, dv)
            dp = tl.dot(do, tl.trans(v))
            ds = p * (dp - delta[:, None])
            dk = tl.dot(tl.trans(ds.to(bf16)), q, dk)
    tl.store(dK, (z, hk, n0, 0), (dk * sm_scale).to(dK.dtype).reshape((1, 1, BN, HEAD_DIM)))
    tl.store(dV, (z, hk, n0, 0), dv.to(dV.dtype).reshape((1, 1, BN, HEAD_DIM)))


@tl.kernel(num_warps=4)
def attention_bwd_dq(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, dO: tl.Tensor,
                     LSE: tl.Tensor, Delta: tl.Tensor, dQ: tl.Tensor, sm_scale: float,
                     HEAD_DIM: tl.constexpr, GROUP: tl.constexpr = 1,
                     CAUSAL: tl.constexpr = False, BM: tl.constexpr = 64,
                     BN: tl.constexpr = 32):
    H, S = Q.shape[1], Q.shape[2]
    m0 = tl.program_id(0) * BM
    z = tl.program_id(1) // H
    h = tl.program_id(1) % H
    hk = h // GROUP
    q = tl.load(Q, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    do = tl.load(dO, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    lse = tl.load(LSE, (z, h, m0), (1, 1, BM)).reshape((BM,))
    delta = tl.load(Delta, (z, h, m0), (1, 1, BM)).reshape((BM,))
    rows = m0 + tl.arange(BM)
    qk_scale = sm_scale * LOG2E
    dq = tl.zeros((BM, HEAD_DIM), f32)
    end = tl.minimum(S, m0 + BM) if CAUSAL else S
    for j in range(tl.cdiv(end, BN)):
        n0 = j * BN
        k = tl.load(K, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        v = tl.load(V, (z, hk, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        cols = n0 + tl.arange(BN)
        keep = (rows[:, None] < S) & (cols[None, :] < S)
        if CAUSAL:
            keep = keep & (cols[None, :] <= rows[:, None])
        s = tl.dot(q, tl.trans(k)) * qk_scale
        p = tl.where(keep, tl.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(bf16), k, dq)
    tl.store(dQ, (z, h, m0, 0), (dq * sm_scale).to(dQ.dtype).reshape((1, 1, BM, HEAD_DIM)))


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, do: np.ndarray, sm_scale: float,
              causal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O, dQ, dK, dV in float64 (K, V repeated over each group of query heads, their
    gradients summed back over the group)."""
    q, k, v, do = (a.astype(np.float64) for a in (q, k, v, do))
    group = q.shape[1] // k.shape[1]
    kr, vr = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = q @ np.swapaxes(kr, -1, -2) * sm_scale
    if causal:
        n = s.shape[-1]
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ vr
    dvr = np.swapaxes(p, -1, -2) @ do
    dp = do @ np.swapaxes(vr, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    dq = ds @ kr * sm_scale
    dkr = np.swapaxes(ds, -1, -2) @ q * sm_scale
    b, hk, seq, d = k.shape
    dk = dkr.reshape(b, hk, group, seq, d).sum(axis=2)
    dv = dvr.reshape(b, hk, group, seq, d).sum(axis=2)
    return o, dq, dk, dv


# (BM, BN) of each backward kernel: dK/dV holds two f32 BN x HEAD_DIM accumulators,
# so it takes 8 warps and 32-query blocks to stay in registers at head dim 128
DKDV_BLOCKS = (32, 64)
DQ_BLOCKS = (64, 32)


def attention_backward(q: np.ndarray, k: np.ndarray, v: np.ndarray, do: np.ndarray,
                       sm_scale: float, causal: bool = False, target: str | None = "interp",
                       BM: int = 64, BN: int = 64, dkdv_blocks: tuple[int, int] = DKDV_BLOCKS,
                       dq_blocks: tuple[int, int] = DQ_BLOCKS) -> tuple[np.ndarray, ...]:
    """O, dQ, dK, dV of bf16 host arrays: the forward (``BM`` x ``BN`` blocks) with
    its LSE, then the three backward kernels (``dkdv_blocks``, ``dq_blocks``)."""
    b, h, seq, d = q.shape
    group = h // k.shape[1]
    o, dq = np.zeros_like(q), np.zeros_like(q)
    dk, dv = np.zeros_like(k), np.zeros_like(k)
    lse = np.zeros((b, h, seq), np.float32)
    delta = np.zeros((b, h, seq), np.float32)
    opts = dict(HEAD_DIM=d, GROUP=group, CAUSAL=causal, target=target)
    q_grid = (tl.cdiv(seq, BM), b * h)
    attention_fwd[q_grid].with_host_arrays(q, k, v, o, lse, sm_scale, BM=BM, BN=BN, **opts)
    attention_bwd_preprocess[q_grid].with_host_arrays(o, do, delta, HEAD_DIM=d, BM=BM,
                                                      target=target)
    bm, bn = dkdv_blocks
    attention_bwd_dkdv[(tl.cdiv(seq, bn), b * k.shape[1])].with_host_arrays(
        q, k, v, do, lse, delta, dk, dv, sm_scale, BM=bm, BN=bn, **opts)
    bm, bn = dq_blocks
    attention_bwd_dq[(tl.cdiv(seq, bm), b * h)].with_host_arrays(
        q, k, v, do, lse, delta, dq, sm_scale, BM=bm, BN=bn, **opts)
    return o, dq, dk, dv


def run(target: str | None = "interp", batch: int = 1, heads: int = 2, kv_heads: int = 2,
        seq: int = 200, head_dim: int = 64, causal: bool = False, BM: int = 64,
        BN: int = 64, dkdv_blocks: tuple[int, int] = DKDV_BLOCKS,
        dq_blocks: tuple[int, int] = DQ_BLOCKS) -> tuple[float, bool]:
    """The gradients of random bf16 Q, K, V, dO; returns (worst relative max error, ok)."""
    rng = np.random.default_rng(0)
    qshape, kshape = (batch, heads, seq, head_dim), (batch, kv_heads, seq, head_dim)
    q, do = (rng.standard_normal(qshape).astype(ml_dtypes.bfloat16) for _ in range(2))
    k, v = (rng.standard_normal(kshape).astype(ml_dtypes.bfloat16) for _ in range(2))
    sm_scale = 1 / math.sqrt(head_dim)
    got = attention_backward(q, k, v, do, sm_scale, causal, target, BM, BN, dkdv_blocks,
                             dq_blocks)
    want = reference(q, k, v, do, sm_scale, causal)
    err = max(float(np.max(np.abs(g.astype(np.float64) - w)) / np.max(np.abs(w)))
              for g, w in zip(got, want))
    return err, err <= TOLERANCE


if __name__ == "__main__":
    ok_all = True
    for causal in (False, True):
        for d, kv in ((64, 2), (128, 1)):
            err, ok = run(head_dim=d, kv_heads=kv, causal=causal)
            ok_all &= ok
            print(f"flash_attention_bwd seq=200 head_dim={d} heads=2 kv_heads={kv} "
                  f"causal={causal}: max relative error {err:.2e} (tolerance "
                  f"{TOLERANCE:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
