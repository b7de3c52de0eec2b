"""FlexAttention: one attention kernel whose scores and mask are plain functions.

``score_mod(score, b, h, q_idx, kv_idx, aux)`` rewrites the scaled scores
``Q K^T * sm_scale`` of a tile (``q_idx`` is a column of query positions,
``kv_idx`` a row of key positions, ``b`` and ``h`` the batch and head) and
``mask_mod(b, h, q_idx, kv_idx, aux)`` says which keys each query sees. Both are
``@tl.func``s passed as constexprs, so each combination compiles into its own
kernel with the hooks inlined. ``aux`` is a tensor argument the hooks may read
(per-head ALiBi slopes here; it stands in for the tensors a FlexAttention hook
closes over, which a compiled kernel can only receive as arguments).

Block sparsity: ``create_block_mask`` runs ``mask_mod`` over every (BM x BN)
block of the score matrix in a small kernel and classifies each block as empty,
partial or full. Per query block the attention kernel receives the number of
non-empty key blocks, their indices and which of them are full; it visits only
those, and calls ``mask_mod`` only on the partial ones. A query row that no key
is visible to gets a zero output (as FlexAttention gives).

Hooks defined here: ``causal``, ``sliding_window(w)`` (causal, at most ``w``
keys back), ``alibi`` (score minus ``slope[h] * (q - kv)``) and
``softcap(c)`` (``c * tanh(score / c)``). Each has a numpy twin for the
float64 reference.

Tolerance: as the forward example (bf16 P before P @ V, bf16 output): 2e-2 of
max |reference|.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import bf16, f32, i32

TOLERANCE = 2e-2
LOG2E = 1.4426950408889634

EMPTY, PARTIAL, FULL = 0, 1, 2


# -- hooks -----------------------------------------------------------------------------

@tl.func
def no_score_mod(score, b, h, q_idx, kv_idx, aux):
    return score


@tl.func
def no_mask(b, h, q_idx, kv_idx, aux):
    return kv_idx >= 0


@tl.func
def causal(b, h, q_idx, kv_idx, aux):
    return kv_idx <= q_idx


def sliding_window(window: int) -> tl.func:
    """Causal attention to the last ``window`` keys (the query's own included)."""
    @tl.func
    def mask(b, h, q_idx, kv_idx, aux):
        return (kv_idx <= q_idx) & (q_idx - kv_idx < window)
    return mask


@tl.func
def alibi(score, b, h, q_idx, kv_idx, aux):
    slope = tl.load(aux, (h,), (1,))
    return score - slope * (q_idx - kv_idx).to(f32)


def softcap(cap: float) -> tl.func:
    """Scores squashed into (-cap, cap) (Gemma 2's attention logit softcapping)."""
    @tl.func
    def mod(score, b, h, q_idx, kv_idx, aux):
        return tl.tanh(score / cap) * cap
    return mod


# their numpy twins, over broadcast index arrays (for the reference)
def np_causal(b, h, q, kv, aux):
    return kv <= q


def np_sliding_window(window: int) -> Callable:
    return lambda b, h, q, kv, aux: (kv <= q) & (q - kv < window)


def np_alibi(score, b, h, q, kv, aux):
    return score - aux[h] * (q - kv)


def np_softcap(cap: float) -> Callable:
    return lambda score, b, h, q, kv, aux: np.tanh(score / cap) * cap


def alibi_slopes(heads: int) -> np.ndarray:
    """The ALiBi paper's geometric slopes 2^(-8 (h + 1) / heads)."""
    return np.exp2(-8.0 * (np.arange(heads) + 1) / heads).astype(np.float32)


# -- kernels ---------------------------------------------------------------------------

@tl.kernel(num_warps=4)
def block_mask_kernel(AUX: tl.Tensor, FLAGS: tl.Tensor, SQ: int, SKV: int,
                      MASK_MOD: tl.constexpr, BM: tl.constexpr = 64, BN: tl.constexpr = 64):
    """FLAGS[b, h, i, j] = EMPTY, PARTIAL or FULL for query block i, key block j."""
    H = FLAGS.shape[1]
    i, j = tl.program_id(0), tl.program_id(1)
    z = tl.program_id(2) // H
    h = tl.program_id(2) % H
    rows = (i * BM + tl.arange(BM))[:, None]
    cols = (j * BN + tl.arange(BN))[None, :]
    inside = (rows < SQ) & (cols < SKV)
    visible = inside & MASK_MOD(z, h, rows, cols, AUX)
    seen = tl.sum(visible.to(i32))
    flag = tl.where(seen == 0, EMPTY, tl.where(seen == tl.sum(inside.to(i32)), FULL, PARTIAL))
    tl.store(FLAGS, (z, h, i, j), tl.full((1, 1, 1, 1), flag, i32))


@tl.kernel(num_warps=4)
def flex_attention(Q: tl.Tensor, K: tl.Tensor, V: tl.Tensor, O: tl.Tensor, AUX: tl.Tensor,
                   KV_NUM: tl.Tensor, KV_IDX: tl.Tensor, KV_FULL: tl.Tensor, sm_scale: float,
                   HEAD_DIM: tl.constexpr, SCORE_MOD: tl.constexpr = no_score_mod,
                   MASK_MOD: tl.constexpr = no_mask, BM: tl.constexpr = 64,
                   BN: tl.constexpr = 64):
    H, SQ, SKV = Q.shape[1], Q.shape[2], K.shape[2]
    qb = tl.program_id(0)
    m0 = qb * BM
    z = tl.program_id(1) // H
    h = tl.program_id(1) % H
    q = tl.load(Q, (z, h, m0, 0), (1, 1, BM, HEAD_DIM)).reshape((BM, HEAD_DIM))
    rows = (m0 + tl.arange(BM))[:, None]
    m_i = tl.full((BM,), float("-inf"), f32)
    l_i = tl.zeros((BM,), f32)
    acc = tl.zeros((BM, HEAD_DIM), f32)
    blocks = tl.sum(tl.load(KV_NUM, (z, h, qb), (1, 1, 1)))
    for jj in range(blocks):
        kb = tl.sum(tl.load(KV_IDX, (z, h, qb, jj), (1, 1, 1, 1)))
        full = tl.sum(tl.load(KV_FULL, (z, h, qb, jj), (1, 1, 1, 1)))
        n0 = kb * BN
        k = tl.load(K, (z, h, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        v = tl.load(V, (z, h, n0, 0), (1, 1, BN, HEAD_DIM)).reshape((BN, HEAD_DIM))
        cols = (n0 + tl.arange(BN))[None, :]
        s = SCORE_MOD(tl.dot(q, tl.trans(k)) * sm_scale, z, h, rows, cols, AUX)
        keep = (cols < SKV) & (rows < SQ)
        if full == 0:                      # only a partial block asks the mask
            keep = keep & MASK_MOD(z, h, rows, cols, AUX)
        s = tl.where(keep, s * LOG2E, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)   # a row that sees nothing yet
        p = tl.exp2(s - m_use[:, None])
        alpha = tl.exp2(m_i - m_use)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(bf16), v, acc * alpha[:, None])
        m_i = m_new
    o = tl.where(l_i[:, None] > 0, acc / l_i[:, None], 0.0)
    tl.store(O, (z, h, m0, 0), o.to(O.dtype).reshape((1, 1, BM, HEAD_DIM)))


# -- host side -------------------------------------------------------------------------

@dataclass
class BlockMask:
    """Per query block: how many key blocks it visits (``num``), which (``idx``, in
    increasing order, padded with 0) and whether each is full (``full``)."""

    num: np.ndarray    # i32 [batch, heads, q_blocks]
    idx: np.ndarray    # i32 [batch, heads, q_blocks, kv_blocks]
    full: np.ndarray   # i32 [batch, heads, q_blocks, kv_blocks]
    BM: int
    BN: int

    def density(self) -> float:
        """The fraction of blocks visited."""
        return float(self.num.sum()) / self.idx.size


def create_block_mask(mask_mod: tl.func, batch: int, heads: int, sq: int, skv: int,
                      aux: np.ndarray, BM: int = 64, BN: int = 64,
                      target: str | None = "interp") -> BlockMask:
    """Classify every block with ``mask_mod`` on ``target`` and list the visited ones."""
    nq, nk = tl.cdiv(sq, BM), tl.cdiv(skv, BN)
    flags = np.zeros((batch, heads, nq, nk), np.int32)
    block_mask_kernel[(nq, nk, batch * heads)].with_host_arrays(
        aux, flags, sq, skv, MASK_MOD=mask_mod, BM=BM, BN=BN, target=target)
    visited = flags != EMPTY
    num = visited.sum(axis=-1).astype(np.int32)
    # visited blocks first, in order (a stable sort of "not visited")
    order = np.argsort(~visited, axis=-1, kind="stable").astype(np.int32)
    idx = np.where(np.arange(nk) < num[..., None], order, 0).astype(np.int32)
    full = np.where(np.arange(nk) < num[..., None],
                    np.take_along_axis(flags, order, axis=-1) == FULL, False).astype(np.int32)
    return BlockMask(num, idx, full, BM, BN)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, sm_scale: float,
              score_mod: tl.func = no_score_mod, mask_mod: tl.func = no_mask,
              aux: np.ndarray | None = None, block_mask: BlockMask | None = None,
              target: str | None = "interp") -> np.ndarray:
    """O for bf16 host arrays [batch, heads, seq, head_dim]."""
    b, h, sq, d = q.shape
    aux = np.zeros(1, np.float32) if aux is None else aux
    bm = block_mask or create_block_mask(mask_mod, b, h, sq, k.shape[2], aux, target=target)
    o = np.zeros_like(q)
    flex_attention[(tl.cdiv(sq, bm.BM), b * h)].with_host_arrays(
        q, k, v, o, aux, bm.num, bm.idx, bm.full, sm_scale, HEAD_DIM=d, SCORE_MOD=score_mod,
        MASK_MOD=mask_mod, BM=bm.BM, BN=bm.BN, target=target)
    return o


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, sm_scale: float,
              np_score_mod: Callable | None, np_mask_mod: Callable | None,
              aux: np.ndarray) -> np.ndarray:
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    b, h, sq, skv = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
    bi, hi = np.arange(b)[:, None, None, None], np.arange(h)[None, :, None, None]
    qi, ki = np.arange(sq)[:, None], np.arange(skv)[None, :]
    s = q @ np.swapaxes(k, -1, -2) * sm_scale
    if np_score_mod is not None:
        s = np_score_mod(s, bi, hi, qi, ki, aux.astype(np.float64))
    if np_mask_mod is not None:
        s = np.where(np_mask_mod(bi, hi, qi, ki, aux), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    p = np.where(np.isfinite(s), np.exp(s - np.where(np.isfinite(m), m, 0)), 0.0)
    den = p.sum(axis=-1, keepdims=True)
    return np.where(den > 0, (p / np.where(den > 0, den, 1)) @ v, 0.0)


CASES = {
    "plain": (no_score_mod, no_mask, None, None),
    "causal": (no_score_mod, causal, None, np_causal),
    "sliding window 48": (no_score_mod, sliding_window(48), None, np_sliding_window(48)),
    "alibi causal": (alibi, causal, np_alibi, np_causal),
    "softcap 5": (softcap(5.0), no_mask, np_softcap(5.0), None),
}


def run(target: str | None = "interp", case: str = "causal", batch: int = 1, heads: int = 2,
        seq: int = 200, head_dim: int = 64, BM: int = 64,
        BN: int = 64) -> tuple[float, bool]:
    """One of ``CASES`` on random bf16 inputs; returns (relative max error, ok)."""
    score_mod, mask_mod, np_score, np_mask = CASES[case]
    rng = np.random.default_rng(0)
    shape = (batch, heads, seq, head_dim)
    q, k, v = (rng.standard_normal(shape).astype(ml_dtypes.bfloat16) for _ in range(3))
    sm_scale = 1 / math.sqrt(head_dim)
    aux = alibi_slopes(heads)
    bm = create_block_mask(mask_mod, batch, heads, seq, seq, aux, BM, BN, target)
    o = attention(q, k, v, sm_scale, score_mod, mask_mod, aux, bm, target)
    ref = reference(q, k, v, sm_scale, np_score, np_mask, aux)
    err = float(np.max(np.abs(o.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


if __name__ == "__main__":
    ok_all = True
    for case in CASES:
        err, ok = run(case=case)
        ok_all &= ok
        print(f"flex_attention {case}: max relative error {err:.2e} (tolerance "
              f"{TOLERANCE:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
