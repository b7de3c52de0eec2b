"""Instruction semantics against numpy (PTX ISA 8.x definitions), one thread per value."""

from __future__ import annotations

import ctypes

import ml_dtypes
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator.ptx.ptx_kit import params, run_ptx

N = 32
u32s = st.lists(st.integers(0, 2**32 - 1), min_size=N, max_size=N)


def _binary(op: str, a: np.ndarray, b: np.ndarray, out_t: str = "b32") -> np.ndarray:
    """``d = op a, b`` per thread over u32 words; returns d's words."""
    out = np.zeros(N, np.uint32 if out_t != "b64" else np.uint64)
    dreg = "%rd9" if out_t == "b64" else "%r3"
    body = f"""
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	.reg .pred %p<2>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	ld.param.u64 %rd3, [k_param_2];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;
	add.s64 %rd6, %rd2, %rd4;
	ld.global.b32 %r1, [%rd5];
	ld.global.b32 %r2, [%rd6];
	{op} {dreg}, %r1, %r2;
	mul.wide.u32 %rd7, %r0, {8 if out_t == 'b64' else 4};
	add.s64 %rd8, %rd3, %rd7;
	st.global.{out_t} [%rd8], {dreg};
	ret;"""
    run_ptx(body, [a, b, out], params=params("u64", "u64", "u64"))
    return out


@settings(max_examples=15, deadline=None)
@given(u32s, u32s)
def test_integer_arithmetic_wraps(a, b):
    a, b = np.array(a, np.uint32), np.array(b, np.uint32)
    np.testing.assert_array_equal(_binary("add.s32", a, b), a + b)
    np.testing.assert_array_equal(_binary("sub.s32", a, b), a - b)
    np.testing.assert_array_equal(_binary("mul.lo.s32", a, b), a * b)
    np.testing.assert_array_equal(_binary("mul.hi.u32", a, b),
                                  ((a.astype(np.uint64) * b) >> 32).astype(np.uint32))
    wide = a.view(np.int32).astype(np.int64) * b.view(np.int32).astype(np.int64)
    np.testing.assert_array_equal(_binary("mul.wide.s32", a, b, "b64"), wide.view(np.uint64))
    np.testing.assert_array_equal(_binary("xor.b32", a, b), a ^ b)


@settings(max_examples=15, deadline=None)
@given(u32s, st.lists(st.integers(0, 40), min_size=N, max_size=N))
def test_shifts_clamp_the_amount_to_the_width(a, s):
    a, s = np.array(a, np.uint32), np.array(s, np.uint32)
    ref_shl = np.where(s >= 32, 0, a.astype(np.uint64) << np.minimum(s, 31)).astype(np.uint32)
    np.testing.assert_array_equal(_binary("shl.b32", a, s), ref_shl)
    ref_shr = np.where(s >= 32, 0, a >> np.minimum(s, 31)).astype(np.uint32)
    np.testing.assert_array_equal(_binary("shr.u32", a, s), ref_shr)
    sa = a.view(np.int32) >> np.minimum(s, 31).astype(np.int32)
    np.testing.assert_array_equal(_binary("shr.s32", a, s), sa.view(np.uint32))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=N, max_size=N),
       st.lists(st.floats(-1e6, 1e6, width=32), min_size=N, max_size=N))
def test_float_arithmetic_rounds_to_nearest_even(a, b):
    a, b = np.array(a, np.float32), np.array(b, np.float32)
    u = lambda x: x.view(np.uint32)
    np.testing.assert_array_equal(_binary("add.rn.f32", u(a), u(b)), u(a + b))
    np.testing.assert_array_equal(_binary("mul.rn.f32", u(a), u(b)), u(a * b))
    np.testing.assert_array_equal(_binary("max.NaN.f32", u(a), u(b)), u(np.maximum(a, b)))
    # cvt.rn.bf16x2.f32 d, a, b: a's bf16 in the upper half, b's in the lower
    hi = a.astype(ml_dtypes.bfloat16).view(np.uint16).astype(np.uint32)
    lo = b.astype(ml_dtypes.bfloat16).view(np.uint16).astype(np.uint32)
    np.testing.assert_array_equal(_binary("cvt.rn.bf16x2.f32", u(a), u(b)), (hi << 16) | lo)


@settings(max_examples=15, deadline=None)
@given(u32s, st.lists(st.integers(0, 0xFFFF), min_size=N, max_size=N))
def test_prmt_and_bfe_select_bytes_and_fields(a, sel):
    a, sel = np.array(a, np.uint32), np.array(sel, np.uint32)
    b = a[::-1].copy()
    # prmt d, a, b, c with c = sel: bytes 0-3 of a, 4-7 of b; nibble bit 3 = sign fill
    body_sel = sel
    both = a.astype(np.uint64) | (b.astype(np.uint64) << 32)
    ref = np.zeros(N, np.uint64)
    for i in range(4):
        s = (body_sel >> (4 * i)) & 0xF
        byte = (both >> ((s & 7).astype(np.uint64) * 8)) & 0xFF
        byte = np.where(s & 8, np.where(byte & 0x80, 0xFF, 0), byte)
        ref |= byte.astype(np.uint64) << (8 * i)
    out = np.zeros(N, np.uint32)
    body = """
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	ld.param.u64 %rd3, [k_param_2];
	ld.param.u64 %rd10, [k_param_3];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;
	add.s64 %rd6, %rd2, %rd4;
	add.s64 %rd7, %rd3, %rd4;
	ld.global.b32 %r1, [%rd5];
	ld.global.b32 %r2, [%rd6];
	ld.global.b32 %r4, [%rd7];
	prmt.b32 %r3, %r1, %r2, %r4;
	add.s64 %rd8, %rd10, %rd4;
	st.global.b32 [%rd8], %r3;
	ret;"""
    run_ptx(body, [a, b, sel, out], params=params("u64", "u64", "u64", "u64"))
    np.testing.assert_array_equal(out, ref.astype(np.uint32))
    pos, ln = sel & 31, (sel >> 5) & 31
    field = _binary_bfe(a, pos, ln)
    ref = np.where(ln == 0, 0, (a.astype(np.uint64) >> pos) & ((1 << ln.astype(np.uint64)) - 1))
    np.testing.assert_array_equal(field, ref.astype(np.uint32))


def _binary_bfe(a: np.ndarray, pos: np.ndarray, ln: np.ndarray) -> np.ndarray:
    out = np.zeros(N, np.uint32)
    body = """
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	ld.param.u64 %rd3, [k_param_2];
	ld.param.u64 %rd10, [k_param_3];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;
	add.s64 %rd6, %rd2, %rd4;
	add.s64 %rd7, %rd3, %rd4;
	ld.global.b32 %r1, [%rd5];
	ld.global.b32 %r2, [%rd6];
	ld.global.b32 %r4, [%rd7];
	bfe.u32 %r3, %r1, %r2, %r4;
	add.s64 %rd8, %rd10, %rd4;
	st.global.b32 [%rd8], %r3;
	ret;"""
    run_ptx(body, [a, pos.astype(np.uint32), ln.astype(np.uint32), out],
            params=params("u64", "u64", "u64", "u64"))
    return out


def test_divergent_branches_reconverge_and_scalars_arrive_through_params():
    out = np.zeros(N, np.int32)
    body = """
	.reg .b32 %r<8>;
	.reg .b64 %rd<8>;
	.reg .pred %p<2>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u32 %r5, [k_param_1];
	mov.u32 %r0, %tid.x;
	and.b32 %r1, %r0, 1;
	setp.eq.b32 %p1, %r1, 0;
	@%p1 bra $EVEN;
	mul.lo.s32 %r2, %r0, 100;
	bra.uni $JOIN;
$EVEN:
	neg.s32 %r2, %r0;
$JOIN:
	add.s32 %r2, %r2, %r5;
	mul.wide.u32 %rd2, %r0, 4;
	add.s64 %rd3, %rd1, %rd2;
	st.global.b32 [%rd3], %r2;
	ret;"""
    run_ptx(body, [out, (ctypes.c_int32, 7)], params=params("u64", "u32"))
    t = np.arange(N)
    np.testing.assert_array_equal(out, np.where(t % 2 == 0, -t, 100 * t) + 7)
