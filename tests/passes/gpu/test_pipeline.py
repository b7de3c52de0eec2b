"""pipeline: before/after IR text, loops it must leave alone, the interpreter's results
unchanged by it, and the lowered ring buffers running race-free in the emulator."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang import f32
from tilelang.ir import ops
from tilelang.ir import thread_ops as th
from tilelang.ir.parser import parse_module
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tests.passes.gpu.staging_kit import (
    LOWER, STAGING, apply, emulate, interpret, norm, random_bf16, run_passes, thread_ops_of,
    tile_ir,
)

LOOP = """
module {
  func @k(%A: tensor<bf16, 2>, %n: i32) attributes {num_warps = 4} {
    %z = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %w = tl.constant() {value = 16} : i32
    %f = tl.constant() {value = 0.0} : f32
    %acc0 = tl.splat(value = %f) : tile<16x16xf32>
    %r = tl.for(lower = %z, upper = %n, step = %one, inits = [%acc0]) {kind = "pipeline", stages = 2} : tile<16x16xf32> (body: ^(%i: i32, %acc: tile<16x16xf32>) {
      %off = tl.binary(lhs = %i, rhs = %w) {fn = "mul"} : i32
      %s = tl.alloc_shared() : shared<16x16xbf16>
      tl.copy(tensor = %A, offsets = [%off, %z], dst = %s)
      %t = tl.shared_load(src = %s) : tile<16x16xbf16>
      %d = tl.dot(a = %t, b = %t, acc = %acc) : tile<16x16xf32>
      tl.yield(values = [%d])
    })
    tl.return()
  }
}"""

PIPELINED = """
module {
  func @k(%A: tensor<bf16, 2>, %n: i32) attributes {num_warps = 4} {
    %z = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %w = tl.constant() {value = 16} : i32
    %f = tl.constant() {value = 0.0} : f32
    %acc0 = tl.splat(value = %f) : tile<16x16xf32>
    %s_ring = tl.alloc_shared() : shared<2x16x16xbf16>
    %c = tl.constant() {value = 0} : i32
    %lt = tl.binary(lhs = %z, rhs = %n) {fn = "lt"} : bool
    tl.if(cond = %lt) (then: {
      %off_1 = tl.binary(lhs = %z, rhs = %w) {fn = "mul"} : i32
      %s_2 = tl.shared_slice(src = %s_ring, index = %c) : shared<16x16xbf16>
      tl.copy(tensor = %A, offsets = [%off_1, %z], dst = %s_2) {is_async = true}
      tl.yield()
    }, orelse: {
      tl.yield()
    })
    tl.async_commit()
    %r = tl.for(lower = %z, upper = %n, step = %one, inits = [%acc0]) {kind = "pipeline", stages = 2} : tile<16x16xf32> (body: ^(%i: i32, %acc: tile<16x16xf32>) {
      tl.async_wait() {pending = 0}
      tl.barrier()
      %c_3 = tl.constant() {value = 2} : i32
      %mod = tl.binary(lhs = %i, rhs = %c_3) {fn = "mod"} : i32
      %off = tl.binary(lhs = %i, rhs = %w) {fn = "mul"} : i32
      %s = tl.shared_slice(src = %s_ring, index = %mod) : shared<16x16xbf16>
      %t = tl.shared_load(src = %s) : tile<16x16xbf16>
      %d = tl.dot(a = %t, b = %t, acc = %acc) : tile<16x16xf32>
      %c_4 = tl.constant() {value = 1} : i32
      %add = tl.binary(lhs = %i, rhs = %c_4) {fn = "add"} : i32
      %mod_5 = tl.binary(lhs = %add, rhs = %c_3) {fn = "mod"} : i32
      %lt_6 = tl.binary(lhs = %add, rhs = %n) {fn = "lt"} : bool
      tl.if(cond = %lt_6) (then: {
        %off_7 = tl.binary(lhs = %add, rhs = %w) {fn = "mul"} : i32
        %s_8 = tl.shared_slice(src = %s_ring, index = %mod_5) : shared<16x16xbf16>
        tl.copy(tensor = %A, offsets = [%off_7, %z], dst = %s_8) {is_async = true}
        tl.yield()
      }, orelse: {
        tl.yield()
      })
      tl.async_commit()
      tl.yield(values = [%d])
    })
    tl.async_wait() {pending = 0}
    tl.return()
  }
}"""


def test_two_stage_loop_becomes_a_ring_with_a_prologue():
    assert apply("pipeline", LOOP) == norm(PIPELINED)


def test_three_stages_issue_two_groups_ahead_and_wait_for_the_oldest():
    out = norm(apply("pipeline", LOOP.replace("stages = 2", "stages = 3")))
    fn = parse_module(out).functions[0]
    top = fn.body.ops
    loop = next(op for op in top if isinstance(op, ops.ForOp))
    before = top[:top.index(loop)]
    assert sum(isinstance(op, AsyncCommitOp) for op in before) == 2
    ring = next(op for op in before if isinstance(op, ops.AllocSharedOp))
    assert ring.result.type.shape == (3, 16, 16)
    assert isinstance(loop.body.ops[0], AsyncWaitOp) and loop.body.ops[0].pending == 1
    assert isinstance(loop.body.ops[1], ops.BarrierOp)
    assert isinstance(loop.body.ops[-2], AsyncCommitOp)


@pytest.mark.parametrize("why, old, new", [
    ("one stage", "stages = 2", "stages = 1"),
    ("a range loop", 'kind = "pipeline"', 'kind = "range"'),
    ("offsets from a carried value", "%off = tl.binary(lhs = %i, rhs = %w)",
     "%c0 = tl.cast(value = %acc) : tile<16x16xi32>\n"
     "      %c1 = tl.reduce(value = %c0) {fn = \"sum\", axis = 0} : tile<16xi32>\n"
     "      %off = tl.reduce(value = %c1) {fn = \"sum\", axis = 0} : i32\n"
     "      %unused = tl.binary(lhs = %i, rhs = %w)"),
    ("the tensor is written in the loop", "tl.yield(values = [%d])",
     "%t2 = tl.cast(value = %d) : tile<16x16xbf16>\n"
     "      tl.store(tensor = %A, offsets = [%z, %z], value = %t2)\n"
     "      tl.yield(values = [%d])"),
    ("the buffer is read before the copy", "tl.copy(tensor = %A, offsets = [%off, %z], dst = %s)",
     "%early = tl.shared_load(src = %s) : tile<16x16xbf16>\n"
     "      tl.copy(tensor = %A, offsets = [%off, %z], dst = %s)"),
    ("the buffer is written twice", "%t = tl.shared_load(src = %s)",
     "tl.copy(tensor = %A, offsets = [%z, %z], dst = %s)\n      %t = tl.shared_load(src = %s)"),
    ("the copy is already asynchronous", "dst = %s)", "dst = %s) {is_async = true}"),
])
def test_loops_it_cannot_pipeline_are_unchanged(why, old, new):
    assert LOOP.count(old) == 1, why
    text = LOOP.replace(old, new)
    assert apply("pipeline", text) == norm(text), why


@tl.kernel(num_warps=4)
def mm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 32,
       BN: tl.constexpr = 32, BK: tl.constexpr = 16, STAGES: tl.constexpr = 2,
       REVERSE: tl.constexpr = False):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    if REVERSE:  # runtime lower bound, negative step: the general stage index
        for k in tl.pipeline(tl.cdiv(K, BK) - 1, -1, -1, stages=STAGES):
            acc = tl.dot(tl.load(A, (m0, k * BK), (BM, BK)),
                         tl.load(B, (k * BK, n0), (BK, BN)), acc)
    else:
        for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
            acc = tl.dot(tl.load(A, (m0, k * BK), (BM, BK)),
                         tl.load(B, (k * BK, n0), (BK, BN)), acc)
    tl.store(C, (m0, n0), acc)


SIG = "A=bf16[2],B=bf16[2],C=f32[2]"


def operands(M: int, N: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(M * 1000 + K)
    return random_bf16(rng, (M, K)), random_bf16(rng, (K, N))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("stages", [2, 3, 4])
@pytest.mark.parametrize("K", [0, 16, 40, 80])
def test_interpreter_results_are_identical_before_and_after(K, stages, reverse):
    M, N = 40, 36
    a, b = operands(M, N, K)
    before = tile_ir(mm, SIG, STAGES=stages, REVERSE=reverse)
    after = run_passes(before, STAGING)
    assert any(isinstance(op, SharedSliceOp) for op in ops.walk(after.function().body))
    grid = (2, 2)
    want, got = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    interpret(before, grid, [a, b, want])
    interpret(after, grid, [a, b, got])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("stages, K", [(2, 16), (2, 50), (3, 40), (3, 100), (4, 40)])
def test_lowered_ring_buffers_run_race_free_in_the_emulator(stages, K, reverse):
    M, N = 40, 36
    a, b = operands(M, N, K)
    module = run_passes(tile_ir(mm, SIG, STAGES=stages, REVERSE=reverse), STAGING)
    grid = (2, 2)
    want, got = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    interpret(module, grid, [a, b, want])
    emulate(module, grid, [a, b, got])  # races and early reads are KernelErrors
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(want, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("stages", [2, 3])
def test_lowered_loop_waits_for_all_but_s_minus_2_groups(stages):
    module = run_passes(tile_ir(mm, SIG, STAGES=stages), STAGING)
    fn = run_passes(module, LOWER).function()
    loop = next(op for op in fn.body.ops if isinstance(op, ops.ForOp) and
                any(isinstance(x, th.MmaOp) for x in ops.walk(op.body)))
    waits = [op.pending for op in loop.body.ops if isinstance(op, th.CpAsyncWaitOp)]
    assert waits == [stages - 2]
    commits = thread_ops_of(fn, th.CpAsyncCommitOp)
    assert len(commits) == stages  # S - 1 in the prologue, one per iteration
    # the operands are read by ldmatrix from the ring stage, not reloaded into registers
    assert not [op for op in thread_ops_of(fn, th.LdSharedOp) if op.dtype.bits == 16]
