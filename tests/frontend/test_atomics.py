"""tl.atomic_max/min/and/or/xor/xchg/cas end to end: numpy semantics on the
interpreter and the thread emulator (sm_80, sm_90a, gfx942), serialized conflicts
between blocks, the PTX ``atom.global`` forms, ptxas and hipcc compile checks, and
the CompileErrors of unsupported element types."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tests.codegen.nvidia.test_ptxas import needs_ptxas
from tilelang.interp.atomics import combine

TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"]
INT_DTYPES = [np.int32, np.uint32, np.int64, np.uint64]
KINDS = ["max", "min", "and", "or", "xor", "xchg", "cas"]


@tl.kernel
def rmw(X: tl.Tensor, V: tl.Tensor, C: tl.Tensor, O: tl.Tensor, n, KIND: tl.constexpr,
        B: tl.constexpr = 64):
    off = tl.program_id(0) * B
    m = off + tl.arange(0, B) < n
    v = tl.load(V, (off,), (B,))
    if KIND == "max":
        old = tl.atomic_max(X, (off,), v, mask=m)
    elif KIND == "min":
        old = tl.atomic_min(X, (off,), v, mask=m)
    elif KIND == "and":
        old = tl.atomic_and(X, (off,), v, mask=m)
    elif KIND == "or":
        old = tl.atomic_or(X, (off,), v, mask=m)
    elif KIND == "xor":
        old = tl.atomic_xor(X, (off,), v, mask=m)
    elif KIND == "xchg":
        old = tl.atomic_xchg(X, (off,), v, mask=m)
    else:
        old = tl.atomic_cas(X, (off,), tl.load(C, (off,), (B,)), v, mask=m)
    tl.store(O, (off,), old)


@tl.kernel
def max_into_one(X: tl.Tensor, V: tl.Tensor, O: tl.Tensor, B: tl.constexpr = 32):
    # every block hits the same window: conflicts between blocks, old values in order
    pid = tl.program_id(0)
    v = tl.load(V, (pid * B,), (B,))
    tl.store(O, (pid * B,), tl.atomic_xchg(X, (0,), v))


@tl.kernel
def xchg_float(X: tl.Tensor, V: tl.Tensor, O: tl.Tensor, B: tl.constexpr = 64):
    off = tl.program_id(0) * B
    tl.store(O, (off,), tl.atomic_xchg(X, (off,), tl.load(V, (off,), (B,))))


def _ints(dtype, n, seed, small=False):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    lo, hi = (0, 4) if small else (info.min, info.max)
    return rng.integers(lo, hi, n, dtype=dtype, endpoint=True)


def _want(kind, x, v, c):
    old = x.copy()
    return combine(kind, old, v, c if kind == "cas" else None), old


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=6, deadline=None)
@given(kind=st.sampled_from(KINDS), dtype=st.sampled_from(INT_DTYPES),
       n=st.integers(1, 150), seed=st.integers(0, 2**16))
def test_atomic_kinds_match_numpy(target, kind, dtype, n, seed):
    x, v = _ints(dtype, n, seed), _ints(dtype, n, seed + 1)
    c = np.where(_ints(dtype, n, seed + 2, small=True) < 2, x, _ints(dtype, n, seed + 3))
    want_x, want_old = _want(kind, x, v, c)
    got_o = np.full(n, 7, dtype)
    grid = (-(-n // 64),)
    rmw[grid](x, v, c, got_o, n, KIND=kind, target=target)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(got_o, want_old)


@pytest.mark.parametrize("target", TARGETS[1:])
def test_conflicting_blocks_see_each_others_values_in_order(target):
    blocks = 5
    v = np.arange(blocks * 32, dtype=np.int32)
    x = np.full(32, -1, np.int32)
    o = np.zeros_like(v)
    max_into_one[(blocks,)](x, v, o, target=target)
    # the emulator runs blocks in order: each block sees the previous block's values
    np.testing.assert_array_equal(x, v[-32:])
    np.testing.assert_array_equal(o, np.concatenate([np.full(32, -1, np.int32), v[:-32]]))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_xchg_of_floats_moves_bits(target, dtype):
    x = np.array([np.nan, -0.0, np.inf, 1.5] * 16, dtype)
    v = np.arange(64, dtype=dtype) - 0.25
    o = np.zeros_like(x)
    want_old = x.copy()
    xchg_float[(1,)](x, v, o, target=target)
    np.testing.assert_array_equal(x.view(f"u{x.itemsize}"), v.view(f"u{x.itemsize}"))
    np.testing.assert_array_equal(o.view(f"u{x.itemsize}"), want_old.view(f"u{x.itemsize}"))


def test_ptx_uses_relaxed_gpu_scope_atom_instructions():
    forms = {}
    for dt in ["i32", "u64"]:
        for kind in KINDS:
            c = rmw.compile(f"X={dt}[1],V={dt}[1],C={dt}[1],O={dt}[1],n=i32", target="sm_80",
                            KIND=kind)
            forms[dt, kind] = set(re.findall(r"atom\.[\w.]+", c.ptx))
    assert forms["i32", "max"] == {"atom.global.max.s32"}
    assert forms["u64", "min"] == {"atom.global.min.u64"}
    assert forms["i32", "xor"] == {"atom.global.xor.b32"}
    assert forms["u64", "xchg"] == {"atom.global.exch.b64"}
    assert forms["i32", "cas"] == {"atom.global.cas.b32"}
    assert forms["u64", "cas"] == {"atom.global.cas.b64"}
    # no .sem/.scope qualifier anywhere: relaxed at GPU scope
    assert not any("relaxed" in f or "sys" in f for fs in forms.values() for f in fs)


@needs_ptxas
@pytest.mark.parametrize("target", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("kind", KINDS)
def test_ptxas_assembles_every_kind(kind, target):
    for dt in ["i32", "u32", "i64", "u64"]:
        c = rmw.compile(f"X={dt}[1],V={dt}[1],C={dt}[1],O={dt}[1],n=i32", target=target,
                        KIND=kind)
        assert c.cubin[:4] == b"\x7fELF"
    c = xchg_float.compile("X=f32[1],V=f32[1],O=f32[1]", target=target)
    assert c.cubin[:4] == b"\x7fELF"


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_hipcc_compiles_every_kind(kind):
    for dt in ["i32", "u32", "i64", "u64"]:
        c = rmw.compile(f"X={dt}[1],V={dt}[1],C={dt}[1],O={dt}[1],n=i32", target="gfx942",
                        KIND=kind)
        assert c.code_object[:4] == b"\x7fELF"
        assert "warning" not in c.artifacts["hipcc_log"], c.artifacts["hipcc_log"]
        want = {"max": "atomicMax", "min": "atomicMin", "and": "atomicAnd", "or": "atomicOr",
                "xor": "atomicXor", "xchg": "atomicExch", "cas": "atomicCAS"}[kind]
        assert want in c.hip or "__hip_atomic_fetch_" + kind in c.hip
    for dt in ["f32", "f64"]:
        c = xchg_float.compile(f"X={dt}[1],V={dt}[1],O={dt}[1]", target="gfx942")
        assert c.code_object[:4] == b"\x7fELF"


@tl.kernel
def bad_float_max(X: tl.Tensor, B: tl.constexpr = 32):
    tl.atomic_max(X, (0,), tl.zeros((B,), tl.f32))


@tl.kernel
def bad_i16_or(X: tl.Tensor, B: tl.constexpr = 32):
    tl.atomic_or(X, (0,), tl.zeros((B,), tl.i16))


def test_unsupported_element_types_are_compile_errors_at_the_call():
    with pytest.raises(tl.CompileError, match=r"tl.atomic_max acts on integer elements, "
                                              r"not f32") as info:
        bad_float_max.compile("X=f32[1]", target="interp")
    assert "bad_float_max" in str(info.value) and __file__ in str(info.value)
    with pytest.raises(tl.CompileError, match="32- or 64-bit elements, not i16"):
        bad_i16_or.compile("X=i16[1]", target="emulate:sm_80")


@tl.kernel
def rmw_host(X: tl.Tensor, V: tl.Tensor, C: tl.Tensor, O: tl.Tensor, KIND: tl.constexpr,
             B: tl.constexpr = 64):
    # rmw with tensor parameters only (what the HIP-on-host runner passes)
    off = tl.program_id(0) * B
    v = tl.load(V, (off,), (B,))
    if KIND == "cas":
        old = tl.atomic_cas(X, (off % 64,), tl.load(C, (off,), (B,)), v)
    elif KIND == "max":
        old = tl.atomic_max(X, (off % 64,), v)
    elif KIND == "min":
        old = tl.atomic_min(X, (off % 64,), v)
    elif KIND == "and":
        old = tl.atomic_and(X, (off % 64,), v)
    elif KIND == "or":
        old = tl.atomic_or(X, (off % 64,), v)
    elif KIND == "xor":
        old = tl.atomic_xor(X, (off % 64,), v)
    else:
        old = tl.atomic_xchg(X, (off % 64,), v)
    tl.store(O, (off,), old)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.int32, np.uint64, np.int64])
def test_hip_source_run_on_the_host_matches_the_emulator(kind, dtype):
    from tests.codegen.amd.hip_host import find_clangxx, run_on_host
    if find_clangxx() is None:
        pytest.skip("clang++ not found")
    # three blocks update one 64-element window: old values depend on the serial order,
    # which the host runner (blocks, then threads, in order) and the emulator share
    x, v = _ints(dtype, 64, 1), _ints(dtype, 192, 2)
    c = np.where(_ints(dtype, 192, 3, small=True) < 2, np.tile(x, 3), v)
    dt = {np.int32: "i32", np.uint64: "u64", np.int64: "i64"}[dtype]
    fn = rmw_host.compile(f"X={dt}[1],V={dt}[1],C={dt}[1],O={dt}[1]", target="gfx942",
                          KIND=kind).function
    emu_x, emu_o = x.copy(), np.zeros(192, dtype)
    rmw_host[(3,)](emu_x, v, c, emu_o, KIND=kind, target="emulate:gfx942")
    host_x, _, _, host_o = run_on_host(fn, 3, [x, v, c, np.zeros(192, dtype)], target="gfx942")
    np.testing.assert_array_equal(host_x, emu_x)
    np.testing.assert_array_equal(host_o, emu_o)


@tl.kernel
def add_into_one(X: tl.Tensor, V: tl.Tensor, B: tl.constexpr = 64):
    # every block adds into one window, so each element takes one add per block, and
    # neighbouring 16-bit elements (one 32-bit word) are updated by different threads
    pid = tl.program_id(0)
    tl.atomic_add(X, (0,), tl.load(V, (pid * B,), (B,)))


def _narrow(dt):
    import ml_dtypes
    return {"f16": np.float16, "bf16": ml_dtypes.bfloat16}[dt]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_16_bit_float_atomic_add_rounds_once_per_add(target, dt):
    npdt = _narrow(dt)
    rng = np.random.default_rng(5)
    v = rng.standard_normal(4 * 64).astype(npdt)
    x = rng.standard_normal(64).astype(npdt)
    want = x.copy()
    for b in range(4):   # one add per block, in f32, rounded to the dtype each time
        want = (want.astype(np.float32) + v[b * 64:(b + 1) * 64].astype(np.float32)).astype(npdt)
    add_into_one[(4,)](x, v, target=target)
    np.testing.assert_array_equal(x.view(np.uint16), want.view(np.uint16))


def test_16_bit_float_atomic_add_ptx_and_hip_forms():
    assert "atom.global.add.noftz.f16" in add_into_one.compile("X=f16[1],V=f16[1]",
                                                               target="sm_80").ptx
    assert "atom.global.add.noftz.bf16" in add_into_one.compile("X=bf16[1],V=bf16[1]",
                                                                target="sm_90a").ptx
    hip = add_into_one.compile("X=bf16[1],V=bf16[1]", target="gfx942").hip
    assert "atomicCAS(tl_w" in hip and "tl_f32_to_bf16" in hip


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_hipcc_compiles_16_bit_float_atomic_add(dt):
    c = add_into_one.compile(f"X={dt}[1],V={dt}[1]", target="gfx942")
    assert c.code_object[:4] == b"\x7fELF"
    assert "warning" not in c.artifacts["hipcc_log"], c.artifacts["hipcc_log"]


@pytest.mark.slow
@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_16_bit_float_atomic_add_on_the_host_matches_the_emulator(dt):
    from tests.codegen.amd.hip_host import find_clangxx, run_on_host
    if find_clangxx() is None:
        pytest.skip("clang++ not found")
    npdt = _narrow(dt)
    rng = np.random.default_rng(6)
    v = rng.standard_normal(3 * 64).astype(npdt)
    x = rng.standard_normal(64).astype(npdt)
    fn = add_into_one.compile(f"X={dt}[1],V={dt}[1]", target="gfx942").function
    emu = x.copy()
    add_into_one[(3,)](emu, v, target="emulate:gfx942")
    host, _ = run_on_host(fn, 3, [x, v], target="gfx942")
    np.testing.assert_array_equal(host.view(np.uint16), emu.view(np.uint16))
