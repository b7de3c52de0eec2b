"""Decode attention over a paged KV cache, with variable sequence lengths and split-KV.

Serving keeps each sequence's keys and values in fixed-size pages of a shared
cache, ``K_CACHE`` and ``V_CACHE`` of shape [pages, PAGE, kv_heads, HEAD_DIM]
(bf16), and a block table [batch, max_pages] (i32) listing each sequence's pages
in order; ``SEQ_LENS`` [batch] (i32) gives how many tokens each sequence has.
One decode step attends one new query per sequence and head, Q [batch, heads,
HEAD_DIM], to its sequence's cached tokens (grouped-query: query head h reads
key/value head h // GROUP).

A long sequence on few heads would leave most of the GPU idle, so the keys are
split (FlashDecoding): program (split, b * heads + h) walks the pages of its
share of the sequence, ``PAGES_PER_SPLIT`` at a time, with the online softmax,
and writes an unnormalized partial output and its log-sum-exp (base 2) to
``O_PART`` [batch, heads, splits, HEAD_DIM] and ``LSE_PART`` [batch, heads,
splits] (f32). ``paged_decode_combine`` then weighs the partials by
``exp2(lse - max lse)`` into O [batch, heads, HEAD_DIM]. A split past the end
of its sequence writes an LSE of -inf and weighs nothing.

A page's index is read from the block table as a scalar (a one-element window
summed) and becomes the offset of the page's K and V windows, so the pages of a
sequence can lie anywhere in the cache; tokens of the last page past the
sequence length are masked.

Tolerance: bf16 output; relative to max |reference| we allow 1e-2.
"""

from __future__ import annotations

import math
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import f32

TOLERANCE = 1e-2
LOG2E = 1.4426950408889634


@tl.kernel(num_warps=4)
def paged_decode(Q: tl.Tensor, K_CACHE: tl.Tensor, V_CACHE: tl.Tensor, BLOCK_TABLE: tl.Tensor,
                 SEQ_LENS: tl.Tensor, O_PART: tl.Tensor, LSE_PART: tl.Tensor, sm_scale: float,
                 HEAD_DIM: tl.constexpr, PAGE: tl.constexpr, GROUP: tl.constexpr = 1,
                 PAGES_PER_SPLIT: tl.constexpr = 4):
    H = Q.shape[1]
    split = tl.program_id(0)
    b = tl.program_id(1) // H
    h = tl.program_id(1) % H
    hk = h // GROUP
    seq_len = tl.sum(tl.load(SEQ_LENS, (b,), (1,)))
    q = tl.load(Q, (b, h, 0), (1, 1, HEAD_DIM)).reshape((1, HEAD_DIM)).to(f32)
    qk_scale = sm_scale * LOG2E
    m_i = tl.full((1,), float("-inf"), f32)
    l_i = tl.zeros((1,), f32)
    acc = tl.zeros((1, HEAD_DIM), f32)
    first = split * PAGES_PER_SPLIT
    last = tl.minimum(first + PAGES_PER_SPLIT, tl.cdiv(seq_len, PAGE))
    for p in range(first, last):
        page = tl.sum(tl.load(BLOCK_TABLE, (b, p), (1, 1)))
        k = tl.load(K_CACHE, (page, 0, hk, 0), (1, PAGE, 1, HEAD_DIM)).reshape((PAGE, HEAD_DIM))
        v = tl.load(V_CACHE, (page, 0, hk, 0), (1, PAGE, 1, HEAD_DIM)).reshape((PAGE, HEAD_DIM))
        tokens = p * PAGE + tl.arange(PAGE)
        s = tl.sum(q * k.to(f32), 1) * qk_scale                       # (PAGE,)
        s = tl.where(tokens < seq_len, s, float("-inf")).reshape((1, PAGE))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        w = tl.exp2(s - m_new[:, None])                                # (1, PAGE)
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(w, 1)
        acc = acc * alpha[:, None] + tl.sum(w.reshape((PAGE, 1)) * v.to(f32), 0)[None, :]
        m_i = m_new
    # an empty split (past the sequence's end) leaves m = -inf, l = 0: LSE -inf, O 0
    seen = l_i > 0
    o = tl.where(seen[:, None], acc / tl.where(seen, l_i, 1.0)[:, None], 0.0)
    lse = tl.where(seen, m_i + tl.log2(tl.where(seen, l_i, 1.0)), float("-inf"))
    tl.store(O_PART, (b, h, split, 0), o.reshape((1, 1, 1, HEAD_DIM)))
    tl.store(LSE_PART, (b, h, split), lse.reshape((1, 1, 1)))


@tl.kernel(num_warps=4)
def paged_decode_combine(O_PART: tl.Tensor, LSE_PART: tl.Tensor, O: tl.Tensor,
                         HEAD_DIM: tl.constexpr, SPLITS: tl.constexpr):
    H = O.shape[1]
    b = tl.program_id(0) // H
    h = tl.program_id(0) % H
    lse = tl.load(LSE_PART, (b, h, 0), (1, 1, SPLITS), other=float("-inf")).reshape((SPLITS,))
    parts = tl.load(O_PART, (b, h, 0, 0), (1, 1, SPLITS, HEAD_DIM)).reshape((SPLITS, HEAD_DIM))
    top = tl.max(lse, 0)
    top = tl.where(top == float("-inf"), 0.0, top)                   # an empty sequence
    w = tl.exp2(lse - top)                                            # (SPLITS,)
    total = tl.sum(w, 0)
    o = tl.sum(w[:, None] * parts, 0) / tl.where(total > 0, total, 1.0)
    tl.store(O, (b, h, 0), o.to(O.dtype).reshape((1, 1, HEAD_DIM)))


def splits_for(max_len: int, page: int, pages_per_split: int) -> int:
    """Splits covering the longest sequence (a power of two: the combine's tile)."""
    n = tl.cdiv(tl.cdiv(max(max_len, 1), page), pages_per_split)
    return 1 << (n - 1).bit_length()


def decode(q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, block_table: np.ndarray,
           seq_lens: np.ndarray, sm_scale: float, pages_per_split: int = 4,
           target: str | None = "interp") -> np.ndarray:
    """O [batch, heads, head_dim] of one decode step (bf16 host arrays)."""
    b, h, d = q.shape
    page, group = k_cache.shape[1], h // k_cache.shape[2]
    splits = splits_for(int(seq_lens.max()), page, pages_per_split)
    o_part = np.zeros((b, h, splits, d), np.float32)
    lse_part = np.zeros((b, h, splits), np.float32)
    o = np.zeros_like(q)
    paged_decode[(splits, b * h)].with_host_arrays(
        q, k_cache, v_cache, block_table, seq_lens, o_part, lse_part, sm_scale, HEAD_DIM=d,
        PAGE=page, GROUP=group, PAGES_PER_SPLIT=pages_per_split, target=target)
    paged_decode_combine[(b * h,)].with_host_arrays(o_part, lse_part, o, HEAD_DIM=d,
                                                    SPLITS=splits, target=target)
    return o


def reference(q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray,
              block_table: np.ndarray, seq_lens: np.ndarray, sm_scale: float) -> np.ndarray:
    """float64, one sequence at a time: gather its tokens from its pages, then attend."""
    b, h, d = q.shape
    page, group = k_cache.shape[1], h // k_cache.shape[2]
    out = np.zeros((b, h, d))
    for i in range(b):
        n = int(seq_lens[i])
        if n == 0:
            continue
        pages = block_table[i, :tl.cdiv(n, page)]
        k = k_cache[pages].reshape(-1, k_cache.shape[2], d)[:n].astype(np.float64)
        v = v_cache[pages].reshape(-1, v_cache.shape[2], d)[:n].astype(np.float64)
        for j in range(h):
            s = k[:, j // group] @ q[i, j].astype(np.float64) * sm_scale
            p = np.exp(s - s.max())
            out[i, j] = p @ v[:, j // group] / p.sum()
    return out


def make_cache(seq_lens: list[int], heads: int, kv_heads: int, head_dim: int, page: int,
               seed: int = 0) -> tuple[np.ndarray, ...]:
    """Q, a cache with the sequences' pages shuffled over it, the block table."""
    rng = np.random.default_rng(seed)
    need = [tl.cdiv(n, page) for n in seq_lens]
    total = sum(need) + 3                                   # some pages nobody uses
    order = rng.permutation(total)
    table = np.zeros((len(seq_lens), max(max(need), 1)), np.int32)
    at = 0
    for i, n in enumerate(need):
        table[i, :n] = order[at:at + n]
        at += n
    bf = ml_dtypes.bfloat16
    k_cache = rng.standard_normal((total, page, kv_heads, head_dim)).astype(bf)
    v_cache = rng.standard_normal((total, page, kv_heads, head_dim)).astype(bf)
    q = rng.standard_normal((len(seq_lens), heads, head_dim)).astype(bf)
    return q, k_cache, v_cache, table, np.asarray(seq_lens, np.int32)


def run(target: str | None = "interp", seq_lens: tuple[int, ...] = (1, 37, 200, 64),
        heads: int = 4, kv_heads: int = 2, head_dim: int = 64, page: int = 16,
        pages_per_split: int = 4) -> tuple[float, bool]:
    """One decode step over sequences of ``seq_lens`` tokens; (relative max error, ok)."""
    q, kc, vc, table, lens = make_cache(list(seq_lens), heads, kv_heads, head_dim, page)
    sm_scale = 1 / math.sqrt(head_dim)
    o = decode(q, kc, vc, table, lens, sm_scale, pages_per_split, target)
    ref = reference(q, kc, vc, table, lens, sm_scale)
    err = float(np.max(np.abs(o.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


if __name__ == "__main__":
    ok_all = True
    for lens, kv in (((1, 37, 200, 64), 2), ((513, 5), 1), ((16, 16, 16), 4)):
        err, ok = run(seq_lens=lens, kv_heads=kv)
        ok_all &= ok
        print(f"paged_attention seq_lens={lens} heads=4 kv_heads={kv}: max relative error "
              f"{err:.2e} (tolerance {TOLERANCE:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
