"""lower-lowbit (passes/tile/lower_lowbit.py) and the packed loads and stores of
lower-to-threads (passes/gpu/lower_packed.py): every format's decode and encode, bit
for bit, on the interpreter, the emulators and emulate-ptx; ptxas and hipcc; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tilelang.codegen.nvidia import ptxas
from tilelang.ir import lowbit
from tilelang.ir.printer import print_module
from tilelang.ir.types import LOWBIT_FLOATS, LOWBIT_INTS
from tilelang.passes import PASSES

ALL = LOWBIT_INTS + LOWBIT_FLOATS
EMULATED = ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"]
R, C = 8, 256           # a 2048-element window: 8 per thread on 256 threads (gfx942)


@tl.kernel(num_warps=4)
def decode_encode(W: tl.Tensor, Out: tl.Tensor, X: tl.Tensor, Q: tl.Tensor,
                  BR: tl.constexpr = R, BC: tl.constexpr = C):
    """Out = decode(W); Q = encode(X) (both R x C windows at a block's offsets)."""
    r0, c0 = tl.program_id(0) * BR, tl.program_id(1) * BC
    tl.store(Out, (r0, c0), tl.load(W, (r0, c0), (BR, BC)).to(Out.dtype))
    tl.store(Q, (r0, c0), tl.load(X, (r0, c0), (BR, BC)).to(Q.dtype))


def _inputs(dt, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << dt.bits, (R, C)).astype(np.uint8)
    codes[0, :1 << min(dt.bits, 8)] = np.arange(1 << dt.bits)[:C]      # every code
    if dt.is_float:
        fin = np.unique(lowbit.decode(np.arange(1 << dt.bits), dt))
        fin = fin[np.isfinite(fin)]
        special = np.concatenate([(fin[1:] + fin[:-1]) / 2, fin, fin * 1.0001,
                                  [np.inf, -np.inf, np.nan, -0.0, 1e-30, 1e30]])
        x = np.concatenate([special, rng.standard_normal(R * C) * fin.max() / 3])
        x = x[:R * C].astype(np.float32).reshape(R, C)
    else:
        lo, hi = lowbit.int_range(dt)
        x = rng.uniform(lo - 3, hi + 3, (R, C)).astype(np.float32)
        x[0, :4] = [np.nan, hi + 0.99, lo - 0.99, -0.5]
    return codes, x


def _run(dt, target, seed=0):
    codes, x = _inputs(dt, seed)
    w = lowbit.from_codes(codes, dt)
    out = np.zeros((R, C), np.float32)
    q = lowbit.from_codes(np.zeros((R, C), np.uint8), dt)
    decode_encode[(1, 1)].with_host_arrays(w, out, x, q, target=target)
    want_out = lowbit.decode(codes, dt).astype(np.float32)
    want_q = lowbit.encode(x, dt)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(q.codes(), want_q)


@pytest.mark.parametrize("dt", ALL, ids=str)
def test_every_format_on_the_interpreter(dt):
    _run(dt, "interp")


@pytest.mark.slow
@pytest.mark.parametrize("target", EMULATED)
@pytest.mark.parametrize("dt", ALL, ids=str)
def test_every_format_bit_for_bit_in_the_emulators(dt, target):
    _run(dt, target)


@pytest.mark.slow
@pytest.mark.parametrize("dt", [tl.int(3), tl.uint(5), tl.f4e2m1, tl.f6e3m2, tl.f8e5m2],
                         ids=str)
def test_the_ptx_runs_bit_for_bit(dt):
    _run(dt, "emulate-ptx:sm_80")


@settings(max_examples=12, deadline=None)
@given(dt=st.sampled_from(ALL), seed=st.integers(0, 2**16))
def test_random_inputs_match_on_sm_80(dt, seed):
    _run(dt, "emulate:sm_80", seed)


@tl.kernel(num_warps=4)
def window(W: tl.Tensor, Out: tl.Tensor, BR: tl.constexpr = 4, BC: tl.constexpr = 64):
    r0, c0 = tl.program_id(0) * BR, tl.program_id(1) * BC - 3    # unaligned, ragged
    v = tl.load(W, (r0, c0), (BR, BC), other=0)
    tl.store(Out, (r0, c0), v.to(tl.i32))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
@pytest.mark.parametrize("dt", [tl.int(3), tl.uint(1), tl.f6e2m3, tl.f8e5m2], ids=str)
def test_unaligned_ragged_windows_read_element_by_element(dt, target):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 1 << dt.bits, (6, 40)).astype(np.uint8)
    codes[1, :8] = np.arange(8) + (1 << dt.bits) - 8     # f8e5m2: inf and NaN codes
    w = lowbit.from_codes(codes, dt)
    out = np.full((6, 40), -99, np.int32)
    window[(2, 2)].with_host_arrays(w, out, target=target)
    v = lowbit.decode(codes, dt)
    want = np.clip(np.trunc(np.nan_to_num(v)), -2**31, 2**31 - 1).astype(np.int32)
    np.testing.assert_array_equal(out, want)


@tl.kernel(num_warps=4)
def store_window(X: tl.Tensor, Q: tl.Tensor, BR: tl.constexpr = 32, BC: tl.constexpr = 64):
    r0, c0 = tl.program_id(0) * BR, tl.program_id(1) * BC
    tl.store(Q, (r0, c0), tl.load(X, (r0, c0), (BR, BC)).to(Q.dtype))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:gfx942", "emulate-ptx:sm_80"])
@pytest.mark.parametrize("dt", [tl.uint(3), tl.f4e2m1, tl.int(1)], ids=str)
def test_stores_to_rows_that_are_not_16_byte_multiples_write_byte_by_byte(dt, target):
    # 72 columns: no `divisible` fact, so each plane's bytes are stored one by one;
    # the ragged edges (40 rows of 64, 72 columns of 128) are masked per group
    x = np.random.default_rng(0).uniform(-9, 9, (40, 72)).astype(np.float32)
    q = tl.pack(np.zeros((40, 72)), dt)
    store_window[(2, 2)].with_host_arrays(x, q, target=target)
    np.testing.assert_array_equal(q.codes(), lowbit.encode(x, dt))


def test_no_low_bit_value_survives_the_pass():
    compiled = decode_encode.compile("W=u3[2]:16,Out=f32[2]:16,X=f32[2]:16,Q=f6e3m2[2]:16",
                                     target="sm_80")
    text = print_module(dict(compiled.stages)["lower-lowbit"])
    assert "xu3>" not in text and "xf6e3m2>" not in text
    assert "tile<8x256xu8>" in text
    assert "tensor<u3, 2" in text          # the tensors keep their formats


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("dt", ["u3", "i4", "u7", "f4e2m1", "f6e3m2", "f8e4m3", "f8e5m2"])
def test_assembles_without_spills(dt, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = decode_encode.compile(f"W={dt}[2]:16,Out=f32[2]:16,X=f32[2]:16,Q={dt}[2]:16",
                                     target=arch)
    result = ptxas.assemble(compiled.ptx, arch, verbose=True)
    assert result.cubin and result.spill_bytes == 0, result.log


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("dt", ["u3", "f4e2m1", "f8e5m2"])
def test_hip_compiles(dt):
    compiled = decode_encode.compile(f"W={dt}[2]:16,Out=f32[2]:16,X=f32[2]:16,Q={dt}[2]:16",
                                     target="gfx942")
    assert compiled.code_object[:4] == b"\x7fELF"


# -- errors ----------------------------------------------------------------------------

@tl.kernel
def adds_codes(W: tl.Tensor, Out: tl.Tensor):
    w = tl.load(W, (0, 0), (8, 64))
    tl.store(Out, (0, 0), (w + w).to(tl.f32))


@tl.kernel
def sorts_codes(W: tl.Tensor, Out: tl.Tensor):
    w = tl.load(W, (0,), (64,))
    tl.store(Out, (0,), tl.sort(w).to(tl.f32))


@tl.kernel
def gathers_codes(W: tl.Tensor, Out: tl.Tensor):
    w = tl.gather(W, tl.arange(0, 64))
    tl.store(Out, (0,), w.to(tl.f32))


@tl.kernel(num_warps=8)
def stores_a_small_tile(Q: tl.Tensor, X: tl.Tensor):
    tl.store(Q, (0, 0), tl.load(X, (0, 0), (4, 32)).to(Q.dtype))


def test_arithmetic_on_a_low_bit_tile_names_the_kernel_line_and_fix():
    with pytest.raises(tl.CompileError, match=r"adds_codes.*'add' on u3.*storage") as e:
        adds_codes.compile("W=u3[2]:16,Out=f32[2]:16", target="sm_80")
    assert "x.to(tl.i32)" in str(e.value) and "test_lower_lowbit.py" in str(e.value)


@pytest.mark.parametrize("target", ["interp", "sm_80"])
def test_an_op_that_cannot_take_codes_is_refused_on_every_tier(target):
    with pytest.raises(tl.CompileError, match=r"sorts_codes.* on f4e2m1 values.*storage"):
        sorts_codes.compile("W=f4e2m1[1]:16,Out=f32[1]:16", target=target)
    with pytest.raises(tl.CompileError, match=r"gathers_codes.*tl.gather on u3 values"):
        gathers_codes.compile("W=u3[1]:16,Out=f32[1]:16", target=target)


def test_a_store_threads_cannot_pack_into_whole_bytes_is_refused():
    with pytest.raises(tl.CompileError, match="whole bytes") as e:
        stores_a_small_tile.compile("Q=u1[2]:16,X=f32[2]:16", target="sm_80")
    assert "stores_a_small_tile" in str(e.value)


@tl.kernel
def takes_a_low_bit_scalar(x, Out: tl.Tensor):
    tl.store(Out, (0,), tl.full((8,), x.to(tl.f32), tl.f32))


@pytest.mark.parametrize("target", ["interp", "sm_80"])
def test_a_low_bit_scalar_parameter_is_refused(target):
    with pytest.raises(tl.CompileError, match="parameter 'x' is a u3 scalar") as e:
        takes_a_low_bit_scalar.compile("x=u3,Out=f32[1]:16", target=target)
    assert "takes_a_low_bit_scalar" in str(e.value)


def test_a_gpu_launch_needs_packed_sub_byte_tensors():
    import ml_dtypes
    codes = np.zeros((R, C), ml_dtypes.int4)
    with pytest.raises(tl.LaunchError, match="must be a packed tl.PackedArray"):
        decode_encode[(1, 1)](codes, np.zeros((R, C), np.float32), np.zeros((R, C), np.float32),
                              codes, target="emulate-ptx:sm_80")


def test_ml_dtypes_arrays_are_packed_on_the_way_in_and_out():
    import ml_dtypes
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, (R, C)).astype(ml_dtypes.int4)
    out = np.zeros((R, C), np.float32)
    x = rng.uniform(-9, 9, (R, C)).astype(np.float32)
    q = np.zeros((R, C), ml_dtypes.int4)
    for target in ("interp", "emulate:sm_80", "emulate-ptx:sm_80"):
        decode_encode[(1, 1)].with_host_arrays(w, out, x, q, target=target)
        np.testing.assert_array_equal(out, w.astype(np.float32))
        np.testing.assert_array_equal(q.astype(np.int32), np.clip(np.trunc(x), -8, 7))


def test_the_pass_is_registered_after_persistent_tiles():
    from tilelang.passes import PIPELINES
    assert PIPELINES["gpu"][1] == "lower-lowbit" and PIPELINES["interp"][1] == "check-lowbit"
    assert "lower-lowbit" in PASSES


@tl.kernel(num_warps=4)
def lowbit_dot(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor):
    a = tl.load(A, (0, 0), (64, 32))
    b = tl.load(B, (0, 0), (32, 64))
    tl.store(C, (0, 0), tl.dot(a, b, out_dtype=tl.f32))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["interp"] + EMULATED)
@pytest.mark.parametrize("dt", [tl.f8e4m3, tl.f8e5m2, tl.f4e2m1, tl.float(6, 1)], ids=str)
def test_a_dot_of_low_bit_operands_widens_them_exactly(dt, target):
    # f16 holds every value of these formats (bf16 the 6-bit exponent's): the products
    # are exact in f32 and only the summation order differs between tiers
    rng = np.random.default_rng(0)
    ca, cb = rng.integers(0, 1 << dt.bits, (64, 32)), rng.integers(0, 1 << dt.bits, (32, 64))
    ca, cb = (np.where(np.isfinite(lowbit.decode(c, dt)), c, 0) for c in (ca, cb))
    ref = lowbit.decode(ca, dt) @ lowbit.decode(cb, dt)
    c = np.zeros((64, 64), np.float32)
    lowbit_dot[(1,)].with_host_arrays(lowbit.from_codes(ca, dt), lowbit.from_codes(cb, dt), c,
                                      target=target)
    assert np.abs(c - ref).max() <= 1e-6 * np.abs(ref).max()


@pytest.mark.slow
@pytest.mark.parametrize("dt", [tl.int(3), tl.f4e2m1, tl.f8e5m2], ids=str)
def test_the_hip_source_runs_bit_for_bit_on_the_host(dt):
    from tests.codegen.amd.hip_host import find_clangxx
    if find_clangxx() is None:
        pytest.skip("clang++ not found")
    from tests.codegen.amd.hip_host_block import registered
    with registered("gfx942") as target:
        _run(dt, target.name)
