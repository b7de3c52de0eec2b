"""Integer ops on tiles (``//``, ``%``, shifts, bitwise) and the math functions
(``tl.erf``, ``tl.pow``, ``tl.log1p``, ``tl.expm1``, ``tl.fma``, ``tl.clamp``,
``tl.isnan``, ``tl.isinf``) end to end: hypothesis against numpy on the interpreter
and on the thread emulator of every GPU target, and the HIP C++ run on the host."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tilelang as tl
from tests.codegen.amd.hip_host import find_clangxx

N = 64
TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-40, -1e-40, 3.4e38, 1e-8, -1e-8,
           0.3, -0.3, 0.5, -0.5, 0.9, 1.1, 3.9, 4.1, -3.95, 20.0, -20.0, 89.5, -104.0]

floats = hnp.arrays(np.float32, N, elements=st.floats(-1e4, 1e4, width=32) | st.sampled_from(
    [np.float32(v) for v in SPECIAL]))
small_floats = hnp.arrays(np.float32, N, elements=st.floats(-30, 30, width=32))
ints = hnp.arrays(np.int32, N, elements=st.integers(-2**31, 2**31 - 1) |
                  st.integers(-100, 100) | st.sampled_from([-2**31, -1, 0, 1]))
shifts = hnp.arrays(np.int32, N, elements=st.integers(0, 31))


@tl.kernel(num_warps=2)
def int_ops(A, B, S, Out, N: tl.constexpr = N):
    a = tl.load(A, (0,), (N,))
    b = tl.load(B, (0,), (N,))
    s = tl.load(S, (0,), (N,))
    tl.store(Out, (0,), a // b)
    tl.store(Out, (N,), a % b)
    tl.store(Out, (2 * N,), a // 8)
    tl.store(Out, (3 * N,), a % 8)
    tl.store(Out, (4 * N,), a // -3)
    tl.store(Out, (5 * N,), a % -3)
    tl.store(Out, (6 * N,), a << s)
    tl.store(Out, (7 * N,), a >> s)
    tl.store(Out, (8 * N,), (a & b) ^ (~a | b))


def int_reference(a, b, s):
    with np.errstate(all="ignore"):
        return [a // b, a % b, a // 8, a % 8, a // -3, a % -3, a << s, a >> s, (a & b) ^ (~a | b)]


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=25, deadline=None)
@given(a=ints, b=ints, s=shifts)
def test_integer_ops_follow_numpy(target, a, b, s):
    out = np.zeros(9 * N, np.int32)
    int_ops[(1,)](a, b, s, out, target=target)
    for k, want in enumerate(int_reference(a, b, s)):
        np.testing.assert_array_equal(out[k * N:(k + 1) * N], want.astype(np.int32),
                                      err_msg=f"output {k}")


def test_floor_rules_on_the_signs_and_zero():
    a = np.array([7, -7, 7, -7, 0, 5, -5, -2**31] * 8, np.int32)
    b = np.array([2, 2, -2, -2, 3, 0, 0, -1] * 8, np.int32)
    out = np.zeros(9 * N, np.int32)
    int_ops[(1,)](a, b, np.zeros(N, np.int32), out, target="interp")
    assert list(out[:8]) == [3, -4, -4, 3, 0, 0, 0, -2**31]      # floor; x // 0 == 0
    assert list(out[N:N + 8]) == [1, 1, -1, -1, 0, 0, 0, 0]      # divisor's sign; x % 0 == 0


@tl.kernel(num_warps=2)
def float_ops(X, Y, Out, N: tl.constexpr = N):
    x = tl.load(X, (0,), (N,))
    y = tl.load(Y, (0,), (N,))
    tl.store(Out, (0,), tl.erf(x))
    tl.store(Out, (N,), tl.log1p(x))
    tl.store(Out, (2 * N,), tl.expm1(x))
    tl.store(Out, (3 * N,), tl.clamp(x, -2.5, y))
    tl.store(Out, (4 * N,), tl.where(tl.isnan(x), 1.0, 0.0) + tl.where(tl.isinf(x), 2.0, 0.0))
    tl.store(Out, (5 * N,), x % y)
    tl.store(Out, (6 * N,), tl.pow(tl.abs(x), tl.minimum(y, 3.0)))


def float_reference(x, y):
    with np.errstate(all="ignore"):
        return [np.vectorize(math.erf, otypes=[np.float64])(x), np.log1p(x), np.expm1(x),
                np.minimum(np.maximum(x, np.float32(-2.5)), y),
                np.isnan(x) * 1.0 + np.isinf(x) * 2.0, np.remainder(x, y),
                np.power(np.abs(x), np.minimum(y, np.float32(3.0)))]


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=25, deadline=None)
@given(x=floats, y=floats)
def test_float_functions_follow_numpy(target, x, y):
    out = np.zeros(7 * N, np.float32)
    with np.errstate(all="ignore"):
        float_ops[(1,)](x, y, out, target=target)
    for k, want in enumerate(float_reference(x, y)):
        got = out[k * N:(k + 1) * N]
        want = want.astype(np.float32)
        if k in (1, 2, 6):  # numpy's own f32 functions: the interpreter calls them
            np.testing.assert_array_max_ulp(got, want, maxulp=0)
        else:  # erf correctly rounded from f64; the rest exact
            np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


@tl.kernel(num_warps=1)
def fma_kernel(A, B, C, Out, N: tl.constexpr = N):
    tl.store(Out, (0,), tl.fma(tl.load(A, (0,), (N,)), tl.load(B, (0,), (N,)),
                               tl.load(C, (0,), (N,))))


def _nearest(r: Fraction, dtype) -> float:
    """The float of ``dtype`` nearest to the rational ``r`` (ties to even)."""
    f = dtype(float(r))
    cands = [np.nextafter(f, dtype(-np.inf)), f, np.nextafter(f, dtype(np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - r),
                                     int(np.array(c).view(np.uint32 if dtype is np.float32
                                                           else np.uint64)) & 1))
    return best


def fma_reference(a, b, c, dtype):
    out = []
    for x, y, z in zip(a, b, c):
        if all(map(math.isfinite, (x, y, z))):
            r = Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
            out.append(_nearest(r, dtype) if r != 0 else dtype(x) * dtype(y) + dtype(z))
        else:
            with np.errstate(all="ignore"):
                out.append(np.float64(x) * np.float64(y) + np.float64(z))
    return np.array(out, dtype)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=25, deadline=None)
@given(a=small_floats, b=small_floats, c=small_floats)
def test_fma_rounds_once(target, a, b, c):
    out = np.zeros(N, np.float32)
    fma_kernel[(1,)](a, b, c, out, target=target)
    np.testing.assert_array_equal(out, fma_reference(a, b, c, np.float32))


@pytest.mark.parametrize("target", TARGETS)
def test_fma_at_a_tie_of_the_f64_sum(target):
    """(1 + 2**-12)**2 lies exactly halfway between two f32s; a tiny ``c`` decides the
    rounding, which computing in f64 and rounding twice would lose."""
    a = np.full(N, 1 + 2.0 ** -12, np.float32)
    c = np.tile(np.array([2.0 ** -70, -2.0 ** -70, 0.0, 0.0], np.float32), N // 4)
    out = np.zeros(N, np.float32)
    fma_kernel[(1,)](a, a, c, out, target=target)
    base = 1 + 2.0 ** -11
    assert list(out[:4]) == [np.float32(base + 2.0 ** -23), np.float32(base),
                             np.float32(base), np.float32(base)]


def test_fma_on_f64_and_narrow_floats():
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(N) for _ in range(3))
    out = np.zeros(N, np.float64)
    fma_kernel[(1,)](a, b, c, out, target="interp")
    np.testing.assert_array_equal(out, fma_reference(a, b, c, np.float64))
    h = [v.astype(np.float16) for v in (a, b, c)]
    out16 = np.zeros(N, np.float16)
    fma_kernel[(1,)](*h, out16, target="emulate:sm_80")
    want = fma_reference(*(v.astype(np.float32) for v in h), np.float32).astype(np.float16)
    np.testing.assert_array_equal(out16, want)


def test_constant_operands_fold():
    @tl.kernel(num_warps=1)
    def k(Out):
        tl.store(Out, (0,), tl.full((4,), tl.fma(3, 0.5, 1), tl.f32))
    out = np.zeros(4, np.float32)
    k[(1,)](out, target="interp")
    assert (out == 2.5).all()


needs_clangxx = pytest.mark.skipif(find_clangxx() is None, reason="clang++ not found")


@pytest.fixture(scope="module")
def hip_host():
    from tests.codegen.amd.hip_host_block import registered
    with registered("gfx942") as target:
        yield target.name


@needs_clangxx
@pytest.mark.slow
def test_hip_source_on_the_host_gives_the_numpy_answers(hip_host):
    rng = np.random.default_rng(2)
    a = rng.integers(-1000, 1000, N).astype(np.int32)
    b = rng.integers(-9, 9, N).astype(np.int32)
    s = rng.integers(0, 31, N).astype(np.int32)
    out = np.zeros(9 * N, np.int32)
    int_ops[(1,)](a, b, s, out, target=hip_host)
    for k, want in enumerate(int_reference(a, b, s)):
        np.testing.assert_array_equal(out[k * N:(k + 1) * N], want.astype(np.int32))
    x = np.array(SPECIAL + list(rng.uniform(-5, 5, N - len(SPECIAL))), np.float32)
    y = np.roll(x, 3)
    fout = np.zeros(7 * N, np.float32)
    with np.errstate(all="ignore"):
        float_ops[(1,)](x, y, fout, target=hip_host)
    for k, want in enumerate(float_reference(x, y)):
        got, want = fout[k * N:(k + 1) * N], want.astype(np.float32)
        # the host's libm erff/log1pf/expm1f/powf: within a few ulp of numpy's
        np.testing.assert_array_max_ulp(got, want, maxulp=4 if k in (0, 1, 2, 6) else 0)
    c = rng.standard_normal(N).astype(np.float32)
    fo = np.zeros(N, np.float32)
    fma_kernel[(1,)](x, y, c, fo, target=hip_host)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fo, fma_reference(x, y, c, np.float32))


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
def test_float_remainder_signs_as_in_python(target):
    pairs = [(-4.0, 2.0), (4.0, -2.0), (-7.5, 2.0), (7.5, -2.0), (3.0, np.inf), (-3.0, np.inf),
             (5.0, 0.0), (-0.0, 3.0)]
    x = np.array([p[0] for p in pairs] * (N // len(pairs)), np.float32)
    y = np.array([p[1] for p in pairs] * (N // len(pairs)), np.float32)
    out = np.zeros(7 * N, np.float32)
    with np.errstate(all="ignore"):
        float_ops[(1,)](x, y, out, target=target)
    got = out[5 * N:5 * N + len(pairs)]
    for g, (a, b) in zip(got, pairs):
        want = math.nan if b == 0 else a % b  # Python's float %
        assert (math.isnan(g) and math.isnan(want)) or \
            (g == want and math.copysign(1, g) == math.copysign(1, want)), (a, b, g)
