"""stage-through-shared: before/after IR text, and the lowering that reads the staged
operands with ldmatrix straight from their buffers (checked in the emulator)."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang import f32
from tilelang.ir import thread_ops as th
from tests.passes.gpu.staging_kit import (
    LOWER, apply, emulate, interpret, norm, random_bf16, run_passes, thread_ops_of, tile_ir,
)

HEADER = """
module {
  func @k(%A: tensor<bf16, 2>, %B: tensor<bf16, 2>, %C: tensor<f32, 2>) attributes {num_warps = 4} {
    %z = tl.constant() {value = 0} : i32
    %f = tl.constant() {value = 0.0} : f32
    %acc = tl.splat(value = %f) : tile<32x32xf32>
"""
FOOTER = """
    tl.store(tensor = %C, offsets = [%z, %z], value = %d)
    tl.return()
  }
}"""


def test_dot_operands_go_through_shared_buffers():
    before = HEADER + """
    %a = tl.load(tensor = %A, offsets = [%z, %z]) : tile<32x16xbf16>
    %b = tl.load(tensor = %B, offsets = [%z, %z]) : tile<16x32xbf16>
    %d = tl.dot(a = %a, b = %b, acc = %acc) : tile<32x32xf32>""" + FOOTER
    after = HEADER + """
    %a_smem = tl.alloc_shared() : shared<32x16xbf16, swizzle = "Swizzle(1, 3, 3)">
    tl.copy(tensor = %A, offsets = [%z, %z], dst = %a_smem)
    %a = tl.shared_load(src = %a_smem) : tile<32x16xbf16>
    %b_smem = tl.alloc_shared() : shared<16x32xbf16, swizzle = "Swizzle(2, 3, 3)">
    tl.copy(tensor = %B, offsets = [%z, %z], dst = %b_smem)
    %b = tl.shared_load(src = %b_smem) : tile<16x32xbf16>
    %d = tl.dot(a = %a, b = %b, acc = %acc) : tile<32x32xf32>""" + FOOTER
    assert apply("stage-through-shared", before) == norm(after)


def test_operands_through_unit_reshapes_and_a_transposed_b_are_staged():
    before = """
    module {
      func @k(%Q: tensor<bf16, 4>, %K: tensor<bf16, 4>, %C: tensor<f32, 2>) attributes {num_warps = 4} {
        %z = tl.constant() {value = 0} : i32
        %f = tl.constant() {value = 0.0} : f32
        %acc = tl.splat(value = %f) : tile<32x32xf32>
        %q4 = tl.load(tensor = %Q, offsets = [%z, %z, %z, %z]) : tile<1x1x32x16xbf16>
        %q = tl.reshape(value = %q4) : tile<32x16xbf16>
        %k4 = tl.load(tensor = %K, offsets = [%z, %z, %z, %z]) : tile<1x1x32x16xbf16>
        %k = tl.reshape(value = %k4) : tile<32x16xbf16>
        %kt = tl.trans(value = %k) : tile<16x32xbf16>
        %d = tl.dot(a = %q, b = %kt, acc = %acc) : tile<32x32xf32>
        tl.store(tensor = %C, offsets = [%z, %z], value = %d)
        tl.return()
      }
    }"""
    out = apply("stage-through-shared", before)
    # the swizzle is chosen for the 32 x 16 matrix the window holds
    assert '%q4_smem = tl.alloc_shared() {offset = -1} : shared<1x1x32x16xbf16, ' \
           'swizzle = "Swizzle(1, 3, 3)">' in out
    assert "%q4 = tl.shared_load(src = %q4_smem)" in out
    assert "%k4 = tl.shared_load(src = %k4_smem)" in out
    assert "tl.load(" not in out


B_FROM_ACC = """
    %b = tl.cast(value = %acc) : tile<32x32xbf16>
    %b2 = tl.reshape(value = %b) : tile<16x64xbf16>
    %d0 = tl.dot(a = %a, b = %b2, acc = %acc2) : tile<32x64xf32>
    %d = tl.cast(value = %acc) : tile<32x32xf32>"""


@pytest.mark.parametrize("why, body", [
    ("another use", """
    %a = tl.load(tensor = %A, offsets = [%z, %z]) : tile<32x16xbf16>
    %a2 = tl.cast(value = %a) : tile<32x16xf32>""" + B_FROM_ACC),
    ("transposed A", """
    %a0 = tl.load(tensor = %A, offsets = [%z, %z]) : tile<16x32xbf16>
    %a = tl.trans(value = %a0) : tile<32x16xbf16>""" + B_FROM_ACC),
    ("masked", """
    %m = tl.splat(value = %t) : tile<32x16xbool>
    %a = tl.load(tensor = %A, offsets = [%z, %z], mask = %m) : tile<32x16xbf16>""" + B_FROM_ACC),
    ("no tensor cores for f32", """
    %a0 = tl.load(tensor = %A, offsets = [%z, %z]) : tile<32x16xbf16>
    %a = tl.cast(value = %a0) : tile<32x16xf32>
    %b0 = tl.load(tensor = %B, offsets = [%z, %z]) : tile<16x32xbf16>
    %b = tl.cast(value = %b0) : tile<16x32xf32>
    %d = tl.dot(a = %a, b = %b, acc = %acc) : tile<32x32xf32>"""),
])
def test_other_loads_are_left_alone(why, body):
    text = HEADER + """    %t = tl.constant() {value = true} : bool
    %acc2 = tl.splat(value = %f) : tile<32x64xf32>""" + body + FOOTER
    assert apply("stage-through-shared", text) == norm(text), why


@tl.kernel(num_warps=4)
def mm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr = 32,
       BN: tl.constexpr = 32, BK: tl.constexpr = 16, B_NK: tl.constexpr = False):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in range(tl.cdiv(K, BK)):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        if B_NK:
            b = tl.trans(tl.load(B, (n0, k * BK), (BN, BK)))
        else:
            b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc)


SIG = "A=bf16[2],B=bf16[2],C=f32[2]"


@pytest.mark.parametrize("b_nk", [False, True], ids=["b_kxn", "b_nxk"])
def test_staged_operands_are_read_by_ldmatrix_in_place(b_nk):
    fn = run_passes(tile_ir(mm, SIG, B_NK=b_nk), ("stage-through-shared", *LOWER)).function()
    lds = thread_ops_of(fn, th.LdMatrixOp)
    assert {(op.num, op.trans) for op in lds} == {(4, False), (2, not b_nk)}
    # the shared_loads emit nothing and A, B are not stashed: no 16-bit shared reads,
    # and the only 16-bit shared writes are the copies' (one per slot of each buffer)
    assert not [op for op in thread_ops_of(fn, th.LdSharedOp) if op.dtype.bits == 16]
    stores16 = [op for op in thread_ops_of(fn, th.StSharedOp) if op.values[0].type.dtype.bits == 16]
    assert len(stores16) == 2 * (32 * 16) // 128


@pytest.mark.parametrize("b_nk", [False, True], ids=["b_kxn", "b_nxk"])
@pytest.mark.parametrize("M, N, K", [(32, 32, 16), (45, 70, 50)])
def test_staged_dot_in_the_emulator_equals_the_interpreter(b_nk, M, N, K):
    rng = np.random.default_rng(M + K)
    a = random_bf16(rng, (M, K))
    b = random_bf16(rng, (N, K) if b_nk else (K, N))
    module = run_passes(tile_ir(mm, SIG, B_NK=b_nk), ("stage-through-shared",))
    grid = (-(-M // 32), -(-N // 32))
    got, want = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    emulate(module, grid, [a, b, got])
    interpret(tile_ir(mm, SIG, B_NK=b_nk), grid, [a, b, want])
    ref = a.astype(np.float64) @ (b.T if b_nk else b).astype(np.float64)
    np.testing.assert_allclose(want, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


OVERWRITTEN = """
module {
  func @k(%A: tensor<bf16, 2>, %B: tensor<bf16, 2>, %C: tensor<f32, 2>) attributes {num_warps = 4} {
    %z = tl.constant() {value = 0} : i32
    %f = tl.constant() {value = 0.0} : f32
    %acc = tl.splat(value = %f) : tile<32x32xf32>
    %s = tl.alloc_shared() : shared<32x16xbf16>
    tl.copy(tensor = %A, offsets = [%z, %z], dst = %s)
    %a = tl.shared_load(src = %s) : tile<32x16xbf16>
    %bs = tl.alloc_shared() : shared<16x32xbf16>
    tl.copy(tensor = %B, offsets = [%z, %z], dst = %bs)
    %b = tl.shared_load(src = %bs) : tile<16x32xbf16>
    tl.barrier()
    tl.copy(tensor = %B, offsets = [%z, %z], dst = %s)
    %d = tl.dot(a = %a, b = %b, acc = %acc) : tile<32x32xf32>
    tl.store(tensor = %C, offsets = [%z, %z], value = %d)
    tl.return()
  }
}"""


def test_an_operand_overwritten_before_the_dot_is_loaded_into_registers():
    from tilelang.ir.parser import parse_module
    from tilelang.passes.gpu.shared_operands import in_place_reads, shared_operand_values
    module = parse_module(OVERWRITTEN)
    body = module.function().body
    assert shared_operand_values(body, 4) == {"b"}  # %s is rewritten between: %a is not
    assert set(in_place_reads(body, 4)) == {"bs"}
    rng = np.random.default_rng(3)
    a, b = random_bf16(rng, (32, 16)), random_bf16(rng, (16, 32))
    got, want = np.zeros((32, 32), np.float32), np.zeros((32, 32), np.float32)
    emulate(module, (1,), [a, b, got])
    interpret(module, (1,), [a, b, want])
    np.testing.assert_allclose(want, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
