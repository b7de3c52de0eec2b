"""Triton's versions of examples/matmul.py and examples/flash_attention.py, for
benchmarks/compile_time.py.

Written the way Triton's tutorials write them (03-matrix-multiplication: pointer
blocks, grouped program order; 06-fused-attention forward: online softmax with
exp2), with the tile sizes, warps, stages and dtypes of the tilelang examples'
defaults so that both compilers get the same job:

* matmul: bf16 A, B, C; f32 accumulator; 128 x 128 x 32 tiles; 8 warps; 3
  stages (the example's ``tl.pipeline(..., stages=STAGES)``). Loads are masked
  on both dimensions and read zeros outside, as tilelang's bounds-safe
  ``tl.load`` does; the store is masked.
* attention forward: bf16 Q, K, V, O of shape [batch, heads, seq, HEAD_DIM];
  64 x 64 tiles; 4 warps; keys past the sequence end masked to -inf; not
  causal; 1 stage, since the example's key loop is a plain ``range`` that
  tilelang does not pipeline (Triton's default, 3, would pipeline it).

``compile_kernel(kind, target, ...)`` compiles one with ``triton.compile`` for
``GPUTarget("cuda", cc, 32)``, which needs no GPU (nor torch). Pointers, sizes
and strides get the 16-divisibility hint, and unit strides the constant 1, that
a launch on contiguous, 16-byte-aligned tensors whose sizes are multiples of 16
would give them.

Written against Triton 3.9's API (``ASTSource(fn, signature, constexprs,
attrs)``, ``triton.knobs``); Triton is not a tilelang dependency.
"""

from __future__ import annotations

from typing import Any

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

MATMUL = {"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 128, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
MATMUL_OPTIONS = {"num_warps": 8, "num_stages": 3}
ATTENTION = {"BLOCK_M": 64, "BLOCK_N": 64}
ATTENTION_OPTIONS = {"num_warps": 4, "num_stages": 2}   # the example: tl.pipeline(..., stages=2)


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,
                  BLOCK_SIZE_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_am = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_bn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)

    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        k_left = K - k * BLOCK_SIZE_K
        a = tl.load(a_ptrs, mask=(offs_am[:, None] < M) & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_bn[None, :] < N), other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    c = accumulator.to(tl.bfloat16)

    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


@triton.jit
def attention_fwd_kernel(Q, K, V, Out, sm_scale,
                         stride_qz, stride_qh, stride_qm, stride_qk,
                         stride_kz, stride_kh, stride_kn, stride_kk,
                         stride_vz, stride_vh, stride_vn, stride_vk,
                         stride_oz, stride_oh, stride_om, stride_ok,
                         H, N_CTX,
                         HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    start_m = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)

    q_ptrs = (Q + off_z * stride_qz + off_h * stride_qh
              + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qk)
    k_base = K + off_z * stride_kz + off_h * stride_kh
    v_base = V + off_z * stride_vz + off_h * stride_vh
    q = tl.load(q_ptrs, mask=offs_m[:, None] < N_CTX, other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp2 of scores pre-multiplied by log2(e)
    for start_n in range(0, N_CTX, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(k_base + cols[None, :] * stride_kn + offs_d[:, None] * stride_kk,
                    mask=cols[None, :] < N_CTX, other=0.0)           # K^T block
        qk = tl.dot(q, k)
        qk = tl.where(cols[None, :] < N_CTX, qk * qk_scale, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vk,
                    mask=cols[:, None] < N_CTX, other=0.0)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(tl.bfloat16), v, acc)
        m_i = m_ij
    acc = acc / l_i[:, None]
    o_ptrs = (Out + off_z * stride_oz + off_h * stride_oh
              + offs_m[:, None] * stride_om + offs_d[None, :] * stride_ok)
    tl.store(o_ptrs, acc.to(tl.bfloat16), mask=offs_m[:, None] < N_CTX)


def gpu_target(target: str) -> GPUTarget:
    """``sm_80`` → ``GPUTarget("cuda", 80, 32)``; ``sm_90a`` → capability 90 (Triton
    compiles capability 90 for sm_90a itself)."""
    return GPUTarget("cuda", int(target[3:5]), 32)


def _source(fn: Any, types: dict[str, str], constexprs: dict[str, Any]) -> ASTSource:
    """``types``: the Triton type of each runtime parameter; every ``*`` pointer and
    ``i32:16`` int gets the divisibility-by-16 hint. The signature lists every
    parameter in order, constexprs as ``"constexpr"``, as Triton's jit builds it."""
    signature = {name: "constexpr" if name in constexprs else types[name].split(":")[0]
                 for name in fn.arg_names}
    attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
             if name in types and (types[name].startswith("*") or types[name].endswith(":16"))}
    return ASTSource(fn=fn, signature=signature, constexprs=dict(constexprs), attrs=attrs)


def _types(fn: Any, consts: dict[str, Any], pointers: tuple[str, ...]) -> dict[str, str]:
    types = {}
    for name in fn.arg_names:
        if name in consts:
            continue
        if name in pointers:
            types[name] = "*bf16"
        elif name == "sm_scale":
            types[name] = "fp32"
        elif name.startswith("stride_") or name in ("M", "N", "K"):
            types[name] = "i32:16"
        else:
            types[name] = "i32"
    return types


def matmul_source() -> ASTSource:
    # a launch on contiguous tensors specializes the unit strides to the constant 1
    consts = dict(MATMUL, stride_ak=1, stride_bn=1, stride_cn=1)
    return _source(matmul_kernel, _types(matmul_kernel, consts, ("a_ptr", "b_ptr", "c_ptr")),
                   consts)


def attention_source(head_dim: int) -> ASTSource:
    consts: dict[str, Any] = dict(ATTENTION, HEAD_DIM=head_dim)
    consts.update({n: 1 for n in attention_fwd_kernel.arg_names    # head dim contiguous
                   if n.startswith("stride_") and n.endswith("k")})
    return _source(attention_fwd_kernel,
                   _types(attention_fwd_kernel, consts, ("Q", "K", "V", "Out")), consts)


def compile_kernel(kind: str, target: str, **kwargs: Any) -> Any:
    """``compile_kernel("matmul", "sm_90a")``, ``compile_kernel("attention", "sm_80",
    head_dim=128)``: the ``triton.compile`` result (``.asm["ptx"]``, ``.asm["cubin"]``)."""
    return {"matmul": compile_matmul, "attention": compile_attention}[kind](target, **kwargs)


def ptxas_version(target: str) -> str:
    """The ``release`` line of the ptxas Triton runs for ``target``, and its path."""
    import re
    import subprocess
    try:
        from triton.backends.nvidia.compiler import get_ptxas
        exe = get_ptxas(gpu_target(target).arch).path
    except (ImportError, AttributeError) as e:
        return f"unknown ({e})"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release [^\n]*", out)
    return f"{m.group(0) if m else out.strip()} ({exe})"


def compile_matmul(target: str) -> Any:
    return triton.compile(matmul_source(), target=gpu_target(target), options=MATMUL_OPTIONS)


def compile_attention(target: str, head_dim: int) -> Any:
    return triton.compile(attention_source(head_dim), target=gpu_target(target),
                          options=ATTENTION_OPTIONS)
