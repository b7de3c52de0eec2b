"""tl.randint4x / randint / rand / randn (frontend/random_lang.py): Philox4x32-10
against Random123's known-answer vectors and a numpy implementation, the same bits
on every CPU tier, 64-bit seeds and offsets, and the distributions' basic shape."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tests.examples.test_examples import load_example

ex = load_example("dropout")
TARGETS = ["interp", "emulate:sm_80", "emulate:sm_90a", "emulate:gfx942", "emulate-ptx:sm_80",
           "emulate-ptx:sm_90a"]

# Random123's kat_vectors for philox4x32_10: (counter, key) -> output
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@tl.kernel
def words(W: tl.Tensor, OFF: tl.Tensor, seed: int, N: tl.constexpr):
    w = tl.randint4x(seed, tl.load(OFF, (0,), (N,)))
    for i in tl.static_range(4):
        tl.store(W, (i, 0), w[i].reshape((1, N)))


@tl.kernel
def draws(U: tl.Tensor, Z: tl.Tensor, R: tl.Tensor, seed: int, N: tl.constexpr):
    off = tl.program_id(0) * N + tl.arange(N)
    tl.store(U, (tl.program_id(0) * N,), tl.rand(seed, off))
    tl.store(Z, (tl.program_id(0) * N,), tl.randn(seed, off))
    tl.store(R, (tl.program_id(0) * N,), tl.randint(seed, off))


@pytest.mark.parametrize("counter, key, want", KAT)
def test_the_numpy_philox_gives_the_known_answers(counter, key, want):
    got = ex.philox4x32(np.array(counter, np.uint32).reshape(4, 1), key)
    assert tuple(int(x) for x in got[:, 0]) == want


def _offsets(n: int, wide: bool) -> np.ndarray:
    base = np.arange(n, dtype=np.int64) * 977
    return (base + (3 << 33) if wide else base).astype(np.int64 if wide else np.int32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed, wide", [(0, False), (1234, False), ((7 << 40) + 99, True)])
def test_kernel_words_are_philox(seed, wide, target):
    off = _offsets(64, wide)
    w = np.zeros((4, 64), np.uint32)
    words[(1,)](w, off, seed, N=64, target=target)
    counter = np.zeros((4, 64), np.uint32)
    counter[0] = off.astype(np.int64) & 0xFFFFFFFF
    counter[1] = (off.astype(np.int64) >> 32) & 0xFFFFFFFF
    np.testing.assert_array_equal(w, ex.philox4x32(counter, (seed & 0xFFFFFFFF, seed >> 32)))


def test_counter_zero_key_zero_is_the_first_known_answer():
    w = np.zeros((4, 16), np.uint32)
    words[(1,)](w, np.zeros(16, np.int32), 0, N=16)
    assert tuple(int(x) for x in w[:, 0]) == KAT[0][2]


def _draw(target: str, n: int = 4096, seed: int = 5):
    u, z, r = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.uint32)
    draws[(n // 256,)](u, z, r, seed, N=256, target=target)
    return u, z, r


def test_distributions():
    u, z, r = _draw("interp")
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.02
    np.testing.assert_array_equal(u, ex.uniform(np.arange(4096), 5))
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05 and np.isfinite(z).all()
    assert len(np.unique(r)) > 4090          # 32-bit words: next to no collisions


@pytest.mark.parametrize("target", TARGETS[1:])
def test_every_target_draws_the_interpreters_numbers(target):
    (u, z, r), (u0, z0, r0) = _draw(target, 1024), _draw("interp", 1024)
    np.testing.assert_array_equal(u, u0)
    np.testing.assert_array_equal(r, r0)
    if target.startswith("emulate-ptx"):   # the PTX's cos.approx/lg2.approx: last bits differ
        np.testing.assert_allclose(z, z0, rtol=1e-5, atol=1e-5)
    else:                                 # the thread emulators share the interpreter's math
        np.testing.assert_array_equal(z, z0)


def test_a_float_seed_is_a_clear_error():
    @tl.kernel
    def bad(U: tl.Tensor):
        tl.store(U, (0,), tl.rand(0.5, tl.arange(8)))
    with pytest.raises(tl.CompileError, match="seed must be an integer"):
        bad.compile("U=f32[1]")
