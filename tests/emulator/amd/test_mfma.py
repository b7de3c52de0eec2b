"""The emulator in wave64 mode: th.mfma fragments, 64-lane shuffles, and the
checks that still hold with 64-lane wavefronts (races, NVIDIA-only ops).

The fragment positions are the AMD CDNA ISA's register order, written out here
from the ISA's formulas independently of ``tilelang.ir.layouts``; the LDS GEMM
test depends on no formula at all (fragments read from shared memory by the
lanes' own addresses, product compared with numpy)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator.irkit import T
from tilelang.errors import IRError, KernelError
from tilelang.ir.types import bf16, f16, f32, i32
from tilelang.emulator.emulator import run_threads

BF16 = ml_dtypes.bfloat16
L = np.arange(64)

# (rows, cols) of element i of every lane: the CDNA ISA's register order
ISA = {
    "32x32x8": {
        "a": ((32, 8), lambda i: (L % 32, 4 * (L // 32) + i), 4),
        "b": ((8, 32), lambda i: (4 * (L // 32) + i, L % 32), 4),
        "c": ((32, 32), lambda i: (8 * (i // 4) + 4 * (L // 32) + i % 4, L % 32), 16),
    },
    "16x16x16": {
        "a": ((16, 16), lambda i: (L % 16, 4 * (L // 16) + i), 4),
        "b": ((16, 16), lambda i: (4 * (L // 16) + i, L % 16), 4),
        "c": ((16, 16), lambda i: (4 * (L // 16) + i, L % 16), 4),
    },
}


def _frags(shape: str, op: str, mats: np.ndarray) -> np.ndarray:
    """Per-lane fragments ``(waves * 64, elements)`` of matrices ``mats`` (waves, r, c)."""
    _, pos, n = ISA[shape][op]
    return np.stack([mats[:, r, c] for r, c in map(pos, range(n))], -1).reshape(-1, n)


def _unfrag(shape: str, frags: np.ndarray, waves: int) -> np.ndarray:
    (rows, cols), pos, n = ISA[shape]["c"]
    out = np.zeros((waves, rows, cols), frags.dtype)
    f = frags.reshape(waves, 64, n)
    for i in range(n):
        r, c = pos(i)
        out[:, r, c] = f[:, :, i]
    return out


def _mfma_kernel(shape: str, waves: int, ab) -> object:
    nc = ISA[shape]["c"][2]
    k = T("mfma", 64 * waves, warp_size=64)
    A, B = k.tensor(ab, 2, "A"), k.tensor(ab, 2, "B")
    C, D = k.tensor(f32, 2, "C"), k.tensor(f32, 2, "D")
    tid = k.tid()
    a = k.ld_global(ab, k.gaddr(A, k.mul(tid, 4), 2), vec=4)
    b = k.ld_global(ab, k.gaddr(B, k.mul(tid, 4), 2), vec=4)
    c = k.ld_global(f32, k.gaddr(C, k.mul(tid, nc), 4), vec=nc)
    k.st_global(k.gaddr(D, k.mul(tid, nc), 4), k.mfma(shape, a, b, c))
    return k.build()


@pytest.mark.parametrize("shape", sorted(ISA))
@pytest.mark.parametrize("ab", [bf16, f16])
def test_mfma_on_fragments_gathered_per_the_isa(shape, ab):
    waves = 2
    rng = np.random.default_rng(5)
    abnp = BF16 if ab == bf16 else np.float16
    (m, kk), _, _ = ISA[shape]["a"]
    n = ISA[shape]["b"][0][1]
    A = rng.standard_normal((waves, m, kk)).astype(abnp)
    B = rng.standard_normal((waves, kk, n)).astype(abnp)
    C = rng.standard_normal((waves, m, n)).astype(np.float32)
    fd = np.full_like(_frags(shape, "c", C), np.nan)
    run_threads(_mfma_kernel(shape, waves, ab), (1,),
                [_frags(shape, "a", A), _frags(shape, "b", B), _frags(shape, "c", C), fd])
    want = A.astype(np.float64) @ B.astype(np.float64) + C
    np.testing.assert_allclose(_unfrag(shape, fd, waves), want, rtol=1e-5, atol=1e-5)


def test_wave64_lds_gemm_global_shared_mfma_global():
    """D (32x32 f32) = A (32x8 bf16) @ B (8x32 bf16) by one wavefront: global -> LDS ->
    barrier -> per-lane vector reads of A rows and B columns -> mfma -> global."""
    k = T("gemm64", 64, 512 + 512, warp_size=64)
    A, B, D = k.tensor(bf16, 2, "A"), k.tensor(bf16, 2, "B"), k.tensor(f32, 2, "D")
    tid = k.tid()
    ok = k.bin("lt", tid, 32)      # 32 lanes move 8 elements (16 bytes) of each matrix
    va = k.ld_global(bf16, k.gaddr(A, k.mul(tid, 8), 2), vec=8, pred=ok)
    vb = k.ld_global(bf16, k.gaddr(B, k.mul(tid, 8), 2), vec=8, pred=ok)
    k.st_shared(k.mul(tid, 16), va, pred=ok)
    k.st_shared(k.add(k.mul(tid, 16), 512), vb, pred=ok)
    k.barrier()
    r, h = k.bin("mod", tid, 32), k.bin("floordiv", tid, 32)
    a = k.ld_shared(bf16, k.mul(k.add(k.mul(r, 8), k.mul(h, 4)), 2), vec=4)
    b = [k.ld_shared(bf16, k.add(k.mul(k.add(k.mul(k.add(k.mul(h, 4), i), 32), r), 2),
                                 512))[0] for i in range(4)]
    zero = k.const(0.0, f32)
    d = k.mfma("32x32x8", a, b, [zero] * 16)
    for i in range(16):   # element i: row 8 (i // 4) + 4 h + i % 4, column r
        row = k.add(k.mul(h, 4), 8 * (i // 4) + i % 4)
        k.st_global(k.gaddr(D, k.add(k.mul(row, 32), r), 4), [d[i]])
    rng = np.random.default_rng(11)
    a_ = rng.standard_normal((32, 8)).astype(BF16)
    b_ = rng.standard_normal((8, 32)).astype(BF16)
    d_ = np.full((32, 32), np.nan, np.float32)
    run_threads(k.build(), (1,), [a_, b_, d_])
    np.testing.assert_allclose(d_, a_.astype(np.float64) @ b_.astype(np.float64),
                               rtol=1e-5, atol=1e-5)


def test_wave64_butterfly_reduction_sums_each_wavefront():
    k = T("wsum64", 128, warp_size=64)
    X, Y = k.tensor(f32, 1, "X"), k.tensor(f32, 1, "Y")
    tid = k.tid()
    (v,) = k.ld_global(f32, k.gaddr(X, tid, 4))
    for off in (32, 16, 8, 4, 2, 1):
        v = k.add(v, k.shfl("bfly", v, off))
    k.st_global(k.gaddr(Y, tid, 4), [v])
    x = np.arange(128, dtype=np.float32)
    y = np.zeros(128, np.float32)
    run_threads(k.build(), (1,), [x, y])
    np.testing.assert_array_equal(y[:64], np.full(64, x[:64].sum()))
    np.testing.assert_array_equal(y[64:], np.full(64, x[64:].sum()))


def _shfl64_reference(mode: str, values: np.ndarray, lane: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for t in range(len(values)):
        w, l, b = t // 64, t % 64, int(lane[t])
        src = {"bfly": l ^ b, "idx": b, "down": l + b if l + b < 64 else l,
               "up": l - b if l - b >= 0 else l}[mode]
        out[t] = values[64 * w + src]
    return out


def _shfl64_kernel(mode: str):
    k = T("shfl64_" + mode, 128, warp_size=64)
    X, Ln, Y = k.tensor(i32, 1, "X"), k.tensor(i32, 1, "L"), k.tensor(i32, 1, "Y")
    tid = k.tid()
    (v,) = k.ld_global(i32, k.gaddr(X, tid, 4))
    (lane,) = k.ld_global(i32, k.gaddr(Ln, tid, 4))
    k.st_global(k.gaddr(Y, tid, 4), [k.shfl(mode, v, lane)])
    return k.build()


_SHFL64 = {m: _shfl64_kernel(m) for m in ("bfly", "idx", "down", "up")}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_SHFL64)), st.integers(0, 2**32 - 1),
       st.one_of(st.integers(0, 63).map(lambda b: np.full(128, b, np.int32)),
                 st.lists(st.integers(0, 63), min_size=128, max_size=128)
                 .map(lambda xs: np.array(xs, np.int32))))
def test_wave64_shuffles_match_a_numpy_reference(mode, seed, lane):
    x = np.random.default_rng(seed).integers(-2**31, 2**31, 128).astype(np.int32)
    y = np.zeros(128, np.int32)
    run_threads(_SHFL64[mode], (1,), [x, lane, y])
    np.testing.assert_array_equal(y, _shfl64_reference(mode, x, lane))


def test_wave64_shuffle_lane_64_is_reported_with_wave_lane_names():
    lane = np.zeros(128, np.int32)
    lane[70] = 64
    with pytest.raises(KernelError, match=r"lane operand 64 outside \[0, 64\) in thread 70 "
                                          r"\(warp 1, lane 6\)"):
        run_threads(_SHFL64["idx"], (1,), [np.zeros(128, np.int32), lane,
                                           np.zeros(128, np.int32)])


def test_a_missing_barrier_is_still_a_race_with_wavefronts():
    """Thread t writes word t, then reads word t + 64: another wavefront's write,
    with no barrier between (lanes of one wavefront would be ordered by lockstep
    in the emulator, but the race is between wavefronts)."""
    k = T("race64", 128, 512, warp_size=64)
    Y = k.tensor(f32, 1, "Y")
    tid = k.tid()
    k.st_shared(k.mul(tid, 4), [k.cast(tid, f32)])
    (v,) = k.ld_shared(f32, k.mul(k.bin("mod", k.add(tid, 64), 128), 4))
    k.st_global(k.gaddr(Y, tid, 4), [v])
    with pytest.raises(KernelError, match="race"):
        run_threads(k.build(), (1,), [np.zeros(128, np.float32)])


def test_nvidia_ops_in_a_wavefront_kernel_and_mfma_in_a_warp_kernel_are_lowering_bugs():
    k = T("ldm64", 64, 512, warp_size=64)
    k.ldmatrix(bf16, k.const(0), num=4)
    with pytest.raises(IRError, match="32-lane NVIDIA warp op"):
        run_threads(k.build(), (1,), [])
    k = T("mfma32", 64)
    a = [k.const(1.0, bf16)] * 4
    k.mfma("16x16x16", a, a, [k.const(0.0, f32)] * 4)
    with pytest.raises(IRError, match="64-lane wavefront op"):
        run_threads(k.build(), (1,), [])
    k = T("threads", 96, warp_size=64)
    with pytest.raises(IRError, match="multiple of 64"):
        run_threads(k.build(), (1,), [])


def test_fragment_positions_agree_with_the_layouts_module():
    from tilelang.emulator.amd.mfma import fragment_positions
    for shape, ops in ISA.items():
        for op, ((rows, cols), pos, n) in ops.items():
            got, mshape = fragment_positions(shape, op)
            want = np.stack([r * cols + c for r, c in map(pos, range(n))], -1)
            assert mshape == (rows, cols) and np.array_equal(got, want), (shape, op)
