"""Low-bit formats (tilelang/ir/lowbit.py): the dtypes, decode/encode against ml_dtypes,
the packed layout and PackedArray."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.ir import lowbit
from tilelang.ir.types import LOWBIT_FLOATS, LOWBIT_INTS, TensorType, f8e4m3, f8e5m2

ML = {"f4e2m1": ml_dtypes.float4_e2m1fn, "f6e2m3": ml_dtypes.float6_e2m3fn,
      "f6e3m2": ml_dtypes.float6_e3m2fn, "f8e4m3": ml_dtypes.float8_e4m3fn,
      "f8e5m2": ml_dtypes.float8_e5m2}
ALL_LOWBIT = LOWBIT_INTS + LOWBIT_FLOATS


def test_the_type_constructors_name_every_format():
    assert tl.int(3).name == "i3" and tl.uint(5).name == "u5" and tl.uint(8) is tl.u8
    assert tl.float(2, 1) is tl.f4e2m1 and tl.float(4, 3) is tl.f8e4m3
    assert tl.float(5, 10) is tl.f16 and tl.float(8, 7) is tl.bf16
    assert (tl.f6e3m2.exp, tl.f6e3m2.man, tl.f6e3m2.bits) == (3, 2, 6)
    assert all(d.is_lowbit for d in ALL_LOWBIT) and not tl.i8.is_lowbit
    for bad in (lambda: tl.int(9), lambda: tl.uint(0), lambda: tl.float(4, 4),
                lambda: tl.float(0, 3)):
        with pytest.raises(tl.CompileError, match="bits"):
            bad()


@pytest.mark.parametrize("name", sorted(ML))
def test_decode_matches_ml_dtypes_on_every_code(name):
    dt = {d.name: d for d in LOWBIT_FLOATS}[name]
    codes = np.arange(1 << dt.bits, dtype=np.uint8)   # ml_dtypes: one code per byte
    np.testing.assert_array_equal(lowbit.decode(codes, dt),
                                  codes.view(ML[name]).astype(np.float64))


def _finite_values(dt):
    v = lowbit.decode(np.arange(1 << dt.bits), dt)
    return np.unique(v[np.isfinite(v)])


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ML)),
       xs=st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=40))
def test_encode_rounds_as_ml_dtypes_does(name, xs):
    dt = {d.name: d for d in LOWBIT_FLOATS}[name]
    fin = _finite_values(dt)
    mids = (fin[1:] + fin[:-1]) / 2            # the ties, where the rounding rule shows
    x = np.concatenate([np.array(xs, np.float32), mids.astype(np.float32)])
    ref = x.astype(ML[name]).astype(np.float64)
    got = lowbit.quantize(x, dt)
    same = (ref == got) | (np.isnan(ref) & np.isnan(got))
    assert same.all(), (x[~same][:4], ref[~same][:4], got[~same][:4])
    assert np.array_equal(np.signbit(ref[ref == 0]), np.signbit(got[ref == 0]))


@pytest.mark.parametrize("dt", LOWBIT_FLOATS, ids=str)
def test_every_code_round_trips_and_the_rules_hold(dt):
    codes = np.arange(1 << dt.bits)
    v = lowbit.decode(codes, dt)
    ok = ~np.isnan(v)
    np.testing.assert_array_equal(lowbit.encode(v[ok], dt), codes[ok])
    big = float(lowbit.decode(lowbit.max_code(dt), dt))
    over = lowbit.quantize(np.array([big * 4, np.inf, -np.inf, np.nan]), dt)
    rules = lowbit.float_rules(dt)
    if rules == "finite":      # saturate; NaN is +0
        np.testing.assert_array_equal(over[:3], [big, big, -big])
        assert over[3] == 0 and not np.signbit(over[3])
    elif rules == "fn":        # e4m3: no inf, overflow is NaN
        assert np.isnan(over).all()
    else:                      # e5m2: inf
        np.testing.assert_array_equal(over[:3], [np.inf, np.inf, -np.inf])
        assert np.isnan(over[3])
    assert lowbit.float_rules(f8e4m3) == "fn" and lowbit.float_rules(f8e5m2) == "ieee"


@pytest.mark.parametrize("dt", LOWBIT_INTS, ids=str)
def test_integer_formats_wrap_from_ints_and_saturate_from_floats(dt):
    lo, hi = lowbit.int_range(dt)
    np.testing.assert_array_equal(lowbit.decode(lowbit.encode(np.arange(lo, hi + 1), dt), dt),
                                  np.arange(lo, hi + 1))
    assert lowbit.decode(lowbit.encode(np.array([hi + 1]), dt), dt)[0] == lo     # wraps
    f = lowbit.decode(lowbit.encode(np.array([hi + 7.9, lo - 3.5, np.nan, -0.9]), dt), dt)
    np.testing.assert_array_equal(f, [hi, lo, 0, 0])


@settings(max_examples=80, deadline=None)
@given(dt=st.sampled_from(ALL_LOWBIT), rows=st.integers(1, 4), groups=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_pack_is_planes_of_whole_bytes_and_unpack_inverts_it(dt, rows, groups, seed):
    n = 8 * groups
    codes = np.random.default_rng(seed).integers(0, 1 << dt.bits, (rows, n)).astype(np.uint8)
    data = lowbit.pack(codes, dt)
    assert data.shape == (rows, n * dt.bits // 8)
    np.testing.assert_array_equal(lowbit.unpack(data, dt, n), codes)
    # element c of plane (lo, w) is at bit (c * w) % 8 of byte c * w // 8 of that plane
    at = 0
    for lo, w in lowbit.planes(dt):
        c = n - 1
        byte = data[rows - 1, at + c * w // 8]
        assert (byte >> (c * w % 8)) & ((1 << w) - 1) == (codes[rows - 1, c] >> lo) & \
            ((1 << w) - 1)
        at += n * w // 8


def test_planes_are_the_binary_digits_of_the_width():
    assert lowbit.planes(tl.uint(7)) == ((0, 4), (4, 2), (6, 1))
    assert lowbit.planes(tl.int(3)) == ((0, 2), (2, 1))
    assert lowbit.planes(tl.f8e4m3) == ((0, 8),)
    # 16 bytes of the narrowest plane: the vectorizer's divisibility unit
    assert TensorType(tl.uint(3), 2).elements_per_16_bytes == 128
    assert TensorType(tl.uint(4), 2).elements_per_16_bytes == 32
    assert TensorType(tl.f8e4m3, 2).elements_per_16_bytes == 16


def test_packed_array_values_and_errors():
    x = np.array([[0.5, -1.0, 6.0, 100.0, 0.0, -0.25, 3.0, 1.5]])
    w = tl.pack(x, tl.f4e2m1)
    assert w.shape == (1, 8) and w.strides == (8, 1) and w.data.nbytes == 4
    # 100 saturates to 6; -0.25 is a tie of -0 and -0.5: the even code, -0
    np.testing.assert_array_equal(w.values(), [[0.5, -1, 6, 6, 0, -0.0, 3, 1.5]])
    with pytest.raises(ValueError, match="multiple of 8"):
        tl.pack(np.zeros((2, 5)), tl.uint(3))
    with pytest.raises(ValueError, match="takes 3 bytes"):
        tl.PackedArray(np.zeros(4, np.uint8), (1, 8), tl.uint(3))
    with pytest.raises(ValueError, match="low-bit"):
        tl.PackedArray(np.zeros(8, np.uint8), (1, 8), tl.u8)
