"""Philox4x32 random numbers (``tl.philox``, ``tl.randint``, ``tl.rand``, ``tl.randn``):
Random123's known answers, bits equal to a numpy Philox on the interpreter and the
emulators, and the PTX and HIP of a random kernel assemble."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tilelang as tl
from tests.examples.test_examples import load_example
from tilelang.errors import CompileError

philox_reference = load_example("dropout").philox_reference

# Random123 kat_vectors: philox4x32 10, counter (4 words), key (2 words) -> 4 words
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"]


@tl.kernel(num_warps=1)
def philox_words(OUT: tl.Tensor, SEED: tl.constexpr, C0: tl.constexpr, C1: tl.constexpr,
                 C2: tl.constexpr, C3: tl.constexpr):
    zero = tl.zeros((32,), tl.u32)
    words = tl.philox(SEED, zero + C0, zero + C1, zero + C2, zero + C3)
    for j in tl.static_range(4):
        tl.store(OUT, (j, 0), words[j][None, :])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("counter, key, expected", KAT)
def test_known_answers_of_random123(counter, key, expected, target):
    out = np.zeros((4, 32), np.uint32)
    seed = key[0] | key[1] << 32
    philox_words[(1,)](out, SEED=seed, C0=counter[0], C1=counter[1], C2=counter[2],
                       C3=counter[3], target=target)
    assert [hex(w) for w in out[:, 0]] == [hex(w) for w in expected]
    assert (out == out[:, :1]).all()


@tl.kernel(num_warps=2)
def random_tiles(BITS: tl.Tensor, U: tl.Tensor, N: tl.Tensor, seed: int,
                 BLOCK: tl.constexpr = 128):
    start = tl.program_id(0) * BLOCK
    off = start + tl.arange(0, BLOCK)
    tl.store(BITS, (start,), tl.randint(seed, off))
    tl.store(U, (start,), tl.rand(seed, off))
    tl.store(N, (start,), tl.randn(seed, off))


def _draw(seed: int, n: int, target: str) -> tuple[np.ndarray, ...]:
    bits, u, z = np.zeros(n, np.uint32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    random_tiles[(tl.cdiv(n, 128),)](bits, u, z, seed, target=target)
    return bits, u, z


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(-2**31, 2**31 - 1), n=st.integers(1, 300))
@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_bits_and_uniforms_equal_numpy_philox(seed, n, target):
    bits, u, _ = _draw(seed, n, target)
    ref = philox_reference(seed & 0xFFFFFFFF, np.arange(n, dtype=np.uint32))[0]
    np.testing.assert_array_equal(bits, ref)
    np.testing.assert_array_equal(u, (ref >> np.uint32(8)).astype(np.float32)
                                  * np.float32(2.0 ** -24))
    assert (u >= 0).all() and (u < 1).all()


@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"])
def test_every_tier_draws_the_interpreters_numbers(target):
    want = _draw(77, 300, "interp")
    for a, b in zip(_draw(77, 300, target), want):
        np.testing.assert_array_equal(a, b)


def test_randn_is_standard_normal():
    _, _, z = _draw(5, 20_000, "interp")
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
    # Box-Muller of the first two words, as docs/semantics.md states
    w = philox_reference(5, np.arange(20_000, dtype=np.uint32))
    u1 = np.maximum((w[0] >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24),
                    np.float32(1e-7))
    u2 = (w[1] >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
    ref = np.sqrt(-2.0 * np.log(u1.astype(np.float64))) * np.cos(2 * np.pi * u2.astype(np.float64))
    np.testing.assert_allclose(z, ref, rtol=1e-5, atol=1e-5)


def test_a_different_seed_or_offset_gives_different_bits():
    a, _, _ = _draw(1, 256, "interp")
    b, _, _ = _draw(2, 256, "interp")
    assert (a != b).mean() > 0.99 and len(np.unique(a)) == 256


@tl.kernel
def float_seed(OUT: tl.Tensor):
    tl.store(OUT, (0,), tl.rand(1.5, tl.arange(0, 32)))


@tl.kernel
def float_offsets(OUT: tl.Tensor):
    tl.store(OUT, (0,), tl.rand(1, tl.zeros((32,), tl.f32)))


@pytest.mark.parametrize("k, message", [(float_seed, "seed must be an integer"),
                                        (float_offsets, "offsets must be integers")])
def test_bad_seeds_and_offsets_are_compile_errors(k, message):
    with pytest.raises(CompileError, match=message) as e:
        k[(1,)](np.zeros(32, np.float32), target="interp")
    assert "test_philox.py" in str(e.value)


def _thread_fn(arch: str):
    return random_tiles.compile("BITS=u32[1]:16,U=f32[1]:16,N=f32[1]:16,seed=i32",
                                target=f"emulate:{arch}").function


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_random_kernel_ptx_assembles(arch):
    from tilelang.codegen.nvidia import ptxas
    from tilelang.codegen.nvidia.ptx import emit_ptx
    ptx = emit_ptx(_thread_fn(arch), arch)
    assert "mul.wide.u32" in ptx or "mul.hi.u32" in ptx, "Philox's 32x32->64 multiply"
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    result = ptxas.assemble(ptx, arch)
    assert result.cubin[:4] == b"\x7fELF" and result.spill_bytes == 0


@pytest.mark.parametrize("arch", ["gfx90a", "gfx942"])
def test_random_kernel_hip_compiles(arch):
    from tests.codegen.test_hip import _compile, needs_hipcc  # noqa: F401
    from tilelang.codegen.amd import hipcc
    from tilelang.codegen.amd.hip import emit_hip
    fn = _thread_fn(arch)
    src = emit_hip(fn, arch)
    assert "uint64_t" in src or "unsigned long" in src
    try:
        hipcc.find_hipcc()
    except CompileError:
        pytest.skip("hipcc not found")
    _compile(fn, arch)
