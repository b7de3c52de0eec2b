"""Test kernels for the sm_90a operand forms (the kernels the pass tests use for wgmma
and TMA stores, kept here so the PTX tests do not depend on other test modules)."""

from __future__ import annotations

import tilelang as tl
from tilelang import f32


@tl.kernel(num_warps=4)
def scaled_dot(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, TRANS_A: tl.constexpr = False,
               N: tl.constexpr = 64, SHIFT_B: tl.constexpr = True):
    """One wgmma dot whose A is a register tile (or a transposed load) and whose B comes
    from shared memory (or registers, ``SHIFT_B``)."""
    acc = tl.zeros((64, N), f32)
    if TRANS_A:
        a = tl.trans(tl.load(A, (0, 0), (32, 64)))
    else:
        a = tl.load(A, (0, 0), (64, 32)) * 2
    b = tl.load(B, (0, 0), (32, N))
    if SHIFT_B:
        b = b + 1
    acc = tl.dot(a, b, acc)
    tl.store(C, (0, 0), acc)


def mm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 32, BN: tl.constexpr = 64,
       BK: tl.constexpr = 64, STAGES: tl.constexpr = 3):
    """A pipelined matmul: TMA loads (and, for a bf16 C, TMA stores) on sm_90a."""
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc.to(C.dtype))
