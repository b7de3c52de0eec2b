"""The emulator's warp-collective ops (ldmatrix, mma, shfl) against numpy.

The expected fragment layouts are written out here from the PTX ISA tables
("Matrix Fragments for mma.m16n8k16 with floating point type", "Warp-level matrix
load instruction: ldmatrix"), independently of the emulator's code; the GEMM test
checks that ldmatrix and mma compose into a correct product, which depends on
no layout formula at all.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator.irkit import T
from tilelang.errors import KernelError
from tilelang.ir.types import bf16, f16, f32, i32
from tilelang.emulator.emulator import run_threads

BF16 = ml_dtypes.bfloat16
LANE = np.arange(32)
G, TIG = LANE // 4, LANE % 4   # groupID, threadID_in_group


def a_pos(i):   # A (16x16, row-major), element a_i of each lane
    row = G if i in (0, 1, 4, 5) else G + 8
    col = TIG * 2 + (i & 1) + (8 if i >= 4 else 0)
    return row, col


def b_pos(i):   # B (16x8, K x N), element b_i of each lane
    return TIG * 2 + (i & 1) + (8 if i >= 2 else 0), G


def c_pos(i):   # C/D (16x8), element c_i of each lane
    return (G if i < 2 else G + 8), TIG * 2 + (i & 1)


def _fill_shared_rows(k, S, rows: int, cols: int, tid, base: int = 0):
    """Copy the row-major bf16 tensor S (rows x cols) into shared at ``base``: each
    thread moves 8 elements (16 bytes) with one vector load and store."""
    chunks = rows * cols // 8
    ok = k.bin("lt", tid, chunks)
    vals = k.ld_global(bf16, k.gaddr(S, k.mul(tid, 8), 2), vec=8, pred=ok)
    k.st_shared(k.add(k.mul(tid, 16), base), vals, pred=ok)


@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("num", [4, 2, 1])
def test_ldmatrix_against_numpy(trans, num):
    k = T("ldm", 32, 512)
    S, O = k.tensor(bf16, 2, "S"), k.tensor(bf16, 2, "O")
    tid = k.tid()
    _fill_shared_rows(k, S, 16, 16, tid)
    k.barrier()
    # lane 8j + r: row r of matrix j; matrices: (rows 0-7 | 8-15) x (cols 0-7 | 8-15)
    row = k.add(k.bin("mod", tid, 8), k.mul(k.bin("mod", k.bin("floordiv", tid, 8), 2), 8))
    col = k.mul(k.bin("floordiv", tid, 16), 8)
    if num < 4:   # only lanes < 8*num supply addresses: give the others garbage
        row = k.where(k.bin("lt", tid, 8 * num), row, k.const(1000))
    frag = k.ldmatrix(bf16, k.mul(k.add(k.mul(row, 16), col), 2), num=num, trans=trans)
    k.st_global(k.gaddr(O, k.mul(tid, 2 * num), 2), frag)
    s = np.random.default_rng(0).standard_normal((16, 16)).astype(BF16)
    out = np.zeros((32, 2 * num), BF16)
    run_threads(k.build(), (1,), [s, out])
    mats = [s[0:8, 0:8], s[8:16, 0:8], s[0:8, 8:16], s[8:16, 8:16]][:num]
    want = np.zeros((32, 2 * num), BF16)
    for j, m in enumerate(mats):
        if trans:
            m = m.T
        want[:, 2 * j] = m[LANE // 4, 2 * (LANE % 4)]
        want[:, 2 * j + 1] = m[LANE // 4, 2 * (LANE % 4) + 1]
    np.testing.assert_array_equal(out.view(np.uint16), want.view(np.uint16))


def test_ldmatrix_row_address_must_be_16_byte_aligned():
    k = T("ldmal", 32, 512)
    S = k.tensor(bf16, 2, "S")
    tid = k.tid()
    _fill_shared_rows(k, S, 16, 16, tid)
    k.barrier()
    k.ldmatrix(bf16, k.add(k.mul(k.bin("mod", tid, 16), 16), 8), num=4)
    with pytest.raises(KernelError, match="misaligned th.ldmatrix"):
        run_threads(k.build(), (1,), [np.zeros((16, 16), BF16)])


def test_ldmatrix_reads_count_for_the_lane_giving_the_address():
    k = T("ldmrace", 32, 512)
    S = k.tensor(bf16, 2, "S")
    tid = k.tid()
    _fill_shared_rows(k, S, 16, 16, tid)    # thread t writes bytes [16t, 16t + 16)
    k.ldmatrix(bf16, k.mul(tid, 16), num=4)  # lane t reads what it wrote: no race
    k.ldmatrix(bf16, k.mul(k.bin("mod", k.add(tid, 1), 32), 16), num=4)
    line = k.line
    with pytest.raises(KernelError, match=r"race: thread 0 \(warp 0, lane 0\) reads bytes "
                                          r"\[16, 32\) that thread 1 .* wrote") as info:
        run_threads(k.build(), (1,), [np.zeros((16, 16), BF16)])
    assert f":{line} " in str(info.value)


def _mma_kernel(warps: int, cdt=f32, abt=bf16):
    k = T("mma", 32 * warps)
    A, B, C, D = (k.tensor(abt, 2, "A"), k.tensor(abt, 2, "B"), k.tensor(cdt, 2, "C"),
                  k.tensor(cdt, 2, "D"))
    tid = k.tid()
    a = k.ld_global(abt, k.gaddr(A, k.mul(tid, 8), 2), vec=8)
    b = k.ld_global(abt, k.gaddr(B, k.mul(tid, 4), 2), vec=4)
    c = k.ld_global(cdt, k.gaddr(C, k.mul(tid, 4), cdt.bits // 8), vec=4)
    d = k.mma(a, b, c)
    k.st_global(k.gaddr(D, k.mul(tid, 4), cdt.bits // 8), d)
    return k.build()


@pytest.mark.parametrize("cdt", [f32, f16])  # PTX pairs an f16 accumulator with f16 inputs
def test_mma_m16n8k16_on_fragments_gathered_per_the_ptx_tables(cdt):
    warps = 2
    rng = np.random.default_rng(3)
    abt, abnp = (bf16, BF16) if cdt == f32 else (f16, np.float16)
    A = rng.standard_normal((warps, 16, 16)).astype(abnp)
    B = rng.standard_normal((warps, 16, 8)).astype(abnp)
    C = rng.standard_normal((warps, 16, 8)).astype(np.float32)
    cnp = np.float32 if cdt == f32 else np.float16
    C = C.astype(cnp)
    fa = np.stack([A[:, r, c] for r, c in map(a_pos, range(8))], -1).reshape(32 * warps, 8)
    fb = np.stack([B[:, r, c] for r, c in map(b_pos, range(4))], -1).reshape(32 * warps, 4)
    fc = np.stack([C[:, r, c] for r, c in map(c_pos, range(4))], -1).reshape(32 * warps, 4)
    fd = np.zeros_like(fc)
    run_threads(_mma_kernel(warps, cdt, abt), (1,), [fa, fb, fc, fd])
    D = np.zeros((warps, 16, 8), cnp)
    fd = fd.reshape(warps, 32, 4)
    for i in range(4):
        r, c = c_pos(i)
        D[:, r, c] = fd[:, :, i]
    want = A.astype(np.float64) @ B.astype(np.float64) + C.astype(np.float64)
    tol = 1e-5 if cdt == f32 else 2e-3
    np.testing.assert_allclose(D.astype(np.float64), want, rtol=tol, atol=tol * 4)


def test_warp_level_gemm_global_shared_ldmatrix_mma_global():
    """D (16x8 f32) = A (16x16 bf16) @ B (16x8 bf16): global -> st_shared -> barrier ->
    ldmatrix (A: x4, B: x2.trans) -> mma -> st_global, per block of one warp."""
    k = T("gemm", 32, 512 + 256)
    A, B, D = k.tensor(bf16, 3, "A"), k.tensor(bf16, 3, "B"), k.tensor(f32, 3, "D")
    tid, pid = k.tid(), k.pid()
    ok_b = k.bin("lt", tid, 16)
    va = k.ld_global(bf16, k.gaddr(A, k.add(k.mul(pid, 256), k.mul(tid, 8)), 2), vec=8)
    vb = k.ld_global(bf16, k.gaddr(B, k.add(k.mul(pid, 128), k.mul(tid, 8)), 2), vec=8,
                     pred=ok_b)
    k.st_shared(k.mul(tid, 16), va)
    k.st_shared(k.add(k.mul(tid, 16), 512), vb, pred=ok_b)
    k.barrier()
    arow = k.bin("mod", tid, 16)
    acol = k.mul(k.bin("floordiv", tid, 16), 8)
    a = k.ldmatrix(bf16, k.mul(k.add(k.mul(arow, 16), acol), 2), num=4)
    b = k.ldmatrix(bf16, k.add(k.mul(k.bin("mod", tid, 16), 16), 512), num=2, trans=True)
    zero = k.const(0.0, f32)
    d = k.mma(a, b, [zero] * 4)
    g, t = k.bin("floordiv", tid, 4), k.bin("mod", tid, 4)
    top = k.add(k.add(k.mul(pid, 128), k.mul(g, 8)), k.mul(t, 2))
    k.st_global(k.gaddr(D, top, 4), d[:2])
    k.st_global(k.gaddr(D, k.add(top, 64), 4), d[2:])
    rng = np.random.default_rng(7)
    blocks = 3
    a_ = rng.standard_normal((blocks, 16, 16)).astype(BF16)
    b_ = rng.standard_normal((blocks, 16, 8)).astype(BF16)
    d_ = np.full((blocks, 16, 8), np.nan, np.float32)
    run_threads(k.build(), (blocks,), [a_, b_, d_])
    want = a_.astype(np.float64) @ b_.astype(np.float64)
    np.testing.assert_allclose(d_, want, rtol=1e-5, atol=1e-5)


def test_shfl_butterfly_reduction_sums_each_warp():
    k = T("wsum", 64)
    X, Y = k.tensor(f32, 1, "X"), k.tensor(f32, 1, "Y")
    tid = k.tid()
    (v,) = k.ld_global(f32, k.gaddr(X, tid, 4))
    for off in (16, 8, 4, 2, 1):
        v = k.add(v, k.shfl("bfly", v, off))
    k.st_global(k.gaddr(Y, tid, 4), [v])
    x = np.arange(64, dtype=np.float32) ** 2
    y = np.zeros(64, np.float32)
    run_threads(k.build(), (1,), [x, y])
    np.testing.assert_array_equal(y[:32], np.full(32, x[:32].sum()))
    np.testing.assert_array_equal(y[32:], np.full(32, x[32:].sum()))


def _shfl_reference(mode: str, values: np.ndarray, lane: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for t in range(len(values)):
        w, l, b = t // 32, t % 32, int(lane[t])
        src = {"bfly": l ^ b, "idx": b, "down": l + b if l + b < 32 else l,
               "up": l - b if l - b >= 0 else l}[mode]
        out[t] = values[32 * w + src]
    return out


def _shfl_kernel(mode: str):
    k = T("shfl_" + mode, 64)
    X, L, Y = k.tensor(i32, 1, "X"), k.tensor(i32, 1, "L"), k.tensor(i32, 1, "Y")
    tid = k.tid()
    (v,) = k.ld_global(i32, k.gaddr(X, tid, 4))
    (lane,) = k.ld_global(i32, k.gaddr(L, tid, 4))
    k.st_global(k.gaddr(Y, tid, 4), [k.shfl(mode, v, lane)])
    return k.build()


_SHFL = {m: _shfl_kernel(m) for m in ("bfly", "idx", "down", "up")}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_SHFL)), st.integers(0, 2**32 - 1),
       st.one_of(st.integers(0, 31).map(lambda b: np.full(64, b, np.int32)),
                 st.lists(st.integers(0, 31), min_size=64, max_size=64)
                 .map(lambda xs: np.array(xs, np.int32))))
def test_shfl_modes_match_a_numpy_reference(mode, seed, lane):
    x = np.random.default_rng(seed).integers(-2**31, 2**31, 64).astype(np.int32)
    y = np.zeros(64, np.int32)
    run_threads(_SHFL[mode], (1,), [x, lane, y])
    np.testing.assert_array_equal(y, _shfl_reference(mode, x, lane))


def test_shfl_of_a_uniform_value_and_bad_lane_operand():
    k = T("shflu", 32)
    Y = k.tensor(f32, 1, "Y")
    tid = k.tid()
    k.st_global(k.gaddr(Y, tid, 4), [k.shfl("down", k.const(2.5, f32), 3)])
    y = np.zeros(32, np.float32)
    run_threads(k.build(), (1,), [y])
    assert (y == 2.5).all()
    bad = _SHFL["idx"]
    with pytest.raises(KernelError, match=r"lane operand 32 outside \[0, 32\) in thread 5"):
        lane = np.zeros(64, np.int32)
        lane[5] = 32
        run_threads(bad, (1,), [np.zeros(64, np.int32), lane, np.zeros(64, np.int32)])


def test_fragment_tables_agree_with_the_layouts_module():
    from tilelang.ir import fragment_layouts as layouts
    from tilelang.emulator import warp as emu_warp
    for name, rows, cols in [("a", emu_warp.A_ROWS, emu_warp.A_COLS),
                             ("b", emu_warp.B_ROWS, emu_warp.B_COLS),
                             ("c", emu_warp.C_ROWS, emu_warp.C_COLS)]:
        table = getattr(layouts, f"mma_m16n8k16_{name}")().table()   # (lane, slot, 2)
        mine = np.stack([np.stack([r, c], -1) for r, c in zip(rows, cols)], 1)
        np.testing.assert_array_equal(table, mine, err_msg=name)
    # and with the PTX tables written out in this file
    for i in range(8):
        np.testing.assert_array_equal(np.stack(a_pos(i), -1), np.stack(
            [emu_warp.A_ROWS[i], emu_warp.A_COLS[i]], -1))
