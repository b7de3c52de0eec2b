"""Triton baselines for benchmarks/run.py: a matmul and a fused-attention forward,
written after Triton's tutorials (03-matrix-multiplication, 06-fused-attention)
and autotuned over a few configurations each, as the tutorials do.

* ``matmul(a, b)``: bf16 [M, K] @ [K, N] -> bf16 [M, N], f32 accumulation,
  grouped program order (GROUP_SIZE_M = 8), pointer blocks advanced along K.
* ``attention(q, k, v, sm_scale, causal)``: bf16 [batch, heads, seq, d] ->
  bf16 O, online softmax with exp2; causal runs the blocks below the diagonal
  unmasked and the diagonal block masked (the tutorial's two stages).

Both take torch CUDA tensors. Importing this module needs triton (the caller
reports the baseline as n/a when it is missing); ``compile_only(target)``
compiles one configuration of each for a GPU architecture without a GPU, which
the harness's tests use where triton is installed.
"""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl

_MATMUL_CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64}, num_stages=3, num_warps=8),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64}, num_stages=4, num_warps=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32}, num_stages=4, num_warps=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 256, "BLOCK_K": 32}, num_stages=4, num_warps=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32}, num_stages=4, num_warps=4),
]


@triton.jit
def _matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
                   stride_cm, stride_cn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                   BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    rows = min(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % rows
    pid_n = (pid % per_group) // rows
    offs_m = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_n = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < left, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < left, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    rows_c = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols_c = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + rows_c[:, None] * stride_cm + cols_c[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(tl.bfloat16), mask=(rows_c[:, None] < M) & (cols_c[None, :] < N))


_matmul_tuned = triton.autotune(configs=_MATMUL_CONFIGS, key=["M", "N", "K"])(_matmul_kernel)


def matmul(a: Any, b: Any, c: Any = None) -> Any:
    """C = A @ B on torch bf16 CUDA tensors (autotuned on the first call per shape)."""
    import torch
    M, K = a.shape
    N = b.shape[1]
    if c is None:
        c = torch.empty((M, N), device=a.device, dtype=torch.bfloat16)

    def grid(meta: dict) -> tuple:
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    _matmul_tuned[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                        c.stride(0), c.stride(1), GROUP_M=8)
    return c


_ATTN_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_stages=s, num_warps=w)
    for bm, bn, s, w in [(128, 64, 3, 8), (128, 128, 3, 8), (64, 64, 4, 4), (128, 64, 4, 4)]
]


@triton.jit
def _attn_inner(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, start_m, qk_scale,
                N_CTX, lo, hi, MASKED: tl.constexpr, BLOCK_M: tl.constexpr,
                BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        cols = start_n + offs_n
        k = tl.load(k_base + cols[None, :] * stride_kn + offs_d[:, None],
                    mask=cols[None, :] < N_CTX, other=0.0)
        qk = tl.dot(q, k) * qk_scale
        keep = cols[None, :] < N_CTX
        if MASKED:
            keep = keep & (offs_m[:, None] >= cols[None, :])
        qk = tl.where(keep, qk, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :],
                    mask=cols[:, None] < N_CTX, other=0.0)
        acc = tl.dot(p.to(tl.bfloat16), v, acc * alpha[:, None])
        m_i = m_ij
    return acc, l_i, m_i


@triton.jit
def _attn_fwd(Q, K, V, Out, sm_scale, stride_qh, stride_qm, stride_kh, stride_kn,
              stride_vh, stride_vn, stride_oh, stride_om, N_CTX,
              HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr,
              BLOCK_N: tl.constexpr):
    # Q, K, V, Out: [batch * heads, seq, HEAD_DIM] with a unit innermost stride
    start_m = tl.program_id(0)
    bh = tl.program_id(1)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + bh * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :],
                mask=offs_m[:, None] < N_CTX, other=0.0)
    k_base = K + bh * stride_kh
    v_base = V + bh * stride_vh
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504
    if CAUSAL:
        # blocks entirely below the diagonal unmasked, then the diagonal band masked
        full = (start_m * BLOCK_M) // BLOCK_N * BLOCK_N
        acc, l_i, m_i = _attn_inner(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn,
                                    start_m, qk_scale, N_CTX, 0, full, False, BLOCK_M,
                                    BLOCK_N, HEAD_DIM)
        acc, l_i, m_i = _attn_inner(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn,
                                    start_m, qk_scale, N_CTX, full,
                                    tl.minimum((start_m + 1) * BLOCK_M, N_CTX), True,
                                    BLOCK_M, BLOCK_N, HEAD_DIM)
    else:
        acc, l_i, m_i = _attn_inner(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn,
                                    start_m, qk_scale, N_CTX, 0, N_CTX, False, BLOCK_M,
                                    BLOCK_N, HEAD_DIM)
    acc = acc / l_i[:, None]
    tl.store(Out + bh * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :],
             acc.to(tl.bfloat16), mask=offs_m[:, None] < N_CTX)


_attn_tuned = triton.autotune(configs=_ATTN_CONFIGS, key=["N_CTX", "HEAD_DIM", "CAUSAL"])(
    _attn_fwd)


def attention(q: Any, k: Any, v: Any, sm_scale: float, causal: bool, o: Any = None) -> Any:
    """Attention forward on torch bf16 CUDA tensors [batch, heads, seq, d] (contiguous)."""
    import torch
    B, H, S, D = q.shape
    if o is None:
        o = torch.empty_like(q)
    q3, k3, v3, o3 = (t.view(B * H, S, D) for t in (q, k, v, o))

    def grid(meta: dict) -> tuple:
        return (triton.cdiv(S, meta["BLOCK_M"]), B * H)

    _attn_tuned[grid](q3, k3, v3, o3, sm_scale, q3.stride(0), q3.stride(1), k3.stride(0),
                      k3.stride(1), v3.stride(0), v3.stride(1), o3.stride(0), o3.stride(1), S,
                      HEAD_DIM=D, CAUSAL=causal)
    return o


def compile_only(target: str = "sm_90a") -> dict[str, int]:
    """Compile the first configuration of each kernel for ``target`` without a GPU; the
    PTX size of each (a smoke test that the kernels are valid Triton)."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    gpu = GPUTarget("cuda", int(target[3:5]), 32)
    out = {}
    cfg = _MATMUL_CONFIGS[0]
    sig = {n: ("*bf16" if n.endswith("_ptr") else "i32") for n in _matmul_kernel.arg_names}
    consts = dict(cfg.kwargs, GROUP_M=8)
    sig.update(dict.fromkeys(consts, "constexpr"))
    src = ASTSource(fn=_matmul_kernel, signature=sig, constexprs=consts)
    out["matmul"] = len(triton.compile(src, target=gpu, options=dict(
        num_warps=cfg.num_warps, num_stages=cfg.num_stages)).asm["ptx"])
    for causal in (False, True):
        cfg = _ATTN_CONFIGS[0]
        sig = {n: "i32" for n in _attn_fwd.arg_names}
        sig.update({n: "*bf16" for n in ("Q", "K", "V", "Out")}, sm_scale="fp32")
        consts = dict(cfg.kwargs, HEAD_DIM=64, CAUSAL=causal)
        sig.update(dict.fromkeys(consts, "constexpr"))
        src = ASTSource(fn=_attn_fwd, signature=sig, constexprs=consts)
        out[f"attention{'_causal' if causal else ''}"] = len(triton.compile(
            src, target=gpu, options=dict(num_warps=cfg.num_warps,
                                          num_stages=cfg.num_stages)).asm["ptx"])
    return out
