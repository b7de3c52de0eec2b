"""pipeline-tma: the TMA + mbarrier ring as IR text, the loops and functions it leaves
to the cp.async pipeline, the interpreter's results unchanged, and the lowered kernel
running race-free and exact in the emulator (in-bounds and edge tiles, both swizzles)."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang import f32
from tilelang.ir import ops, tma_ops as tma
from tilelang.ir import thread_ops as th
from tilelang.ir.tma_staging_ops import TmaCopyOp
from tilelang.ir.types import SharedType, bf16
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.tma_staging_ops import tma_swizzle_mode
from tilelang.ir.values import Module
from dataclasses import replace
from tests.passes.gpu.staging_kit import (
    LOWER, apply, emulate, interpret, norm, random_bf16, run_passes, thread_ops_of,
)
from tests.passes.gpu.test_pipeline import LOOP

FACTS = "tensor<bf16, 2, aligned, unit_stride, divisible>"
TMA_LOOP = LOOP.replace("tensor<bf16, 2>", FACTS).replace(
    "attributes {num_warps = 4}", "attributes {num_warps = 4, tma = true, warp_specialize = false}")
# the same loop on two warpgroups, where warp specialization applies
# (test_warp_specialize.py)
WS_LOOP = TMA_LOOP.replace(", warp_specialize = false}", "}").replace(
    "num_warps = 4,", "num_warps = 8,")

TMA_PIPELINED = """
module {
  func @k(%A: tensor<bf16, 2, aligned, unit_stride, divisible>, %n: i32) attributes {num_warps = 4, tma = true, warp_specialize = false, shared_align = 128} {
    %z = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %w = tl.constant() {value = 16} : i32
    %f = tl.constant() {value = 0.0} : f32
    %acc0 = tl.splat(value = %f) : tile<16x16xf32>
    %s_ring = tl.alloc_shared() {offset = -1} : shared<2x16x16xbf16>
    %bars = tl.alloc_shared() {offset = -1} : shared<2xi64>
    tl.mbarrier_init(bars = %bars) {count = 1}
    %c = tl.constant() {value = 0} : i32
    %lt = tl.binary(lhs = %z, rhs = %n) {fn = "lt"} : bool
    tl.if(cond = %lt) (then: {
      tl.mbarrier_expect(bars = %bars, stage = %c) {bytes = 512}
      %off_1 = tl.binary(lhs = %z, rhs = %w) {fn = "mul"} : i32
      %s_2 = tl.shared_slice(src = %s_ring, index = %c) : shared<16x16xbf16>
      tl.tma_copy(tensor = %A, offsets = [%off_1, %z], dst = %s_2, bars = %bars, stage = %c)
      tl.yield(values = [])
    }, orelse: {
      tl.yield(values = [])
    })
    %r = tl.for(lower = %z, upper = %n, step = %one, inits = [%acc0]) {kind = "pipeline", stages = 2} : tile<16x16xf32> (body: ^(%i: i32, %acc: tile<16x16xf32>) {
      %c_3 = tl.constant() {value = 2} : i32
      %mod = tl.binary(lhs = %i, rhs = %c_3) {fn = "mod"} : i32
      %floordiv = tl.binary(lhs = %i, rhs = %c_3) {fn = "floordiv"} : i32
      %c_4 = tl.constant() {value = 1} : i32
      %and = tl.binary(lhs = %floordiv, rhs = %c_4) {fn = "and"} : i32
      tl.mbarrier_wait(bars = %bars, stage = %mod, parity = %and)
      tl.barrier()
      %off = tl.binary(lhs = %i, rhs = %w) {fn = "mul"} : i32
      %s = tl.shared_slice(src = %s_ring, index = %mod) : shared<16x16xbf16>
      %t = tl.shared_load(src = %s) : tile<16x16xbf16>
      %d = tl.dot(a = %t, b = %t, acc = %acc) : tile<16x16xf32>
      %c_5 = tl.constant() {value = 1} : i32
      %add = tl.binary(lhs = %i, rhs = %c_5) {fn = "add"} : i32
      %mod_6 = tl.binary(lhs = %add, rhs = %c_3) {fn = "mod"} : i32
      %lt_7 = tl.binary(lhs = %add, rhs = %n) {fn = "lt"} : bool
      tl.if(cond = %lt_7) (then: {
        tl.mbarrier_expect(bars = %bars, stage = %mod_6) {bytes = 512}
        %off_8 = tl.binary(lhs = %add, rhs = %w) {fn = "mul"} : i32
        %s_9 = tl.shared_slice(src = %s_ring, index = %mod_6) : shared<16x16xbf16>
        tl.tma_copy(tensor = %A, offsets = [%off_8, %z], dst = %s_9, bars = %bars, stage = %mod_6)
        tl.yield(values = [])
      }, orelse: {
        tl.yield(values = [])
      })
      tl.yield(values = [%d])
    })
    tl.mbarrier_inval(bars = %bars)
    tl.return()
  }
}
"""


def test_pipelined_loop_uses_tma_on_per_stage_mbarriers():
    assert apply("pipeline-tma", TMA_LOOP) == norm(TMA_PIPELINED)


@pytest.mark.parametrize("text", [
    LOOP.replace("tensor<bf16, 2>", FACTS),                     # no tma attribute
    LOOP.replace("attributes {num_warps = 4}", "attributes {num_warps = 4, tma = true}"),
    TMA_LOOP.replace("aligned, ", ""),                          # base not 16-byte aligned
    TMA_LOOP.replace(", divisible", ""),                        # strides not 16-byte multiples
])
def test_loops_tma_cannot_load_are_left_alone(text):
    assert apply("pipeline-tma", text) == norm(text)


@pytest.mark.parametrize("shape, swizzle, mode", [
    ((64, 32), "Swizzle(2, 3, 3)", 64), ((32, 64), "Swizzle(3, 3, 3)", 128),
    ((16, 16), "Swizzle(1, 3, 3)", 32), ((16, 16), "", 0), ((32, 128), "", 0),
    ((32, 128), "Swizzle(3, 3, 4)", None), ((64, 128), "Swizzle(3, 3, 3)", None),
    ((16, 4), "", None), ((8, 512), "", None),
    # rows wider than 128 bytes as 128-byte column blocks: one 128-byte-swizzled box each
    ((32, 128), "BlockSwizzle(32, 128, 64, Swizzle(3, 3, 3))", 128),
    ((1, 1, 64, 256), "BlockSwizzle(64, 256, 64, Swizzle(3, 3, 3))", 128),
    ((32, 128), "BlockSwizzle(32, 128, 32, Swizzle(2, 3, 3))", None),   # 64-byte blocks
    ((64, 128), "BlockSwizzle(32, 128, 64, Swizzle(3, 3, 3))", None),   # another tile
])
def test_tma_swizzle_mode_matches_the_buffer_layout(shape, swizzle, mode):
    assert tma_swizzle_mode(SharedType(shape, bf16, swizzle)) == mode


@tl.kernel(num_warps=4)
def mm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 32, BN: tl.constexpr = 64,
       BK: tl.constexpr = 64, STAGES: tl.constexpr = 3):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc)


SIG = "A=bf16[2]:16,B=bf16[2]:16,C=f32[2]:16"
PASSES = ("assign-layouts", "stage-through-shared", "pipeline-tma", "pipeline", "vectorize",
          "allocate-shared")


def _tma_module(ws: bool = False, **constexprs) -> Module:
    """``mm`` through the pipeline passes; ``ws``: on two warpgroups, specialized."""
    k = tl.kernel(mm.fn, num_warps=8) if ws else mm
    m = k.compile(SIG, target="interp", **constexprs).module
    extra = (("tma", True),) if ws else (("tma", True), ("warp_specialize", False))
    fns = tuple(replace(f, attrs=f.attrs + extra) for f in m.functions)
    return run_passes(Module(fns), PASSES)


@pytest.mark.parametrize("ws", [True, False], ids=["warp-specialized", "lockstep"])
@pytest.mark.parametrize("M, N, K, stages, BN", [
    (64, 128, 256, 3, 64),    # whole tiles, 128-byte swizzle for A and B
    (40, 72, 200, 2, 64),     # edge tiles: out-of-bounds boxes read zeros
    (33, 48, 24, 4, 64),      # fewer iterations than stages
    (64, 40, 136, 3, 32),     # B rows of 64 bytes: the 64-byte swizzle
])
def test_tma_pipeline_runs_exactly_in_the_emulator(M, N, K, stages, BN, ws):
    rng = np.random.default_rng(M + N + K)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    module = _tma_module(ws, STAGES=stages, BN=BN)
    fn = run_passes(module, LOWER).function()
    assert thread_ops_of(fn, tma.TmaLoadOp) and not thread_ops_of(fn, th.CpAsyncOp)
    assert fn.attr("num_threads") == (384 if ws else 128)   # the producer warpgroup
    grid = (-(-M // 32), -(-N // BN))
    want, got = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    # the reference: the kernel before the pipeline passes
    interpret(mm.compile(SIG, target="interp", STAGES=stages, BN=BN).module, grid,
              [a, b, want])
    emulate(module, grid, [a, b, got])  # early reads, races and deadlocks are KernelErrors
    np.testing.assert_allclose(want, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_swizzled_tma_buffers_are_aligned_to_the_pattern():
    module = _tma_module()
    fn = module.function()
    assert fn.attr("shared_align") == 1024     # 128-byte swizzle: 8 rows of 128 bytes
    offsets = [op.offset for op in ops.walk(fn.body) if isinstance(op, ops.AllocSharedOp)]
    assert offsets and all(off % 1024 == 0 for off in offsets)


@pytest.mark.parametrize("shape, blocked", [
    ((32, 128), "BlockSwizzle(32, 128, 64, Swizzle(3, 3, 3))"),
    ((1, 1, 64, 256), "BlockSwizzle(64, 256, 64, Swizzle(3, 3, 3))"),
    ((64, 64), None),                      # rows of 128 bytes: one box already fits
    ((32, 96), None),                      # not a power of two
    ((4, 128), None),                      # fewer than 8 rows
    ((2, 32, 128), None),                  # a leading dimension that is not 1
])
def test_blocked_type_for_rows_wider_than_a_swizzle_atom(shape, blocked):
    from tilelang.passes.nvidia.pipeline_tma import blocked_type
    t = SharedType(shape, bf16, "Swizzle(3, 3, 4)" if shape[-1] > 64 else "Swizzle(3, 3, 3)")
    got = blocked_type(t)
    assert (got.swizzle if got is not None else None) == blocked


def _copies(module: Module) -> list[TmaCopyOp]:
    return [op for op in ops.walk(module.function().body) if isinstance(op, TmaCopyOp)]


def test_wide_rows_become_column_blocks_read_through_the_blocked_layout():
    # B's rows of 128 bf16 (256 bytes) are wider than any TMA swizzle: the ring, the
    # copies and the body's readers all take the blocked layout, and B is two boxes
    blocked = "BlockSwizzle(32, 128, 64, Swizzle(3, 3, 3))"
    module = _tma_module(BN=128, BK=32)
    assert {op.dst.type.swizzle for op in _copies(module)} == {"Swizzle(2, 3, 3)", blocked}
    text = print_module(module)
    assert f'shared<3x32x128xbf16, swizzle = "{blocked}">' in text        # the ring
    assert print_module(parse_module(text)) == text                        # parses back
    # every use of a B stage inside the loop sees the blocked annotation
    uses = [v for op in ops.walk(module.function().body) if not isinstance(op, TmaCopyOp)
            for v in op.operand_values() if isinstance(v.type, SharedType)
            and v.type.shape == (32, 128)]
    assert uses and {v.type.swizzle for v in uses} == {blocked}
    fn = run_passes(module, LOWER).function()
    loads = thread_ops_of(fn, tma.TmaLoadOp)
    assert not thread_ops_of(fn, th.CpAsyncOp)
    boxes = sorted({(op.box, op.swizzle) for op in loads})
    assert boxes == [((32, 32), 64), ((32, 64), 128)]        # A: one box, B: 32 x 64 boxes
    # every fill (2 prologue stages, 1 refill per iteration) has one A box and two B boxes
    assert sum(op.box == (32, 64) for op in loads) == 2 * sum(op.box == (32, 32)
                                                               for op in loads)


@pytest.mark.parametrize("M, N, K, BN", [(40, 136, 104, 128), (128, 256, 96, 128),
                                         (32, 264, 64, 256)])
def test_column_block_tma_runs_exactly_in_the_emulator(M, N, K, BN):
    # mma.sync reads the blocked B through ldmatrix; edge tiles read zeros past N;
    # 512-byte rows are four blocks (a box per block: the tile is wider than a box)
    module = _tma_module(BN=BN, BK=32)
    fn = run_passes(module, LOWER).function()
    assert {op.box for op in thread_ops_of(fn, tma.TmaLoadOp)} == {(32, 32), (32, 64)}
    rng = np.random.default_rng(5)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    got = np.zeros((M, N), np.float32)
    emulate(module, (-(-M // 32), -(-N // BN)), [a, b, got])
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-4, atol=1e-3)


@tl.kernel(num_warps=4)
def two_boxes(A: tl.Tensor, C: tl.Tensor, BK: tl.constexpr = 64):
    acc = tl.zeros((32, 32), f32)
    for k in tl.pipeline(tl.cdiv(A.shape[1], BK), stages=2):
        a = tl.load(A, (0, k * BK), (32, BK))          # box 32 x 64
        b = tl.load(A, (k * BK, 0), (BK, 32))          # box 64 x 32: another tensor map
        acc = tl.dot(a, b, acc)
    tl.store(C, (0, 0), acc)


def test_one_tensor_map_per_tensor_other_boxes_stay_cp_async():
    m = two_boxes.compile("A=bf16[2]:16,C=f32[2]:16", target="interp").module
    m = run_passes(Module(tuple(replace(f, attrs=f.attrs + (("tma", True),))
                                for f in m.functions)), PASSES)
    copies = [op for op in ops.walk(m.function().body) if isinstance(op, TmaCopyOp)]
    assert {op.dst.type.shape for op in copies} == {(32, 64)}
    fn = run_passes(m, LOWER).function()
    assert thread_ops_of(fn, tma.TmaLoadOp) and thread_ops_of(fn, th.CpAsyncOp)
    rng = np.random.default_rng(2)
    a = random_bf16(rng, (96, 96))
    got = np.zeros((32, 32), np.float32)
    emulate(m, (1,), [a, got])
    ref = a[:32, :].astype(np.float64) @ a[:, :32].astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name, sizes", [
    ("matmul", {"M": 72, "N": 48, "K": 64}),
    ("matmul", {"M": 130, "N": 136, "K": 72, "BM": 128, "BN": 128, "BK": 32}),
    ("flash_attention", {"seq": 80, "head_dim": 64, "BM": 32, "BN": 32}),
    ("flash_attention", {"seq": 80, "head_dim": 64, "BM": 32, "BN": 32, "causal": True}),
])
def test_examples_run_their_tma_lowering_in_the_emulator(name, sizes):
    from tests.examples.test_examples import check, load_example
    mod = load_example(name)
    check(mod.run(target="emulate:sm_90a", **sizes), mod.TOLERANCE)


def test_the_kernel_option_tma_false_keeps_the_cp_async_ring():
    plain = tl.kernel(mm.fn, num_warps=4, tma=False)
    on = mm.compile(SIG, target="emulate:sm_90a")
    off = plain.compile(SIG, target="emulate:sm_90a")
    assert off.function.attr("use_tma") is False and on.function.attr("use_tma") is None
    assert "th.tma_load" in on.ir["simplify"] and "th.tma_load" not in off.ir["simplify"]
    assert "th.cp_async(" in off.ir["simplify"]
    with pytest.raises(tl.CompileError, match="tma must be True or False"):
        tl.kernel(mm.fn, tma="no")


@pytest.mark.parametrize("stages, K", [(2, 16), (2, 48), (3, 40), (4, 112)])
def test_reverse_loops_wait_on_the_right_phase(stages, K):
    # a runtime lower bound and a negative step: the iteration number is (iv - lower) // step
    from tests.passes.gpu.test_pipeline import mm as rmm
    M, N = 40, 48
    rng = np.random.default_rng(K)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    m = rmm.compile("A=bf16[2]:16,B=bf16[2]:16,C=f32[2]:16", target="interp", STAGES=stages,
                    REVERSE=True).module
    m = run_passes(Module(tuple(replace(f, attrs=f.attrs + (("tma", True),))
                                for f in m.functions)), PASSES)
    assert any(isinstance(op, TmaCopyOp) for op in ops.walk(m.function().body))
    got = np.zeros((M, N), np.float32)
    emulate(m, (2, 2), [a, b, got])
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-4, atol=1e-3)
