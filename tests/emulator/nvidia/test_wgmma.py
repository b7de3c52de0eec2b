"""The emulator's wgmma ops against numpy.

Each kernel copies a byte image of shared memory, built here with
``tilelang.ir.shared_layouts.Swizzle`` (CuTe's ``Swizzle<b, 3, 3>`` on element
offsets, i.e. ``Swizzle<b, 4, 3>`` on bytes: the PTX ISA's 32/64/128-byte
swizzle modes) or with the no-swizzle core-matrix layout, into shared memory,
runs chained ``th.wgmma`` ops over K, and stores the accumulator fragment,
which is mapped back with the PTX ISA's m64nNk16 D layout written out here.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.emulator.irkit import T
from tilelang.errors import KernelError
from tilelang.ir import hopper_ops as hp
from tilelang.ir.shared_layouts import Swizzle
from tilelang.ir.types import bf16, f32, i64
from tilelang.emulator.emulator import run_threads

BF16 = ml_dtypes.bfloat16


def d_pos(n: int, threads: int):
    """(row, col) of accumulator element i of every thread, PTX ISA m64nNk16 D."""
    tid = np.arange(threads)
    wg, warp, lane = tid // 128, (tid // 32) % 4, tid % 32
    g, t = lane // 4, lane % 4
    rows = [64 * wg + 16 * warp + g + 8 * ((i // 2) % 2) for i in range(n // 2)]
    cols = [8 * (i // 4) + 2 * t + i % 2 for i in range(n // 2)]
    return np.stack(rows), np.stack(cols)


def image(mat: np.ndarray, width: int) -> np.ndarray:
    """The K-major shared image of ``mat`` (rows x K) for one swizzle width
    (K == width / 2 elements, one swizzle atom wide), as bf16 elements."""
    rows, k = mat.shape
    out = np.zeros(rows * k, BF16)
    if width == 0:   # 8x8 core matrices, 128 contiguous bytes each; K-chunks lbo apart
        r, c = np.indices(mat.shape)
        off = (c // 8) * (rows * 8) + (r // 8) * 64 + (r % 8) * 8 + c % 8
    else:
        bits = {32: 1, 64: 2, 128: 3}[width]
        off = Swizzle(bits, 3, 3).apply(np.arange(rows * k).reshape(rows, k))
    out[off.ravel()] = mat.ravel()
    return out


def n_major_image(b_nk: np.ndarray, width: int) -> np.ndarray:
    """B (N x K) stored K x N, N contiguous: atoms of ``width / 2`` columns, each
    K rows of ``width`` bytes swizzled, one atom after another."""
    bits = {32: 1, 64: 2, 128: 3}[width]
    per = width // 2
    kn = b_nk.T
    atoms = []
    for a in range(kn.shape[1] // per):
        sub = np.ascontiguousarray(kn[:, a * per:(a + 1) * per]).ravel()
        out = np.zeros_like(sub)
        out[Swizzle(bits, 3, 3).apply(np.arange(sub.size))] = sub
        atoms.append(out)
    return np.concatenate(atoms)


def wgmma_kernel(n: int, width: int, warpgroups: int = 1, fence: bool = True,
                 wait: bool = True, pending: int = 0, read_early: bool = False,
                 reg_a: bool = False, n_major: bool = False, overwrite: bool = False):
    threads = 128 * warpgroups
    ka = 16 if width == 0 else width // 2
    a_bytes, b_bytes = 64 * warpgroups * ka * 2, n * ka * 2
    k = T("wgmma", threads=threads, shared=a_bytes + b_bytes)
    X, D = k.tensor(bf16, 1, "X"), k.tensor(f32, 1, "D")
    Ag = k.tensor(bf16, 1, "Ag")          # A row-major, for the register-A form
    tid = k.tid()
    first = ()
    for j in range((a_bytes + b_bytes) // 16 // threads + 1):
        chunk = k.add(tid, j * threads)
        ok = k.bin("lt", chunk, (a_bytes + b_bytes) // 16)
        vals = k.ld_global(bf16, k.gaddr(X, k.mul(chunk, 8), 2), vec=8, pred=ok)
        k.st_shared(k.mul(chunk, 16), vals, pred=ok)
        first = first if j else vals
    k.emit(hp.FenceProxyAsyncOp)
    k.barrier()
    if fence:
        k.emit(hp.WgmmaFenceOp)
    wg = k.bin("shr", tid, 7)
    acc = [k.const(0.0, f32)] * (n // 2)
    for ks in range(ka // 16):
        if width == 0:
            a_addr = k.mul(wg, 64 * 16 * 2)
            da = k.one(hp.WgmmaDescOp, i64, lbo=64 * warpgroups * 16, sbo=128, swizzle=0,
                       addr=a_addr)
            db = k.one(hp.WgmmaDescOp, i64, lbo=n * 16, sbo=128, swizzle=0,
                       addr=k.const(a_bytes))
        else:
            a_addr = k.add(k.mul(wg, 64 * width), ks * 32)
            da = k.one(hp.WgmmaDescOp, i64, lbo=16, sbo=8 * width, swizzle=width, addr=a_addr)
            db = k.one(hp.WgmmaDescOp, i64, lbo=16, sbo=8 * width, swizzle=width,
                       addr=k.const(a_bytes + ks * 32))
            if n_major:
                db = k.one(hp.WgmmaDescOp, i64, lbo=ka * width, sbo=8 * width, swizzle=width,
                           addr=k.const(a_bytes + ks * 16 * width))
        if reg_a:   # a_i = A[16 warp + g + 8 ((i // 2) % 2), 16 ks + 2 t + i % 2 + 8 (i // 4)]
            warp, lane = k.bin("and", k.bin("shr", tid, 5), 3), k.bin("and", tid, 31)
            g, t = k.bin("shr", lane, 2), k.bin("and", lane, 3)
            row0 = k.add(k.add(k.mul(wg, 64), k.mul(warp, 16)), g)
            regs = []
            for i in range(8):
                row = k.add(row0, 8 * ((i // 2) % 2))
                col = k.add(k.mul(t, 2), 16 * ks + i % 2 + 8 * (i // 4))
                regs += k.ld_global(bf16, k.gaddr(Ag, k.add(k.mul(row, ka), col), 2))
            kw = dict(a=tuple(regs))
        else:
            kw = dict(a_desc=da)
        acc = k.emit(hp.WgmmaOp, (f32,) * (n // 2), n=n, dtype=bf16, scale_d=ks > 0,
                     trans_b=n_major, b_desc=db, c=tuple(acc), **kw).results
    k.emit(hp.WgmmaCommitOp)
    if overwrite:   # the operands are still being read by the group in flight
        k.barrier()
        k.st_shared(k.mul(tid, 16), first)
    if read_early:
        k.st_global(k.gaddr(D, tid, 4), [acc[0]])
    if wait:
        acc = k.emit(hp.WgmmaWaitOp, (f32,) * len(acc), pending=pending, values=acc).results
    for i, v in enumerate(acc):
        k.st_global(k.gaddr(D, k.add(k.mul(tid, n // 2), i), 4), [v])
    return k.build()


def run_case(n, width, warpgroups=1, **kw):
    rng = np.random.default_rng(n + width)
    ka = 16 if width == 0 else width // 2
    A = rng.integers(-4, 5, (64 * warpgroups, ka)).astype(BF16)
    B = rng.integers(-4, 5, (n, ka)).astype(BF16)       # N x K (K-major B)
    b_img = n_major_image(B, width) if kw.get("n_major") else image(B, width)
    X = np.concatenate([image(A, width), b_img])
    D = np.zeros(128 * warpgroups * n // 2, np.float32)
    run_threads(wgmma_kernel(n, width, warpgroups, **kw), (1,), [X, D, A.ravel()])
    rows, cols = d_pos(n, 128 * warpgroups)
    got = np.zeros((64 * warpgroups, n), np.float32)
    got[rows, cols] = D.reshape(-1, n // 2).T
    return got, A.astype(np.float64) @ B.astype(np.float64).T


@pytest.mark.parametrize("n, width, warpgroups", [
    (8, 0, 1), (64, 0, 1), (16, 32, 1), (32, 64, 1), (64, 128, 1), (128, 128, 2), (256, 64, 1),
])
def test_wgmma_multiplies_every_swizzle_mode(n, width, warpgroups):
    got, ref = run_case(n, width, warpgroups)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("n, width, warpgroups", [(64, 128, 1), (32, 64, 2)])
def test_wgmma_with_a_in_registers(n, width, warpgroups):
    got, ref = run_case(n, width, warpgroups, reg_a=True)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("n, width", [(64, 128), (128, 128), (32, 64), (64, 32)])
def test_wgmma_with_an_n_major_b(n, width):
    got, ref = run_case(n, width, n_major=True)
    np.testing.assert_array_equal(got, ref)


def test_reading_the_accumulator_before_its_wait_is_reported():
    with pytest.raises(KernelError, match="before th.wgmma_wait") as e:
        run_case(16, 32, read_early=True)
    assert "tkern.py" in str(e.value)


def test_a_wait_that_leaves_the_group_pending_is_reported():
    with pytest.raises(KernelError, match="still among the 1 groups"):
        run_case(16, 32, pending=1)


def test_overwriting_operands_before_the_wait_is_a_race():
    with pytest.raises(KernelError, match="not yet completed by th.wgmma_wait"):
        run_case(64, 128, overwrite=True)


def test_a_missing_fence_is_reported():
    with pytest.raises(KernelError, match="no th.wgmma_fence"):
        run_case(16, 32, fence=False)


def test_descriptor_value_is_the_encoded_one():
    from tilelang.emulator.nvidia.wgmma import chunk_addresses
    d = hp.encode_descriptor(1024, 16, 1024, 128)
    addr = chunk_addresses(d, 16)
    # 128B swizzle: chunk c of row r lands at chunk c ^ (r % 8) of that row
    r = np.arange(16)[:, None]
    assert (addr == 1024 + (r // 8) * 1024 + (r % 8) * 128 + ((np.arange(2) ^ (r % 8)) * 16)).all()
