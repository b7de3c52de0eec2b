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
    # copysign d, a, b: the magnitude of b, the sign of a
    np.testing.assert_array_equal(_binary("copysign.f32", u(a), u(b)), u(np.copysign(b, a)))
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


def _unary(op: str, a: np.ndarray, src: str = "b32", dst: str = "b32") -> np.ndarray:
    """``d = op a`` per thread: ``a`` and ``d`` as words of the given register widths."""
    wide_in, wide_out = src == "b64", dst == "b64"
    out = np.zeros(N, np.uint64 if wide_out else np.uint32)
    areg, dreg = ("%rd10" if wide_in else "%r1"), ("%rd11" if wide_out else "%r3")
    body = f"""
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	.reg .b16 %rs<4>;
	.reg .pred %p<2>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd3, [k_param_1];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd4, %r0, {8 if wide_in else 4};
	add.s64 %rd5, %rd1, %rd4;
	ld.global.{src} {areg}, [%rd5];
	{op.format(d=dreg, a=areg)};
	mul.wide.u32 %rd7, %r0, {8 if wide_out else 4};
	add.s64 %rd8, %rd3, %rd7;
	st.global.{dst} [%rd8], {dreg};
	ret;"""
    run_ptx(body, [a, out], params=params("u64", "u64"))
    return out


floats = st.lists(st.floats(-1e4, 1e4, width=32) | st.sampled_from(
    [np.inf, -np.inf, np.nan, 0.0, -0.0, 2.5, -3.5, 1e-40]), min_size=N, max_size=N)


@settings(max_examples=15, deadline=None)
@given(floats)
def test_float_unary_ops_and_conversions(xs):
    x = np.array(xs, np.float32)
    u = x.view(np.uint32)
    f = lambda w: w.view(np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(_unary("neg.f32 {d}, {a}", u)), -x)
        np.testing.assert_array_equal(f(_unary("abs.f32 {d}, {a}", u)), np.abs(x))
        np.testing.assert_array_equal(f(_unary("sqrt.rn.f32 {d}, {a}", u)), np.sqrt(x))
        np.testing.assert_array_equal(f(_unary("rcp.rn.f32 {d}, {a}", u)), np.float32(1) / x)
        np.testing.assert_array_equal(f(_unary("ex2.approx.f32 {d}, {a}", u)),
                                      np.exp2(x.astype(np.float64)).astype(np.float32))
        np.testing.assert_array_equal(f(_unary("lg2.approx.f32 {d}, {a}", u)),
                                      np.log2(x.astype(np.float64)).astype(np.float32))
        for fn in ("sin", "cos"):
            np.testing.assert_array_equal(f(_unary(fn + ".approx.f32 {d}, {a}", u)),
                                          getattr(np, fn)(x.astype(np.float64))
                                          .astype(np.float32))
        # setp's unordered and NaN tests: ltu is true with a NaN, num only without one
        got = _unary("setp.ltu.f32 %p1, {a}, 0f00000000;\n\tselp.b32 {d}, 1, 0, %p1", u)
        np.testing.assert_array_equal(got, ((x < 0) | np.isnan(x)).astype(np.uint32))
        got = _unary("setp.num.f32 %p1, {a}, {a};\n\tselp.b32 {d}, 1, 0, %p1", u)
        np.testing.assert_array_equal(got, (~np.isnan(x)).astype(np.uint32))
        np.testing.assert_array_equal(f(_unary("cvt.rni.f32.f32 {d}, {a}", u)), np.rint(x))
        np.testing.assert_array_equal(f(_unary("cvt.rzi.f32.f32 {d}, {a}", u)), np.trunc(x))
        # float -> s32 truncates and saturates; NaN becomes 0
        ref = np.where(np.isnan(x), 0, np.clip(np.trunc(x.astype(np.float64)), -2**31,
                                               2**31 - 1)).astype(np.int32)
        np.testing.assert_array_equal(_unary("cvt.rzi.s32.f32 {d}, {a}", u).view(np.int32),
                                      ref)
        # f32 -> bf16 rounds to nearest even (the 16-bit register moved into a 32-bit one)
        got = _unary("cvt.rn.bf16.f32 %rs1, {a};\n\tcvt.u32.u16 {d}, %rs1", u)
        np.testing.assert_array_equal(got, x.astype(ml_dtypes.bfloat16).view(np.uint16))
        # and back: bf16 -> f32 is exact
        got = _unary("cvt.rn.bf16.f32 %rs1, {a};\n\tcvt.f32.bf16 {d}, %rs1", u)
        np.testing.assert_array_equal(
            got, x.astype(ml_dtypes.bfloat16).astype(np.float32).view(np.uint32))
        # comparisons on floats are ordered: false whenever a NaN takes part
        got = _unary("setp.gt.f32 %p1, {a}, 0f00000000;\n\tselp.b32 {d}, 1, 0, %p1", u)
        np.testing.assert_array_equal(got, (x > 0).astype(np.uint32))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-2**31, 2**31 - 1), min_size=N, max_size=N),
       st.lists(st.integers(-2**31, 2**31 - 1), min_size=N, max_size=N))
def test_integer_division_min_max_and_widening(xs, ys):
    a, b = np.array(xs, np.int32), np.array(ys, np.int32)
    b = np.where(b == 0, 7, b).astype(np.int32)
    ua, ub = a.view(np.uint32), b.view(np.uint32)
    q = np.trunc(a.astype(np.float64) / b.astype(np.float64)).astype(np.int64)
    q = np.where(q == 2**31, -2**31, q).astype(np.int32)        # INT_MIN / -1 wraps
    np.testing.assert_array_equal(_binary("div.s32", ua, ub).view(np.int32), q)
    np.testing.assert_array_equal(_binary("rem.s32", ua, ub).view(np.int32),
                                  (a.astype(np.int64) - q.astype(np.int64) * b).astype(np.int32))
    np.testing.assert_array_equal(_binary("min.s32", ua, ub).view(np.int32), np.minimum(a, b))
    np.testing.assert_array_equal(_binary("max.u32", ua, ub), np.maximum(ua, ub))
    np.testing.assert_array_equal(_unary("cvt.s64.s32 {d}, {a}", ua, dst="b64").view(np.int64),
                                  a.astype(np.int64))
    np.testing.assert_array_equal(_unary("cvt.u64.u32 {d}, {a}", ua, dst="b64"),
                                  ua.astype(np.uint64))
    wide = (a.astype(np.int64) << 20) + b
    np.testing.assert_array_equal(_unary("cvt.u32.u64 {d}, {a}", wide.view(np.uint64),
                                         src="b64"), wide.view(np.uint64).astype(np.uint32))
    np.testing.assert_array_equal(_unary("cvt.rn.f32.s32 {d}, {a}", ua).view(np.float32),
                                  a.astype(np.float32))
    np.testing.assert_array_equal(_unary("cvt.rn.f32.u32 {d}, {a}", ua).view(np.float32),
                                  ua.astype(np.float32))
    # u32 -> u16 keeps the low half (moved back into a 32-bit register, zero-extended)
    np.testing.assert_array_equal(_unary("cvt.u16.u32 %rs1, {a};\n\tcvt.u32.u16 {d}, %rs1", ua),
                                  ua & 0xFFFF)
    # mov packs {lo, hi} 16-bit halves and unpacks them again
    got = _unary("mov.b32 {{%rs1, %rs2}}, {a};\n\tmov.b32 {d}, {{%rs2, %rs1}}", ua)
    np.testing.assert_array_equal(got, (ua >> 16) | (ua << 16))


def test_fma_rounds_once():
    # 1 + 2**-24 is not an f32, so a*b rounded first would lose it: fma keeps it
    a = np.full(N, 1 + 2**-12, np.float32)
    c = np.full(N, -1.0, np.float32)
    out = np.zeros(N, np.uint32)
    body = """
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	ld.param.u64 %rd3, [k_param_2];
	mov.u32 %r0, %tid.x;
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;
	add.s64 %rd6, %rd2, %rd4;
	ld.global.b32 %r1, [%rd5];
	ld.global.b32 %r2, [%rd6];
	fma.rn.f32 %r3, %r1, %r1, %r2;
	add.s64 %rd8, %rd3, %rd4;
	st.global.b32 [%rd8], %r3;
	ret;"""
    run_ptx(body, [a, c, out], params=params("u64", "u64", "u64"))
    np.testing.assert_array_equal(out.view(np.float32), np.float32(2**-11 + 2**-24))


def test_atomic_adds_on_one_address_apply_in_thread_order():
    x = np.zeros(1, np.float32)
    old = np.zeros(N, np.float32)
    body = """
	.reg .b32 %r<8>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	mov.u32 %r0, %tid.x;
	cvt.rn.f32.s32 %r1, %r0;
	atom.global.add.f32 %r2, [%rd1], %r1;
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd2, %rd4;
	st.global.b32 [%rd5], %r2;
	ret;"""
    run_ptx(body, [x, old], params=params("u64", "u64"))
    t = np.arange(N, dtype=np.float32)
    assert x[0] == t.sum()
    np.testing.assert_array_equal(old, np.concatenate([[0], np.cumsum(t)[:-1]]))
