"""The emulator's TMA loads and mbarriers: exact boxes (swizzle, zero fill), phases,
and the faults a broken lowering would cause (early reads, deadlocks, bad arrivals)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tilelang.errors import KernelError
from tilelang.ir import tma_ops as tma
from tilelang.ir.shared_layouts import Swizzle
from tilelang.ir.types import TensorType, f32, i32
from tilelang.emulator.nvidia.tma import read_box, swizzle_bytes
from tilelang.emulator.emulator import prepare_threads
from tests.emulator.irkit import T

BAR = 1024


def tma_kernel(box=(8, 32), swizzle=128, expect=None, read_early=False, second_wait=None,
               arrive=True):
    """One warp: thread 0 TMA-loads ``box`` of X at (r0, c0) into shared byte 0 on the
    barrier at BAR; everyone waits, then copies the 1024 shared bytes to Y linearly."""
    k = T(threads=32, shared=2048)
    X = k.b.fresh(TensorType(f32, 2, aligned=True, unit_stride=True, divisible=True), "X")
    k.params.append(X)
    Y = k.tensor(f32, 1, "Y")
    r0, c0 = k.scalar(i32, "r0"), k.scalar(i32, "c0")
    tid = k.tid()
    zero = k.const(0)
    bar = k.const(BAR)
    elect = k.bin("eq", tid, zero)
    k.emit(tma.MbarrierInitOp, count=1, bar=bar, pred=elect)
    k.emit(tma.FenceMbarrierInitOp)
    nbytes = box[0] * box[1] * 4
    if arrive:
        k.emit(tma.MbarrierExpectTxOp, bytes=nbytes if expect is None else expect, bar=bar,
               pred=elect)
    k.emit(tma.TmaLoadOp, box=box, swizzle=swizzle, tensor=X, dst=zero, bar=bar,
           coords=(r0, c0), pred=elect)
    off = k.mul(tid, 16)
    if read_early:
        k.ld_shared(f32, off, vec=4)
    k.emit(tma.MbarrierWaitOp, bar=bar, parity=zero)
    if second_wait is not None:
        k.emit(tma.MbarrierWaitOp, bar=bar, parity=k.const(second_wait))
    for base in range(0, nbytes, 512):
        a = k.add(off, base)
        vals = k.ld_shared(f32, a, vec=4)
        k.st_global(k.gaddr(Y, k.bin("floordiv", a, 4), 4), vals)
    k.emit(tma.MbarrierInvalOp, bar=bar, pred=elect)
    return prepare_threads(k.build())


def expected_shared(x, r0, c0, box, swizzle):
    """The shared bytes a TMA box load writes, from the PTX ISA's swizzle rule."""
    rows, cols = box
    boxed = np.zeros(box, np.float32)
    for i in range(rows):
        for j in range(cols):
            r, c = r0 + i, c0 + j
            if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
                boxed[i, j] = x[r, c]
    raw = boxed.view(np.uint8).ravel()
    out = np.zeros_like(raw)
    for q in range(raw.size):
        chunk, row = (q >> 4) & 7, (q >> 7) & 7
        span = {0: 0, 32: 1, 64: 3, 128: 7}[swizzle]
        out[(q & ~0x70) | ((chunk ^ (row & span)) << 4)] = raw[q]
    return out.view(np.float32)


@pytest.mark.parametrize("box, swizzle", [((8, 32), 128), ((16, 16), 64), ((32, 8), 32),
                                           ((8, 32), 0), ((4, 64), 0)])
@pytest.mark.parametrize("r0, c0", [(0, 0), (5, 30), (-3, -4), (40, 0), (1, 60)])
def test_tma_box_lands_exactly_with_swizzle_and_zero_fill(box, swizzle, r0, c0):
    x = np.arange(20 * 64, dtype=np.float32).reshape(20, 64) + 1
    y = np.full(box[0] * box[1], -1, np.float32)
    tma_kernel(box, swizzle).run((1,), [x, y, r0, c0], kernel_name="tkern")
    np.testing.assert_array_equal(y, expected_shared(x, r0, c0, box, swizzle))


def test_reading_a_stage_before_its_phase_completes_is_a_fault():
    x = np.ones((8, 32), np.float32)
    with pytest.raises(KernelError, match="read of a cp.async destination before cp.async.wait_group completed it .or of a TMA destination"):
        tma_kernel(read_early=True).run((1,), [x, np.zeros(256, np.float32), 0, 0],
                                        kernel_name="tkern")


@pytest.mark.parametrize("kw, message", [
    ({"expect": 512}, r"deadlock.*-512 transaction byte"),   # fewer bytes announced
    ({"expect": 2048}, r"deadlock.*1024 transaction byte"),  # more bytes than copied
    ({"arrive": False}, r"deadlock.*1 arrival"),              # no arrival at all
    ({"second_wait": 1}, r"deadlock.*phase 1"),               # a phase nobody fills
])
def test_waits_that_can_never_complete_are_deadlocks(kw, message):
    x = np.ones((8, 32), np.float32)
    with pytest.raises(KernelError, match=message):
        tma_kernel(**kw).run((1,), [x, np.zeros(256, np.float32), 0, 0], kernel_name="tkern")


def test_waiting_on_a_completed_phase_returns_at_once():
    x = np.arange(256, dtype=np.float32).reshape(8, 32)
    y = np.zeros(256, np.float32)
    tma_kernel(second_wait=0).run((1,), [x, y, 0, 0], kernel_name="tkern")
    np.testing.assert_array_equal(y, expected_shared(x, 0, 0, (8, 32), 128))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([32, 64, 128]), st.integers(0, 1 << 14))
def test_tma_swizzle_is_cute_swizzle_on_byte_addresses(mode, start):
    addr = np.arange(start * 16, start * 16 + 4096, dtype=np.int64)
    bits = {32: 1, 64: 2, 128: 3}[mode]
    np.testing.assert_array_equal(swizzle_bytes(addr, mode), Swizzle(bits, 4, 3).apply(addr))


@settings(max_examples=40, deadline=None)
@given(st.integers(-10, 30), st.integers(-10, 30), st.integers(1, 12), st.integers(1, 12))
def test_read_box_zero_fills_outside_the_tensor(r0, c0, h, w):
    x = np.arange(1, 1 + 15 * 17, dtype=np.float32).reshape(15, 17)
    padded = np.zeros((15 + 60, 17 + 60), np.float32)
    padded[30:45, 30:47] = x
    np.testing.assert_array_equal(read_box(x, [r0, c0], (h, w)),
                                  padded[30 + r0:30 + r0 + h, 30 + c0:30 + c0 + w])
