"""tl.dot on sm_90a: the wgmma lowering (lower_wgmma), its rule, layouts and numerics.

The accumulator layout is checked against the PTX ISA's m64nNk16 D formula written
out here; the lowered kernels run in the emulator (exact wgmma semantics, see
tests/emulator/nvidia/test_wgmma.py) and are compared with numpy.
"""

from __future__ import annotations

from collections import Counter

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tests.examples.test_examples import check, load_example
from tilelang.ir import hopper_ops as hp
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.layouts import LayoutError
from tilelang.ir.fragment_layouts import warp_tiled, wgmma_accumulator
from tilelang.ir.printer import print_module
from tilelang.passes.nvidia import lower_wgmma
from tilelang.passes.nvidia.lower_wgmma import swizzle_width
from tilelang.emulator.emulator import run_threads

MATMUL_SIG = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"
FA_SIG = "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32"


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 32), st.sampled_from([1, 2]))
def test_accumulator_layout_is_the_ptx_fragment(n8, groups):
    n = 8 * n8
    lay = wgmma_accumulator(n, groups)
    table = lay.table()                               # (threads, slots, 2)
    tid = np.arange(128 * groups)[:, None]
    i = np.arange(n // 2)[None, :]
    warp, lane = tid // 32, tid % 32
    g, t = lane // 4, lane % 4
    assert (table[..., 0] == 16 * warp + g + 8 * ((i // 2) % 2)).all()
    assert (table[..., 1] == 8 * (i // 4) + 2 * t + i % 2).all()
    assert lay.is_injective() and lay.covers()
    # ... which is the mma.sync accumulator over a (num_warps, 1) warp grid
    assert lay.same_as(warp_tiled("c", (64 * groups, n), (4 * groups, 1)))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 32), st.sampled_from([1, 2]), st.sampled_from([2, 3, 4]))
def test_accumulator_layout_of_several_blocks_per_warpgroup(n8, groups, blocks):
    n = 8 * n8
    table = wgmma_accumulator(n, groups, blocks).table()
    tid = np.arange(128 * groups)[:, None]
    s = np.arange(blocks * n // 2)[None, :]
    blk, i = s // (n // 2), s % (n // 2)
    wg, warp, lane = tid // 128, (tid // 32) % 4, tid % 32
    g, t = lane // 4, lane % 4
    assert (table[..., 0] == 64 * (wg * blocks + blk) + 16 * warp + g + 8 * ((i // 2) % 2)).all()
    assert (table[..., 1] == 8 * (i // 4) + 2 * t + i % 2).all()


def test_accumulator_layout_rejects_shapes_wgmma_lacks():
    for n, g, b in [(12, 1, 1), (264, 1, 1), (64, 0, 1), (64, 1, 0)]:
        with pytest.raises(LayoutError, match="wgmma"):
            wgmma_accumulator(n, g, b)


def test_swizzle_width_is_the_widest_that_fits_the_rows():
    assert [swizzle_width(k) for k in (16, 32, 48, 64, 128, 96)] == [32, 64, 32, 128, 128, 64]


def _ops(kernel, sig, target, **constexprs) -> Counter:
    fn = kernel.compile(sig, target=target, **constexprs).function
    return Counter(type(op) for op in o.walk(fn.body))


def test_matmul_on_sm90a_uses_wgmma_and_sm80_keeps_mma_sync():
    k = load_example("matmul").matmul
    hopper = _ops(k, MATMUL_SIG, "sm_90a")
    ampere = _ops(k, MATMUL_SIG, "sm_80")
    # 128 x 128 x 32 with 8 warps: two m64n128k16 steps per K tile, one commit; the
    # warp-specialized loop waits with one group in flight and once more after it
    assert hopper[hp.WgmmaOp] == 2 and hopper[th.MmaOp] == 0
    assert hopper[hp.WgmmaCommitOp] == 1 and hopper[hp.WgmmaWaitOp] == 2
    assert ampere[hp.WgmmaOp] == 0 and ampere[th.MmaOp] > 0


def test_thread_ir_orders_fences_wgmma_commit_and_wait():
    # with tma=False B (32 x 128) keeps its 256-byte row swizzle and is staged; by
    # default it takes 128-byte column blocks and is read in place
    k = tl.kernel(load_example("matmul").matmul.fn, num_warps=8, tma=False)
    fn = k.compile(MATMUL_SIG, target="sm_90a").function
    text = print_module(k.compile(MATMUL_SIG, target="sm_90a").module)
    assert "n = 128" in text and "swizzle = 64" in text and "sbo = 512" in text
    names = [op.NAME for op in o.walk(fn.body) if op.NAME in (
        "th.wgmma", "th.wgmma_fence", "th.fence_proxy_async", "th.wgmma_commit",
        "th.wgmma_wait", "tl.barrier", "th.st_shared")]
    first = names.index("th.wgmma")
    before = names[:first]
    # the staging stores, then the proxy fence, a barrier and the register fence
    last_store = len(before) - 1 - before[::-1].index("th.st_shared")
    tail = before[last_store + 1:]
    assert tail.index("th.fence_proxy_async") < tail.index("tl.barrier")
    assert "th.wgmma_fence" in tail
    assert names[first:first + 4] == ["th.wgmma", "th.wgmma", "th.wgmma_commit",
                                      "th.wgmma_wait"]


def test_shapes_outside_the_rule_keep_mma_sync_on_sm90a():
    k = load_example("matmul").matmul
    # 64 rows over 8 warps: not whole m64 blocks per warpgroup; 2 warps: no warpgroup
    for constexprs in ({"BM": 64, "BN": 64}, {"BM": 32, "BN": 64, "num_warps": 2}):
        ops = _ops(k, MATMUL_SIG, "sm_90a", **constexprs)
        assert ops[hp.WgmmaOp] == 0 and ops[th.MmaOp] > 0, constexprs


def test_two_m64_blocks_per_warpgroup():
    k = load_example("matmul").matmul
    # 128 x 128 on one warpgroup: two m64n128k16 per K step (BK = 32: two steps)
    ops = _ops(k, MATMUL_SIG, "sm_90a", BM=128, BN=128, num_warps=4)
    assert ops[hp.WgmmaOp] == 4 and ops[th.MmaOp] == 0
    fa = load_example("flash_attention").flash_attention
    fn = fa.compile(FA_SIG, target="sm_90a", HEAD_DIM=64, BM=128).function
    wg = [op for op in o.walk(fn.body) if isinstance(op, hp.WgmmaOp)]
    assert len(wg) == 16 and sum(op.a_desc is None for op in wg) == 8


def test_flash_attention_feeds_p_from_registers():
    k = load_example("flash_attention").flash_attention
    fn = k.compile(FA_SIG, target="sm_90a", HEAD_DIM=64).function
    wg = [op for op in o.walk(fn.body) if isinstance(op, hp.WgmmaOp)]
    from_regs = [op for op in wg if op.a_desc is None]
    assert len(wg) == 8 and len(from_regs) == 4     # Q K^T from shared, P V from registers


@pytest.mark.slow
@pytest.mark.parametrize("M, N, K, warps", [(150, 140, 70, 8), (128, 256, 64, 8),
                                            (150, 140, 70, 4)])
def test_matmul_wgmma_in_the_emulator(M, N, K, warps):
    mod = load_example("matmul")
    rng = np.random.default_rng(M + N + K)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.bfloat16)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    mod.matmul[(mod.tl.cdiv(M, 128), mod.tl.cdiv(N, 128))](
        a, b, c, BM=128, BN=128, num_warps=warps, target="emulate:sm_90a")
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)) <= mod.TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("head_dim, causal, bm", [(64, False, 64), (64, True, 64),
                                                   (128, True, 64), (64, True, 128)])
def test_flash_attention_wgmma_in_the_emulator(head_dim, causal, bm):
    mod = load_example("flash_attention")
    tol = mod.TOLERANCE["float32"] if isinstance(mod.TOLERANCE, dict) else mod.TOLERANCE
    check(mod.run(target="emulate:sm_90a", seq=130, head_dim=head_dim, causal=causal,
                  heads=1, BM=bm, BN=64), tol)


def _attention_inputs(seq: int = 100, d: int = 64):
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((1, 1, seq, d)).astype(ml_dtypes.bfloat16)
               for _ in range(3))
    return q, k, v


def _run_attention(monkeypatch, in_place: bool, d: int = 64,
                   off: str = "canonical_in_place") -> tuple[np.ndarray, Counter]:
    # (the module-level check: the scratch sizing and the lowering both ask it)
    monkeypatch.setenv("TILELANG_CACHE", "0")
    if not in_place:
        monkeypatch.setattr(lower_wgmma, off, lambda *a, **k: None)
    mod = load_example("flash_attention")
    fn = mod.flash_attention.compile(FA_SIG, target="sm_90a", HEAD_DIM=d).function
    q, k, v = _attention_inputs(d=d)
    out = np.zeros_like(q)
    run_threads(fn, (2, 1), [q, k, v, out, np.float32(0.125)])
    return out, Counter(type(op) for op in _walk(fn))


def _walk(fn):
    return o.walk(fn.body)


def test_attention_operands_are_read_in_place_and_staging_agrees(monkeypatch):
    mod = load_example("flash_attention")
    got, ops = _run_attention(monkeypatch, in_place=True)
    with monkeypatch.context() as m:
        staged, staged_ops = _run_attention(m, in_place=False)
    q, k, v = _attention_inputs()
    ref = mod.reference(q, k, v, 0.125, False)
    for out in (got, staged):
        err = np.max(np.abs(out.astype(np.float64) - ref)) / np.max(np.abs(ref))
        assert err <= 2e-2
    # Q, K and V sit in canonical 128-byte-swizzled buffers: nothing is copied
    assert ops[th.StSharedOp] < staged_ops[th.StSharedOp]
    assert ops[th.LdSharedOp] < staged_ops[th.LdSharedOp]


def test_column_blocked_operands_are_read_in_place(monkeypatch):
    # head dim 128: K and V arrive by TMA as two 128-byte-swizzled column blocks each,
    # which is wgmma's canonical layout (W = 128, atom columns rows x 128 bytes apart)
    mod = load_example("flash_attention")
    seen: list[bool] = []
    real = lower_wgmma.blocked_in_place
    with monkeypatch.context() as m:
        m.setattr(lower_wgmma, "blocked_in_place",
                  lambda *a: seen.append(real(*a) is not None) or real(*a))
        got, ops = _run_attention(m, in_place=True, d=128)
    with monkeypatch.context() as m:
        staged, staged_ops = _run_attention(m, in_place=False, d=128, off="blocked_in_place")
    assert seen and all(seen)
    q, k, v = _attention_inputs(d=128)
    ref = mod.reference(q, k, v, 0.125, False)
    for out in (got, staged):
        err = np.max(np.abs(out.astype(np.float64) - ref)) / np.max(np.abs(ref))
        assert err <= 2e-2
    assert ops[th.StSharedOp] < staged_ops[th.StSharedOp]
    assert ops[th.LdSharedOp] < staged_ops[th.LdSharedOp]


def test_matmul_default_tiles_read_both_operands_in_place(monkeypatch):
    # A (128 x 32, 64-byte swizzle) and B (32 x 128: two 128-byte column blocks, N-major)
    monkeypatch.setenv("TILELANG_CACHE", "0")
    placed: list[bool] = []
    real = lower_wgmma._Wgmma.in_place
    monkeypatch.setattr(lower_wgmma._Wgmma, "in_place",
                        lambda self, *a, **kw: placed.append(real(self, *a, **kw) is not None)
                        or real(self, *a, **kw))
    k = load_example("matmul").matmul
    k.compile(MATMUL_SIG, target="sm_90a")
    assert placed == [True, True]


# -- operands from registers, transposed, and N-major B of several atoms --------------

import tilelang as tl  # noqa: E402
from tilelang import f32  # noqa: E402


@tl.kernel(num_warps=4)
def _scaled_dot(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, TRANS_A: tl.constexpr = False,
                N: tl.constexpr = 64, SHIFT_B: tl.constexpr = True):
    acc = tl.zeros((64, N), f32)
    if TRANS_A:
        a = tl.trans(tl.load(A, (0, 0), (32, 64)))
    else:
        a = tl.load(A, (0, 0), (64, 32)) * 2      # a register tile, not a shared operand
    b = tl.load(B, (0, 0), (32, N))
    if SHIFT_B:
        b = b + 1                                 # a register tile, else read from shared
    acc = tl.dot(a, b, acc)
    tl.store(C, (0, 0), acc)


@pytest.mark.parametrize("trans_a, n, shift", [
    (False, 64, True), (True, 64, True), (False, 256, True), (False, 24, True),
    (False, 24, False), (True, 40, False)])
def test_register_and_transposed_operands(trans_a, n, shift):
    rng = np.random.default_rng(n)
    a = rng.integers(-3, 4, (32, 64) if trans_a else (64, 32)).astype(ml_dtypes.bfloat16)
    b = rng.integers(-3, 4, (32, n)).astype(ml_dtypes.bfloat16)
    c = np.zeros((64, n), np.float32)
    _scaled_dot[(1,)](a, b, c, TRANS_A=trans_a, N=n, SHIFT_B=shift, target="emulate:sm_90a")
    a64 = a.astype(np.float64).T if trans_a else 2 * a.astype(np.float64)
    np.testing.assert_array_equal(c, a64 @ (b.astype(np.float64) + shift))
    sig = "A=bf16[2]:16,B=bf16[2]:16,C=f32[2]:16"
    ops = _ops(_scaled_dot, sig, "sm_90a", TRANS_A=trans_a, N=n, SHIFT_B=shift)
    assert ops[hp.WgmmaOp] == 2 and ops[th.MmaOp] == 0
