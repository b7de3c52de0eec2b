"""Warp-specialized thread IR in the emulator: a producer warpgroup filling a TMA ring
on ``full`` barriers and consumer warpgroups releasing stages on ``empty`` ones run
exactly; early releases, skipped waits and missing arrivals are reported; role
barriers, register reallocation and thread ids follow ``tilelang.ir.role_ops``."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tilelang.errors import IRError, KernelError
from tilelang.ir import ops as o
from tilelang.ir import role_ops as ro
from tilelang.ir import tma_ops as tma
from tilelang.ir.parser import parse_module
from tilelang.ir.types import TensorType, f32, i32
from tilelang.emulator.nvidia.tma import swizzle_bytes
from tilelang.emulator.emulator import prepare_threads
from tilelang.interp.interpreter import prepare, run_kernel
from tests.emulator.irkit import T

BOX = (8, 32)                 # one stage: 8 rows of 32 f32
STAGE = BOX[0] * BOX[1] * 4   # 1024 bytes, so every stage is aligned to the 128B swizzle


def ring_kernel(stages: int, consumers: int = 128, swizzle: int = 0, bug: str | None = None,
                regs: bool = True):
    """Producer warpgroup (threads after the consumers): for i < n, wait on empty[s]
    (parity ((i // S) & 1) ^ 1), its first thread announces STAGE bytes on full[s] and
    TMA-loads rows [8i, 8i + 8) of X into stage s. Consumers: wait on full[s] (parity
    (i // S) & 1), atomically add their share of the stage to Y, and release it by one
    arrival per warp (lane 0) on empty[s], whose count is the consumer warps.

    ``bug``: "early_release" arrives before reading, "skip_empty_wait" refills without
    waiting, "no_release" never arrives."""
    k = T(threads=consumers + 128, shared=stages * STAGE + 16 * stages)
    X = k.b.fresh(TensorType(f32, 2, aligned=True, unit_stride=True, divisible=True), "X")
    k.params.append(X)
    Y = k.tensor(f32, 1, "Y")
    n = k.scalar(i32, "n")
    zero, one, S = k.const(0), k.const(1), k.const(stages)
    full0, empty0 = stages * STAGE, stages * STAGE + 8 * stages

    def bar(first: int, s):
        return k.add(k.mul(s, 8), first)

    elect = k.bin("eq", k.tid(), zero)
    for s in range(stages):
        k.emit(tma.MbarrierInitOp, count=1, bar=k.const(full0 + 8 * s), pred=elect)
        k.emit(tma.MbarrierInitOp, count=consumers // 32, bar=k.const(empty0 + 8 * s),
               pred=elect)
    k.emit(tma.FenceMbarrierInitOp)
    k.barrier()
    vec = 256 // consumers

    def producer() -> None:
        if regs:
            k.emit(ro.SetMaxNRegOp, regs=40, inc=False)
        first = k.bin("eq", k.tid(), k.const(consumers))     # thread ids are block-wide

        def body(i) -> None:
            s = k.bin("mod", i, S)
            if bug != "skip_empty_wait":
                ph = k.bin("xor", k.bin("and", k.bin("floordiv", i, S), one), one)
                k.emit(tma.MbarrierWaitOp, bar=bar(empty0, s), parity=ph)
            k.emit(tma.MbarrierExpectTxOp, bytes=STAGE, bar=bar(full0, s), pred=first)
            k.emit(tma.TmaLoadOp, box=BOX, swizzle=swizzle, tensor=X, dst=k.mul(s, STAGE),
                   bar=bar(full0, s), coords=(k.mul(i, 8), zero), pred=first)
        k.for_(zero, n, one, body)

    def consumer() -> None:
        if regs:
            k.emit(ro.SetMaxNRegOp, regs=232, inc=True)
        tid = k.tid()
        lane0 = k.bin("eq", k.bin("mod", tid, k.const(32)), zero)

        def body(i) -> None:
            s = k.bin("mod", i, S)
            ph = k.bin("and", k.bin("floordiv", i, S), one)
            k.emit(tma.MbarrierWaitOp, bar=bar(full0, s), parity=ph)
            release = lambda: k.emit(tma.MbarrierArriveOp, bar=bar(empty0, s), pred=lane0)
            if bug == "early_release":
                release()
            start = k.mul(s, STAGE)
            for v in range(vec):
                j = k.add(k.mul(tid, vec), v)
                (val,) = k.ld_shared(f32, k.add(start, k.mul(j, 4)))
                k.atomic_add(k.gaddr(Y, j, 4), val)
            if bug is None or bug == "skip_empty_wait":
                release()
        k.for_(zero, n, one, body)

    k.warp_specialize(consumer, producer, consumers, 128)
    return prepare_threads(k.build())


def ring_expected(x: np.ndarray, n: int, swizzle: int) -> np.ndarray:
    """Y after the ring: stage i holds X rows [8i, 8i + 8) laid out with the swizzle
    (an involution on 1024-aligned stages), summed over i."""
    perm = swizzle_bytes(4 * np.arange(256, dtype=np.int64), swizzle) // 4
    y = np.zeros(256, np.float32)
    for i in range(n):
        y += x[8 * i:8 * i + 8].ravel()[perm]
    return y


def run_ring(kern, n: int, seed: int = 0, swizzle: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, size=(8 * max(n, 1), 32)).astype(np.float32)
    y = np.zeros(256, np.float32)
    kern.run((1,), [x, y, n], kernel_name="tkern")
    return y, ring_expected(x, n, swizzle)


@settings(max_examples=12, deadline=None)
@given(stages=st.integers(1, 4), n=st.integers(0, 9), consumers=st.sampled_from([128, 256]),
       swizzle=st.sampled_from([0, 128]))
def test_a_producer_consumer_ring_runs_exactly(stages, n, consumers, swizzle):
    y, want = run_ring(ring_kernel(stages, consumers, swizzle), n, seed=n, swizzle=swizzle)
    np.testing.assert_array_equal(y, want)


def test_the_ring_reuses_every_stage_over_several_blocks():
    kern = ring_kernel(3, 256, 128)
    rng = np.random.default_rng(7)
    x = rng.integers(-8, 9, size=(8 * 10, 32)).astype(np.float32)
    y = np.zeros(256, np.float32)
    kern.run((3,), [x, y, 10], kernel_name="tkern")        # three blocks add the same sum
    np.testing.assert_array_equal(y, 3 * ring_expected(x, 10, 128))


def test_a_consumer_releasing_a_stage_before_reading_it_reads_the_refill_in_flight():
    with pytest.raises(KernelError, match=r"read of a cp.async destination .*or of a TMA "
                                          r"destination.*thread \d+ \(warp [0-3],") as info:
        run_ring(ring_kernel(2, bug="early_release"), 4)
    assert info.value.loc is not None and info.value.loc.file == "tkern.py"


def test_a_producer_refilling_without_waiting_for_the_release_is_reported():
    # it announces the refill on a full barrier whose phase the consumers have not
    # finished: an arrival past the count (on the GPU: a stage overwritten mid-read)
    with pytest.raises(KernelError, match=r"thread 128 \(warp 4, lane 0\) arrives on the "
                                          r"mbarrier at shared byte 2048 more often"):
        run_ring(ring_kernel(2, bug="skip_empty_wait"), 3)


def test_a_missing_release_is_a_deadlock_naming_both_roles():
    with pytest.raises(KernelError) as info:
        run_ring(ring_kernel(2, bug="no_release"), 3)
    text = str(info.value)
    assert "deadlock: no role of the warp-specialized block can progress" in text
    assert ("consumer (threads 0-127) waits at tkern.py:" in text
            and "on the mbarrier at shared byte 2048 for the phase of parity 1 (phase 1: "
                "1 arrival(s) and 0 transaction byte(s) missing)" in text)
    assert ("producer (threads 128-255) waits at tkern.py:" in text
            and "on the mbarrier at shared byte 2064 for the phase of parity 0 (phase 0: "
                "4 arrival(s) and 0 transaction byte(s) missing)" in text)


def test_fewer_trips_than_stages_need_no_release():
    y, want = run_ring(ring_kernel(3, bug="no_release"), 3)   # nothing is refilled
    np.testing.assert_array_equal(y, want)


def roles_kernel(consumer, producer, threads: int = 256, consumers: int = 128,
                 producers: int = 128, shared: int = 64, verify: bool = True):
    """A kernel whose only op is a warp_specialize filled by ``consumer(k, Y)`` and
    ``producer(k, Y)`` (Y: an i32 vector)."""
    k = T(threads=threads, shared=shared)
    Y = k.tensor(i32, 1, "Y")
    k.warp_specialize(lambda: consumer(k, Y), lambda: producer(k, Y), consumers, producers)
    return prepare_threads(k.build(verify=verify))


def store_tid(k: T, Y) -> None:
    tid = k.tid()
    k.st_global(k.gaddr(Y, tid, 4), [tid])


def test_thread_ids_are_block_wide_in_values_and_messages():
    y = np.full(384, -1, np.int32)
    roles_kernel(store_tid, store_tid, threads=384, consumers=256).run((1,), [y])
    np.testing.assert_array_equal(y, np.arange(384))

    def failing(k: T, Y) -> None:
        k.assert_(k.bin("ne", k.tid(), k.const(130)), "tid")
    with pytest.raises(KernelError, match=r"tid \(false in thread 130 \(warp 4, lane 2\)\)"):
        roles_kernel(store_tid, failing).run((1,), [np.zeros(256, np.int32)])


def test_a_race_between_roles_names_both_threads_block_wide():
    def write(k: T, Y) -> None:          # the producer runs first
        tid = k.tid()
        k.st_shared(k.const(0), [tid], pred=k.bin("eq", tid, k.const(133)))

    def read(k: T, Y) -> None:
        tid = k.tid()
        (v,) = k.ld_shared(i32, k.const(0))
        k.st_global(k.gaddr(Y, tid, 4), [v])
    with pytest.raises(KernelError, match=r"race: thread 0 \(warp 0, lane 0\) reads bytes "
                                          r"\[0, 4\) that thread 133 \(warp 4, lane 5\) wrote"):
        roles_kernel(read, write).run((1,), [np.zeros(256, np.int32)])


def test_tl_return_in_a_region_ends_that_role_only():
    def leave(k: T, Y) -> None:
        tid = k.tid()
        k.if_(k.bin("ge", k.pid(), k.const(0)), lambda: k.emit(o.ReturnOp))
        k.st_global(k.gaddr(Y, tid, 4), [tid])     # not reached
    y = np.full(256, -1, np.int32)
    roles_kernel(leave, store_tid, verify=False).run((2,), [y])   # the verifier wants
    # returns last in their block; the thread IR may end a role from a nested region
    np.testing.assert_array_equal(y, np.r_[np.full(128, -1), np.arange(128, 256)])


def bar_sync_kernel(threads: int | None):
    """The consumer's thread 0 writes a word all consumer threads read, with
    ``th.bar_sync 1, threads`` between (none when ``threads`` is None)."""
    def consumer(k: T, Y) -> None:
        tid = k.tid()
        k.st_shared(k.const(0), [k.add(tid, 7)], pred=k.bin("eq", tid, k.const(0)))
        if threads is not None:
            k.emit(ro.BarSyncOp, id=1, threads=threads)
        (v,) = k.ld_shared(i32, k.const(0))
        k.st_global(k.gaddr(Y, tid, 4), [v])
    return roles_kernel(consumer, store_tid)


def test_bar_sync_over_the_region_is_its_barrier():
    y = np.zeros(256, np.int32)
    bar_sync_kernel(128).run((1,), [y])
    np.testing.assert_array_equal(y, np.r_[np.full(128, 7), np.arange(128, 256)])
    with pytest.raises(KernelError, match="shared memory race"):
        bar_sync_kernel(None).run((1,), [y])


def test_bar_sync_over_other_thread_counts_hangs():
    with pytest.raises(KernelError, match=r"th.bar_sync 1 waits for 256 threads, but the "
                                          r"consumer region runs 128: it never completes"):
        bar_sync_kernel(256).run((1,), [np.zeros(256, np.int32)])


def test_a_block_barrier_in_a_region_is_a_deadlock():
    def blocked(k: T, Y) -> None:
        k.barrier()
    with pytest.raises(KernelError, match=r"deadlock: tl.barrier .* in the producer region"):
        roles_kernel(store_tid, blocked).run((1,), [np.zeros(256, np.int32)])


def test_setmaxnreg_needs_a_region_of_whole_warpgroups():
    k = T(threads=128)
    k.emit(ro.SetMaxNRegOp, regs=40, inc=False)
    with pytest.raises(KernelError, match="th.setmaxnreg 40 runs in no tl.warp_specialize "
                                          "region"):
        prepare_threads(k.build()).run((1,), [])

    def half(k: T, Y) -> None:
        k.emit(ro.SetMaxNRegOp, regs=232, inc=True)
    with pytest.raises(KernelError, match=r"the consumer region \(threads 0-63\), not in a "
                                          r"region of whole warpgroups"):
        roles_kernel(half, store_tid, threads=192, consumers=64,
                     verify=False).run((1,), [np.zeros(192, np.int32)])


def test_num_threads_must_be_the_sum_of_the_regions():
    with pytest.raises(IRError, match="num_threads 384, but its tl.warp_specialize runs 128 "
                                      "consumer \\+ 128 producer threads"):
        roles_kernel(store_tid, store_tid, threads=384, verify=False)


def test_an_error_in_one_role_abandons_the_other_one():
    # the consumer releases the producer (its arrival hands over the baton at once,
    # so it is left mid-run); the producer's fault is what the launch reports, and
    # no thread of the emulator is left behind
    def release_then_wait(k: T, Y) -> None:
        lane0 = k.bin("eq", k.bin("mod", k.tid(), k.const(32)), k.const(0))
        k.emit(tma.MbarrierArriveOp, bar=k.const(8), pred=lane0)
        k.emit(tma.MbarrierWaitOp, bar=k.const(0), parity=k.const(0))

    line = {}

    def init_wait_fail(k: T, Y) -> None:
        first = k.bin("eq", k.tid(), k.const(128))
        k.emit(tma.MbarrierInitOp, count=1, bar=k.const(0), pred=first)
        k.emit(tma.MbarrierInitOp, count=4, bar=k.const(8), pred=first)
        k.emit(tma.MbarrierWaitOp, bar=k.const(8), parity=k.const(0))
        k.assert_(k.bin("lt", k.tid(), k.const(0)), "producer gives up")
        line["assert"] = k.line
    before = threading.active_count()
    with pytest.raises(KernelError, match="producer gives up") as info:
        roles_kernel(release_then_wait, init_wait_fail).run((1,), [np.zeros(256, np.int32)])
    assert info.value.loc.line == line["assert"] and threading.active_count() == before


RING_TILE_IR = """
module {
  func @k(%A: tensor<f32, 2, aligned, unit_stride, divisible>, %B: tensor<f32, 2>) attributes {num_warps = 4} {
    %z = tl.constant() {value = 0} : i32
    %s = tl.alloc_shared() {offset = -1} : shared<16x16xf32>
    %bars = tl.alloc_shared() {offset = -1} : shared<1xi64>
    tl.mbarrier_init(bars = %bars) {count = 1}
    tl.mbarrier_expect(bars = %bars, stage = %z) {bytes = 1024}
    tl.tma_copy(tensor = %A, offsets = [%z, %z], dst = %s, bars = %bars, stage = %z)
    tl.mbarrier_wait(bars = %bars, stage = %z, parity = %z)
    %t = tl.shared_load(src = %s) : tile<16x16xf32>
    tl.mbarrier_arrive(bars = %bars, stage = %z)
    tl.store(tensor = %B, offsets = [%z, %z], value = %t)
    tl.return()
  }
}
"""


def test_the_interpreter_runs_the_ring_ops_and_refuses_warp_specialize():
    fn = parse_module(RING_TILE_IR).functions[0]
    a = np.arange(256, dtype=np.float32).reshape(16, 16)
    b = np.zeros_like(a)
    run_kernel(fn, (1, 1, 1), [a, b])
    np.testing.assert_array_equal(b, a)

    from tests.passes.nvidia.test_warp_specialize import WS_SPLIT
    with pytest.raises(IRError, match="before warp specialization") as info:
        prepare(parse_module(WS_SPLIT).functions[0])
    assert "emulate:sm_90a" in str(info.value)
