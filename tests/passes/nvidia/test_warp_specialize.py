"""Warp specialization (pipeline-tma on sm_90a): the producer/consumer split as IR text,
the functions that keep the lockstep ring, the register handoff, the named barriers
insert-barriers gives each role, and the lowered kernels running exactly in the
emulator against the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang.ir import ops
from tilelang.ir.memory_ops import BarrierOp
from tilelang.ir.role_ops import BarSyncOp, SetMaxNRegOp, WarpSpecializeOp
from tilelang.passes.nvidia.warp_specialize import register_split
from tests.passes.gpu.staging_kit import apply, norm, random_bf16
from tests.passes.nvidia.test_pipeline_tma import SIG, TMA_LOOP, WS_LOOP, mm, two_boxes

WS_SPLIT = """
module {
  func @k(%A: tensor<bf16, 2, aligned, unit_stride, divisible>, %n: i32) attributes {num_warps = 8, tma = true, shared_align = 128} {
    %z = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %w = tl.constant() {value = 16} : i32
    %s_ring = tl.alloc_shared() {offset = -1} : shared<2x16x16xbf16>
    %full = tl.alloc_shared() {offset = -1} : shared<2xi64>
    %empty = tl.alloc_shared() {offset = -1} : shared<2xi64>
    tl.mbarrier_init(bars = %full) {count = 1}
    tl.mbarrier_init(bars = %empty) {count = 8}
    tl.warp_specialize() {consumer_threads = 256, producer_threads = 128, consumer_regs = 232, producer_regs = 40} (producer: {
      tl.for(lower = %z, upper = %n, step = %one, inits = []) {kind = "range", stages = 1} (body: ^(%i_p: i32) {
        %c = tl.constant() {value = 2} : i32
        %mod = tl.binary(lhs = %i_p, rhs = %c) {fn = "mod"} : i32
        %c_1 = tl.constant() {value = 1} : i32
        %floordiv = tl.binary(lhs = %i_p, rhs = %c) {fn = "floordiv"} : i32
        %and = tl.binary(lhs = %floordiv, rhs = %c_1) {fn = "and"} : i32
        %xor = tl.binary(lhs = %and, rhs = %c_1) {fn = "xor"} : i32
        tl.mbarrier_wait(bars = %empty, stage = %mod, parity = %xor)
        tl.mbarrier_expect(bars = %full, stage = %mod) {bytes = 512}
        %off_2 = tl.binary(lhs = %i_p, rhs = %w) {fn = "mul"} : i32
        %s_3 = tl.shared_slice(src = %s_ring, index = %mod) : shared<16x16xbf16>
        tl.tma_copy(tensor = %A, offsets = [%off_2, %z], dst = %s_3, bars = %full, stage = %mod)
        tl.yield(values = [])
      })
      tl.yield(values = [])
    }, consumer: {
      %f = tl.constant() {value = 0.0} : f32
      %acc0 = tl.splat(value = %f) : tile<16x16xf32>
      %r = tl.for(lower = %z, upper = %n, step = %one, inits = [%acc0]) {kind = "pipeline", stages = 2} : tile<16x16xf32> (body: ^(%i: i32, %acc: tile<16x16xf32>) {
        %c_4 = tl.constant() {value = 2} : i32
        %mod_5 = tl.binary(lhs = %i, rhs = %c_4) {fn = "mod"} : i32
        %floordiv_6 = tl.binary(lhs = %i, rhs = %c_4) {fn = "floordiv"} : i32
        %c_7 = tl.constant() {value = 1} : i32
        %and_8 = tl.binary(lhs = %floordiv_6, rhs = %c_7) {fn = "and"} : i32
        tl.mbarrier_wait(bars = %full, stage = %mod_5, parity = %and_8)
        %off = tl.binary(lhs = %i, rhs = %w) {fn = "mul"} : i32
        %s = tl.shared_slice(src = %s_ring, index = %mod_5) : shared<16x16xbf16>
        %t = tl.shared_load(src = %s) : tile<16x16xbf16>
        %d = tl.dot(a = %t, b = %t, acc = %acc) : tile<16x16xf32>
        tl.mbarrier_arrive(bars = %empty, stage = %mod_5)
        tl.yield(values = [%d])
      })
      tl.mbarrier_inval(bars = %full)
      tl.mbarrier_inval(bars = %empty)
      tl.yield(values = [])
    })
    tl.return()
  }
}
"""


def test_the_loop_splits_into_a_producer_and_consumer_warpgroups():
    # the scalars the producer needs (%z, %one, %w) stay before the split; the
    # accumulator's setup moves into the consumer region with the rest of the body
    assert apply("pipeline-tma", WS_LOOP) == norm(WS_SPLIT)


def _variant(old: str, new: str) -> str:
    assert old in WS_LOOP
    return WS_LOOP.replace(old, new)


@pytest.mark.parametrize("why, text", [
    ("the kernel option", TMA_LOOP),
    ("one consumer warpgroup", _variant("num_warps = 8,", "num_warps = 4,")),
    ("six warps are no whole warpgroups", _variant("num_warps = 8,", "num_warps = 6,")),
    ("a second pipelined loop", _variant("    tl.return()", """    %r2 = tl.for(lower = %z, upper = %n, step = %one, inits = [%r]) {kind = "pipeline", stages = 2} : tile<16x16xf32> (body: ^(%i2: i32, %acc2: tile<16x16xf32>) {
      %off2 = tl.binary(lhs = %i2, rhs = %w) {fn = "mul"} : i32
      %s2 = tl.alloc_shared() : shared<16x16xbf16>
      tl.copy(tensor = %A, offsets = [%off2, %z], dst = %s2)
      %t2 = tl.shared_load(src = %s2) : tile<16x16xbf16>
      %d2 = tl.dot(a = %t2, b = %t2, acc = %acc2) : tile<16x16xf32>
      tl.yield(values = [%d2])
    })
    tl.return()""")),
])
def test_functions_outside_the_conditions_keep_the_lockstep_ring(why, text):
    out = apply("pipeline-tma", text)
    assert "tl.mbarrier_expect" in out, why          # still a TMA ring
    assert "tl.warp_specialize" not in out and "tl.mbarrier_arrive" not in out, why


def test_a_ring_with_cp_async_copies_is_not_specialized():
    # B's second box shape needs a second tensor map, so it stays cp.async: the
    # producer warpgroup could not issue it (the consumers would have to wait on it)
    c = tl.kernel(two_boxes.fn, num_warps=8).compile("A=bf16[2]:16,C=f32[2]:16",
                                                     target="emulate:sm_90a")
    assert "tl.warp_specialize" not in c.ir["pipeline-tma"]
    assert "tl.tma_copy" in c.ir["pipeline-tma"]


@pytest.mark.parametrize("group_m", [None, 2])
def test_persistent_kernels_carry_the_ring_across_tiles(group_m):
    # 2 programs walk 3 x 2 tiles each way: every tile's loads continue the rings'
    # stages and phases where the previous tile left them (K = 160: 5 iterations
    # through 3 stages, so a tile starts mid-ring)
    pk = tl.kernel(mm.fn, num_warps=8, persistent=2, group_m=group_m)
    c = pk.compile(SIG, target="emulate:sm_90a", BM=128, BK=32)
    assert "tl.warp_specialize" in c.ir["pipeline-tma"]
    (ws,) = [op for op in ops.walk(c.function.body) if isinstance(op, WarpSpecializeOp)]
    assert [type(op).__name__ for op in ws.producer.ops if isinstance(op, ops.ForOp)] == \
        ["ForOp"]                                        # the producer's own tile loop
    M, N, K = 300, 136, 160
    rng = np.random.default_rng(1)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    got, want = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    grid = (-(-M // 128), -(-N // 64))
    pk[grid](a, b, got, BM=128, BK=32, target="emulate:sm_90a")
    tl.kernel(mm.fn, num_warps=8)[grid](a, b, want, BM=128, BK=32, target="interp")
    assert _launched_specialized(pk)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("threads, split", [
    (128, (0, 0)),       # one consumer warpgroup (never specialized): 255 each at entry
    (256, (232, 40)),    # 256 * 232 + 128 * 40 <= 65536
    (384, (160, 24)),
    (512, (120, 24)),
])
def test_register_split_fills_the_register_file(threads, split):
    consumer, producer = register_split(threads)
    assert (consumer, producer) == split
    if consumer:
        assert consumer * threads + producer * 128 <= 65536 and consumer % 8 == 0


def _launched_specialized(kern) -> bool:
    """Whether every emulated launch of ``kern`` ran a warp-specialized kernel (the
    arrays' alignment decides whether TMA, hence the split, applies)."""
    runs = [c for (target, _), c in kern.__dict__.get("_compiled", {}).items()
            if target.startswith("emulate")]
    return bool(runs) and all(c.function.attr("num_threads") > 32 * kern.num_warps
                              for c in runs)


def _roles(fn) -> WarpSpecializeOp:
    (ws,) = [op for op in ops.walk(fn.body) if isinstance(op, WarpSpecializeOp)]
    return ws


def test_lowered_roles_set_registers_and_use_named_barriers():
    wide = tl.kernel(mm.fn, num_warps=8)
    fn = wide.compile(SIG, target="emulate:sm_90a", BM=128, BN=128).function
    assert fn.attr("num_threads") == 384                 # 8 consumer warps + a warpgroup
    ws = _roles(fn)
    first = [r.ops[0] for r in (ws.producer, ws.consumer)]
    assert all(isinstance(op, SetMaxNRegOp) for op in first)
    assert (first[0].regs, first[0].inc, first[1].regs, first[1].inc) == (40, False, 232, True)
    for region, bar_id, threads in ((ws.producer, 2, 128), (ws.consumer, 1, 256)):
        inner = list(ops.walk(region))
        assert not any(isinstance(op, BarrierOp) for op in inner)   # bar.sync 0 would hang
        assert all((op.id, op.threads) == (bar_id, threads)
                   for op in inner if isinstance(op, BarSyncOp))
    assert any(isinstance(op, BarSyncOp) for op in ops.walk(ws.consumer))


def test_the_kernel_option_turns_it_off():
    off = tl.kernel(mm.fn, num_warps=8, warp_specialize=False)
    c = off.compile(SIG, target="emulate:sm_90a")
    assert c.function.attr("warp_specialize") is False
    assert "tl.warp_specialize" not in c.ir["simplify"] and "th.tma_load" in c.ir["simplify"]
    assert c.function.attr("num_threads") == 256
    with pytest.raises(tl.CompileError, match="warp_specialize must be True or False"):
        tl.kernel(mm.fn, warp_specialize=1)


@pytest.mark.parametrize("M, N, K, stages, BM", [
    (128, 64, 256, 3, 128),  # 8 iterations through 3 stages: every stage reused (wgmma)
    (140, 72, 200, 2, 128),  # edge tiles
    (33, 48, 24, 4, 32),     # fewer iterations than stages; mma.sync (BM < 16 * warps)
    (64, 128, 160, 2, 32),
])
def test_specialized_kernels_run_exactly_in_the_emulator(M, N, K, stages, BM):
    kern = tl.kernel(mm.fn, num_warps=8)
    c = kern.compile(SIG, target="emulate:sm_90a", STAGES=stages, BM=BM, BN=64)
    assert "tl.warp_specialize" in c.ir["simplify"]
    rng = np.random.default_rng(M * N + K)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    got = np.zeros((M, N), np.float32)
    kern[(-(-M // BM), -(-N // 64))](a, b, got, STAGES=stages, BM=BM, BN=64,
                                    target="emulate:sm_90a")
    want = np.zeros((M, N), np.float32)
    kern[(-(-M // BM), -(-N // 64))](a, b, want, STAGES=stages, BM=BM, BN=64, target="interp")
    assert _launched_specialized(kern)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def _consumer_loop(fn):
    ws = _roles(fn)
    (loop,) = [op for op in ws.consumer.ops if isinstance(op, ops.ForOp)]
    return ws, loop


def test_matmul_keeps_one_wgmma_group_in_flight_across_iterations():
    from tilelang.ir.hopper_ops import WgmmaWaitOp
    from tilelang.ir.tma_ops import MbarrierArriveOp
    fn = tl.kernel(mm.fn, num_warps=8).compile(SIG, target="emulate:sm_90a", BM=128).function
    ws, loop = _consumer_loop(fn)
    waits = [op for op in loop.body.ops if isinstance(op, WgmmaWaitOp)]
    assert [(w.pending, w.values) for w in waits] == [(1, ())]
    (arrive,) = [op for op in loop.body.ops if isinstance(op, MbarrierArriveOp)]
    assert arrive.bar == loop.body.args[-2]       # the previous iteration's stage
    # one wait after the loop completes the accumulators before the epilogue reads them
    after = ws.consumer.ops[ws.consumer.ops.index(loop) + 1]
    assert isinstance(after, WgmmaWaitOp) and after.pending == 0
    assert set(after.values) <= set(loop.results)


@pytest.mark.parametrize("why, kernel, sig, consts", [
    ("lockstep ring", tl.kernel(mm.fn, num_warps=8, warp_specialize=False), SIG, {"BM": 128}),
    ("the accumulator is rescaled in the loop", None, None, {}),
])
def test_loops_that_read_the_accumulator_wait_for_every_group(why, kernel, sig, consts):
    from tilelang.ir.hopper_ops import WgmmaWaitOp
    if kernel is None:
        from tests.examples.test_examples import load_example
        kernel = tl.kernel(load_example("flash_attention").flash_attention.fn, num_warps=8)
        sig = "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32"
        consts = {"HEAD_DIM": 64, "BM": 128}
    fn = kernel.compile(sig, target="emulate:sm_90a", **consts).function
    waits = [op for op in ops.walk(fn.body) if isinstance(op, WgmmaWaitOp)]
    assert waits and all(w.pending == 0 for w in waits), why
    specialized = any(isinstance(op, WarpSpecializeOp) for op in fn.body.ops)
    assert specialized == (why != "lockstep ring")


@pytest.mark.parametrize("causal", [False, True])
def test_specialized_attention_runs_exactly_in_the_emulator(causal):
    # two consumer warpgroups of 64 query rows each, K and V through the producer
    from tests.examples.test_examples import load_example
    fa = load_example("flash_attention")
    kern = tl.kernel(fa.flash_attention.fn, num_warps=8)
    sig = "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32"
    consts = {"HEAD_DIM": 64, "BM": 128, "BN": 64, "CAUSAL": causal}
    assert "tl.warp_specialize" in kern.compile(sig, target="emulate:sm_90a", **consts).ir[
        "pipeline-tma"]
    rng = np.random.default_rng(7)
    q, k, v = (random_bf16(rng, (1, 2, 200, 64)) for _ in range(3))
    outs = []
    for target in ("emulate:sm_90a", "interp"):
        o = np.zeros((1, 2, 200, 64), q.dtype)
        kern[(2, 2)](q, k, v, o, 0.125, target=target, **consts)
        outs.append(o.astype(np.float64))
    assert _launched_specialized(kern)
    ref = fa.reference(q, k, v, 0.125, causal)
    scale = np.abs(ref).max()
    for o in outs:
        assert np.abs(o - ref).max() <= fa.TOLERANCE * scale
    # the two differ only by f32 summation order, then rounding to bf16 (2**-8)
    assert np.abs(outs[0] - outs[1]).max() <= 2 ** -7 * scale


def test_the_emulator_catches_a_release_before_the_wgmma_group_completes():
    # the overlapped loop releasing its own stage instead of the previous one: the
    # producer's refill lands on bytes the in-flight wgmma group still reads
    from dataclasses import replace
    from tilelang.ir.tma_ops import MbarrierArriveOp
    from tilelang.ir.values import Block
    from tilelang.emulator.emulator import prepare_threads
    kern = tl.kernel(mm.fn, num_warps=8)
    c = kern.compile(SIG, target="emulate:sm_90a", BM=128, STAGES=2)
    fn = c.function
    ws, loop = _consumer_loop(fn)
    body = list(loop.body.ops)
    (k,) = [i for i, op in enumerate(body) if isinstance(op, MbarrierArriveOp)]
    # what the next iteration releases, and its predicate (lane 0 of each warp)
    this_stage, lane0 = body[-1].values[-2:]
    body[k] = replace(body[k], bar=this_stage, pred=lane0)
    bad_loop = replace(loop, body=Block(loop.body.args, tuple(body)))
    consumer = tuple(bad_loop if op is loop else op for op in ws.consumer.ops)
    bad_ws = replace(ws, consumer=Block(ws.consumer.args, consumer))
    bad = replace(fn, body=Block(fn.body.args, tuple(bad_ws if op is ws else op
                                                     for op in fn.body.ops)))
    rng = np.random.default_rng(3)
    a, b = random_bf16(rng, (128, 256)), random_bf16(rng, (256, 64))
    good_out = np.zeros((128, 64), np.float32)
    prepare_threads(fn).run((1, 1), [a, b, good_out])     # the real lowering is fine
    with pytest.raises(tl.KernelError, match="wgmma group not yet completed"):
        prepare_threads(bad).run((1, 1), [a, b, np.zeros((128, 64), np.float32)])


def test_a_128x256x64_tile_fits_with_three_stages_and_runs_exactly():
    # wgmma reads A and B in place and keeps the accumulator in registers, so the
    # scratch area holds only the epilogue's exchange (64 KiB), not A, B and a
    # 128 KiB f32 accumulator: three 48 KiB stages fit the 227 KiB
    from tests.examples.test_examples import load_example
    kern = tl.kernel(load_example("matmul").matmul.fn, num_warps=8)   # bf16 C
    consts = {"BM": 128, "BN": 256, "BK": 64, "STAGES": 3}
    c = kern.compile("A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", target="emulate:sm_90a",
                     **consts)
    assert "tl.warp_specialize" in c.ir["pipeline-tma"]
    assert c.function.attr("shared_bytes") <= 232448
    rng = np.random.default_rng(11)
    a, b = random_bf16(rng, (130, 256)), random_bf16(rng, (256, 248))
    outs = []
    for target in ("emulate:sm_90a", "interp"):
        out = np.zeros((130, 248), a.dtype)
        kern[(2, 1)](a, b, out, target=target, **consts)
        outs.append(out.astype(np.float32))
    assert _launched_specialized(kern)
    # f32 sums in another order, then rounded to bf16: at most one bf16 step apart
    np.testing.assert_allclose(outs[0], outs[1], rtol=2 ** -7, atol=1e-6)


def test_persistent_consumer_loops_overlap_and_release_each_tiles_last_stage():
    from tilelang.ir.hopper_ops import WgmmaWaitOp
    from tilelang.ir.tma_ops import MbarrierArriveOp
    pk = tl.kernel(mm.fn, num_warps=8, persistent=2)
    fn = pk.compile(SIG, target="emulate:sm_90a", BM=128, BK=32).function
    ws = _roles(fn)
    (tiles,) = [op for op in ws.consumer.ops if isinstance(op, ops.ForOp)]
    (k_loop,) = [op for op in tiles.body.ops if isinstance(op, ops.ForOp)]
    assert [w.pending for w in k_loop.body.ops if isinstance(w, WgmmaWaitOp)] == [1]
    after = tiles.body.ops[tiles.body.ops.index(k_loop) + 1:]
    assert isinstance(after[0], WgmmaWaitOp) and isinstance(after[1], MbarrierArriveOp)
    assert after[1].bar == k_loop.results[-2]         # the tile's last stage
