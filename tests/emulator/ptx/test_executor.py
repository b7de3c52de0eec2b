"""Scheduling: divergent loops reconverge, named barriers count threads, a deadlock or a
kernel that never ends is reported instead of hanging."""

from __future__ import annotations

import numpy as np
import pytest

from tests.emulator.ptx import ptx_kit
from tests.emulator.ptx.ptx_kit import params, run_ptx
from tilelang.emulator.ptx.errors import PtxError

REGS = """
	.reg .b32 %r<10>;
	.reg .b64 %rd<10>;
	.reg .pred %p<4>;
	ld.param.u64 %rd1, [k_param_0];
	mov.u32 %r0, %tid.x;"""


def test_a_loop_with_a_per_thread_trip_count_reconverges():
    out = np.zeros(64, np.uint32)
    body = REGS + """
	mov.b32 %r1, 0;
	mov.b32 %r2, 0;
$LOOP:
	add.s32 %r2, %r2, %r1;
	add.s32 %r1, %r1, 1;
	setp.le.u32 %p1, %r1, %r0;
	@%p1 bra $LOOP;
	bar.sync 0;
	mul.wide.u32 %rd2, %r0, 4;
	add.s64 %rd3, %rd1, %rd2;
	st.global.b32 [%rd3], %r2;
	ret;"""
    run_ptx(body, [out], threads=64, params=params("u64"))
    t = np.arange(64)
    np.testing.assert_array_equal(out, t * (t + 1) // 2)


def test_a_named_barrier_some_threads_never_reach_is_a_deadlock():
    out = np.zeros(64, np.uint32)
    body = REGS + """
	setp.lt.u32 %p1, %r0, 32;
	@%p1 bra $DONE;
	bar.sync 1, 64;
$DONE:
	bar.sync 2, 64;
	ret;"""
    with pytest.raises(PtxError, match="deadlock.*at bar.sync"):
        run_ptx(body, [out], threads=64, params=params("u64"))


def test_a_kernel_that_never_ends_is_stopped(monkeypatch):
    from tilelang.emulator.ptx import executor
    monkeypatch.setattr(executor, "MAX_STEPS", 500)
    monkeypatch.setattr(ptx_kit.PtxDevice, "__init__", _small_device)
    body = REGS + """
$SPIN:
	bra.uni $SPIN;"""
    with pytest.raises(PtxError, match="does not terminate"):
        run_ptx(body, [np.zeros(1, np.uint32)], params=params("u64"))


_init = ptx_kit.PtxDevice.__init__


def _small_device(self):
    _init(self)
    self.max_steps = 500


def test_a_misaligned_vector_load_is_reported():
    x = np.zeros(64, np.uint32)
    body = REGS + """
	ld.global.v4.b32 {%r1, %r2, %r3, %r4}, [%rd1+4];
	ret;"""
    with pytest.raises(PtxError, match="not aligned to 16 bytes"):
        run_ptx(body, [x], params=params("u64"))


@pytest.mark.parametrize("barrier", [True, False])
def test_a_write_after_another_threads_read_needs_a_barrier(barrier):
    """Thread t reads word (t + 32) % 64, then writes word t: without a barrier between,
    warp 1's writes may land before warp 0's reads."""
    out = np.zeros(64, np.uint32)
    body = REGS + f"""
	mov.b64 %rd2, smem;
	cvt.u32.u64 %r1, %rd2;
	shl.b32 %r2, %r0, 2;
	add.s32 %r3, %r1, %r2;
	st.shared.b32 [%r3], %r0;
	bar.sync 0;
	add.s32 %r4, %r0, 32;
	and.b32 %r4, %r4, 63;
	shl.b32 %r4, %r4, 2;
	add.s32 %r5, %r1, %r4;
	ld.shared.b32 %r6, [%r5];
	{"bar.sync 0;" if barrier else ""}
	st.shared.b32 [%r3], %r6;
	mul.wide.u32 %rd3, %r0, 4;
	add.s64 %rd4, %rd1, %rd3;
	st.global.b32 [%rd4], %r6;
	ret;"""
    decls = ".shared .align 16 .b8 smem[256];\n"
    if barrier:
        run_ptx(body, [out], threads=64, params=params("u64"), decls=decls)
        np.testing.assert_array_equal(out, (np.arange(64) + 32) % 64)
    else:
        with pytest.raises(PtxError, match="race.*read with no barrier"):
            run_ptx(body, [out], threads=64, params=params("u64"), decls=decls)


def test_one_load_may_read_several_arrays_and_bounds_stay_checked():
    # two arrays with unmapped memory after each (views of one buffer), so the step past
    # their ends is outside every array of the launch
    big = np.zeros(200, np.uint32)
    a, b = big[:32], big[100:132]
    a[:], b[:] = np.arange(32), 100 + np.arange(32)
    out = np.zeros(32, np.uint32)
    body = """
	.reg .b32 %r<10>;
	.reg .b64 %rd<12>;
	.reg .pred %p<4>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	ld.param.u64 %rd3, [k_param_2];
	ld.param.u32 %r9, [k_param_3];
	mov.u32 %r0, %tid.x;
	and.b32 %r1, %r0, 1;
	setp.eq.b32 %p1, %r1, 0;
	selp.b64 %rd4, %rd1, %rd2, %p1;
	mul.wide.u32 %rd5, %r0, 4;
	mul.wide.u32 %rd9, %r9, 4;
	add.s64 %rd5, %rd5, %rd9;
	add.s64 %rd6, %rd4, %rd5;
	ld.global.b32 %r2, [%rd6];
	mul.wide.u32 %rd7, %r0, 4;
	add.s64 %rd8, %rd3, %rd7;
	st.global.b32 [%rd8], %r2;
	ret;"""
    import ctypes
    run_ptx(body, [a, b, out, (ctypes.c_uint32, 0)], params=params("u64", "u64", "u64", "u32"))
    np.testing.assert_array_equal(out, np.where(np.arange(32) % 2 == 0, a, b))
    with pytest.raises(PtxError, match="outside every array"):
        run_ptx(body, [a, b, out, (ctypes.c_uint32, 1)],
                params=params("u64", "u64", "u64", "u32"))


@pytest.mark.parametrize("load, message", [
    ("ld.b32 %r1, [%rd1];", "generic address"),
    ("ld.local.b32 %r1, [%rd1];", r"\.local state space is not supported"),
])
def test_generic_and_local_accesses_are_clear_errors(load, message):
    with pytest.raises(PtxError, match=message):
        run_ptx(REGS + f"\n\t{load}\n\tret;", [np.zeros(4, np.uint32)], params=params("u64"))
