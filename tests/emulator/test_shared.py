"""The emulator's shared memory: round trips, races, uninitialized reads, cp.async."""

from __future__ import annotations

import numpy as np
import pytest

from tests.emulator.irkit import FILE, T
from tilelang.errors import KernelError
from tilelang.ir.types import f32, i32, i64
from tilelang.emulator.emulator import run_threads

N = 64  # threads per block in these tests


def _kernel(name: str, shared: int = 4 * N):
    k = T(name, N, shared)
    Y = k.tensor(i32, 1, "Y")
    return k, Y, k.tid()


def _run(k, blocks: int = 1) -> np.ndarray:
    y = np.zeros(N * blocks, np.int32)
    run_threads(k.build(), (blocks,), [y])
    return y


def test_shared_round_trip_with_barrier():
    k, Y, tid = _kernel("rt")
    k.st_shared(k.mul(tid, 4), [k.add(k.mul(tid, 10), k.pid())])
    k.barrier()
    other = k.bin("sub", k.const(N - 1), tid)
    (v,) = k.ld_shared(i32, k.mul(other, 4))
    k.st_global(k.gaddr(Y, k.add(k.mul(k.pid(), N), tid), 4), [v])
    y = _run(k, blocks=2)
    want = np.concatenate([np.arange(N)[::-1] * 10, np.arange(N)[::-1] * 10 + 1])
    np.testing.assert_array_equal(y, want)


def test_vector_shared_access_and_dtype_views():
    k, Y, tid = _kernel("vec", shared=16 * N)
    four = [k.cast(k.add(k.mul(tid, 4), j), f32) for j in range(4)]
    k.st_shared(k.mul(tid, 16), four)
    k.barrier()
    # read the same bytes back as pairs of f32 from the neighbour's second half
    nxt = k.bin("mod", k.add(tid, 1), N)
    lo, hi = k.ld_shared(f32, k.add(k.mul(nxt, 16), 8), vec=2)
    k.st_global(k.gaddr(Y, tid, 4), [k.cast(k.add(lo, hi), i32)])
    y = _run(k)
    n = (np.arange(N) + 1) % N
    np.testing.assert_array_equal(y, 8 * n + 5)


def _race_kernel(kind: str, barrier: bool):
    k, Y, tid = _kernel(f"race_{kind}")
    nxt = k.mul(k.bin("mod", k.add(tid, 1), N), 4)
    mine = k.mul(tid, 4)
    if kind == "raw":       # write own word, read the neighbour's
        k.st_shared(mine, [tid])
        lines = [k.line]
        if barrier:
            k.barrier()
        (v,) = k.ld_shared(i32, nxt)
        lines.append(k.line)
    elif kind == "waw":     # write own word, then the neighbour's
        k.st_shared(mine, [tid])
        lines = [k.line]
        if barrier:
            k.barrier()
        k.st_shared(nxt, [tid])
        lines.append(k.line)
        v = tid
    else:                   # "war": read own word, then write the neighbour's
        k.st_shared(mine, [tid])
        k.barrier()
        (v,) = k.ld_shared(i32, mine)
        lines = [k.line]
        if barrier:
            k.barrier()
        k.st_shared(nxt, [v])
        lines.append(k.line)
    k.st_global(k.gaddr(Y, tid, 4), [v])
    return k, lines


@pytest.mark.parametrize("kind, verb, past", [
    ("raw", "reads", "wrote"), ("waw", "writes", "wrote"), ("war", "writes", "read")])
def test_each_race_kind_is_reported(kind, verb, past):
    k, (first, second) = _race_kernel(kind, barrier=False)
    with pytest.raises(KernelError, match="shared memory race") as info:
        _run(k)
    text = str(info.value)
    # the later access is the op reported; the earlier one is named with its line
    assert f"at {FILE}:{second}" in text and f"{FILE}:{first})" in text
    assert f"thread 0 (warp 0, lane 0) {verb} bytes [4, 8) that thread 1 (warp 0, lane 1) " \
           f"{past}" in text
    assert "tl.barrier" in text and info.value.hint


@pytest.mark.parametrize("kind", ["raw", "waw", "war"])
def test_a_barrier_between_the_accesses_removes_the_race(kind):
    k, _ = _race_kernel(kind, barrier=True)
    _run(k)


def test_one_op_writing_identical_values_from_several_threads_is_benign():
    k, Y, tid = _kernel("same")
    k.st_shared(k.const(8), [k.const(42)])       # every thread writes 42 to bytes [8, 12)
    k.barrier()
    (v,) = k.ld_shared(i32, k.const(8))
    k.st_global(k.gaddr(Y, tid, 4), [v])
    assert (_run(k) == 42).all()


def test_one_op_writing_different_values_to_one_word_is_a_race():
    k, Y, tid = _kernel("differ")
    k.st_shared(k.const(8), [tid])
    with pytest.raises(KernelError, match=r"race: thread \d+ .* writes bytes \[8, 12\) that "
                                          r"thread \d+ .* with a different value"):
        _run(k)


def test_reading_ones_own_write_is_not_a_race_and_broadcast_reads_are_fine():
    k, Y, tid = _kernel("own")
    k.st_shared(k.mul(tid, 4), [tid])
    (mine,) = k.ld_shared(i32, k.mul(tid, 4))    # own bytes, no barrier needed
    k.barrier()
    (first,) = k.ld_shared(i32, k.const(0))      # every thread reads thread 0's word
    k.st_global(k.gaddr(Y, tid, 4), [k.add(mine, first)])
    np.testing.assert_array_equal(_run(k), np.arange(N))


def test_write_after_broadcast_read_is_a_race():
    k, Y, tid = _kernel("bcast_war")
    k.st_shared(k.mul(tid, 4), [tid])
    k.barrier()
    k.ld_shared(i32, k.const(0))                 # all threads read word 0
    k.st_shared(k.const(0), [k.const(5)], pred=k.bin("eq", tid, 0))
    with pytest.raises(KernelError, match=r"thread 0 \(warp 0, lane 0\) writes bytes \[0, 4\) "
                                          r"that thread \d+ .* and others read"):
        _run(k)


def test_uninitialized_shared_read_is_caught():
    k, Y, tid = _kernel("uninit")
    k.st_shared(k.mul(tid, 4), [tid], pred=k.bin("lt", tid, 60))
    k.barrier()
    (v,) = k.ld_shared(i32, k.mul(tid, 4))
    line = k.line
    with pytest.raises(KernelError, match="uninitialized shared memory") as info:
        _run(k)
    text = str(info.value)
    assert "thread 60 (warp 1, lane 28) reads bytes [240, 244)" in text
    assert f"{FILE}:{line}" in text


def test_shared_memory_starts_uninitialized_in_every_block():
    k, Y, tid = _kernel("perblock")
    first = k.bin("eq", k.pid(), 0)
    k.if_(first, lambda: k.st_shared(k.mul(tid, 4), [tid]))
    k.barrier()
    (v,) = k.ld_shared(i32, k.mul(tid, 4))
    with pytest.raises(KernelError, match=r"uninitialized .*program_id=\(1, 0, 0\)|"
                                          r"program_id=\(1, 0, 0\).*uninitialized"):
        _run(k, blocks=2)


@pytest.mark.parametrize("addr, vec, message", [
    (4 * N, 1, "outside the block's 256 bytes"), (-4, 1, "outside"),
    (2, 1, "misaligned"), (4, 2, "misaligned")])
def test_out_of_range_and_misaligned_shared_accesses(addr, vec, message):
    k, Y, tid = _kernel("range")
    k.st_shared(k.const(addr), [tid] * vec, pred=k.bin("eq", tid, 3))
    with pytest.raises(KernelError, match=message) as info:
        _run(k)
    assert "thread 3 (warp 0, lane 3)" in str(info.value)


# -- cp.async ---------------------------------------------------------------------

def _cp_kernel(src_bytes_of, waits, reads):
    """Thread t copies 16 bytes from X[4t : 4t+4] (f32) to shared bytes [16t, 16t+16)
    with src_bytes chosen per thread; ``waits`` and ``reads`` script the rest."""
    k = T("cpa", N, 32 * N)
    X, Y = k.tensor(f32, 1, "X"), k.tensor(f32, 1, "Y")
    tid = k.tid()
    src_bytes = src_bytes_of(k, tid)
    k.cp_async(k.mul(tid, 16), k.gaddr(X, k.mul(tid, 4), 4), src_bytes)
    k.commit()
    for step in waits:
        step(k, tid, X)
    for region in reads:
        vals = k.ld_shared(f32, k.add(k.mul(tid, 16), region), vec=4)
        k.st_global(k.gaddr(Y, k.add(k.mul(tid, 4), region // 4), 4), vals)
    return k


def test_cp_async_zero_fill_and_ragged_src_bytes():
    def src_bytes(k, tid):   # 16, 8, 0, 4, 16, 8, 0, 4, ...
        m = k.bin("mod", tid, 4)
        return k.where(k.bin("eq", m, 0), k.const(16), k.where(
            k.bin("eq", m, 1), k.const(8), k.where(k.bin("eq", m, 2), k.const(0), k.const(4))))
    k = _cp_kernel(src_bytes, [lambda k, tid, X: k.wait(0), lambda k, tid, X: k.barrier()],
                   [0])
    x = np.arange(1, 4 * N + 1, dtype=np.float32)
    y = np.full(8 * N, -1, np.float32)
    run_threads(k.build(), (1,), [x, y])
    got = y[:4 * N].reshape(N, 4)
    nsrc = np.array([4, 2, 0, 1])[np.arange(N) % 4]
    want = np.where(np.arange(4) < nsrc[:, None], x.reshape(N, 4), 0)
    np.testing.assert_array_equal(got, want)


def test_cp_async_with_src_bytes_zero_never_checks_its_address():
    k = T("cpa0", 32, 512)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.cp_async(k.mul(tid, 16), k.const(-1, i64), k.const(0))
    k.commit()
    k.wait(0)
    k.barrier()
    (v,) = k.ld_shared(f32, k.mul(tid, 16))
    k.st_global(k.gaddr(X, tid, 4), [v])
    x = np.ones(32, np.float32)
    run_threads(k.build(), (1,), [x])
    assert (x == 0).all()


def test_cp_async_source_out_of_bounds_is_caught():
    k = _cp_kernel(lambda k, tid: k.const(16), [lambda k, tid, X: k.wait(0)], [])
    with pytest.raises(KernelError, match="outside tensor 'X'.*cp_async source"):
        run_threads(k.build(), (1,), [np.zeros(4 * N - 1, np.float32),
                                      np.zeros(1, np.float32)])


def test_read_before_wait_is_caught():
    k = _cp_kernel(lambda k, tid: k.const(16), [], [0])
    with pytest.raises(KernelError, match="read of a cp.async destination before "
                                          "cp.async.wait_group") as info:
        run_threads(k.build(), (1,), [np.zeros(4 * N, np.float32), np.zeros(8 * N, np.float32)])
    assert "thread 0 (warp 0, lane 0) reads bytes [0, 16)" in str(info.value)


def test_barrier_does_not_complete_cp_async():
    k = _cp_kernel(lambda k, tid: k.const(16), [lambda k, tid, X: k.barrier()], [0])
    with pytest.raises(KernelError, match="before cp.async.wait_group"):
        run_threads(k.build(), (1,), [np.zeros(4 * N, np.float32), np.zeros(8 * N, np.float32)])


def _second_group(k, tid, X):
    # group 2: the same source into shared bytes [16 * (N + t), ...)
    k.cp_async(k.add(k.mul(tid, 16), 16 * N), k.gaddr(X, k.mul(tid, 4), 4), k.const(16))
    k.commit()


def test_wait_pending_one_completes_only_the_older_group():
    waits = [_second_group, lambda k, tid, X: k.wait(1)]
    k = _cp_kernel(lambda k, tid: k.const(16), waits, [0])   # own bytes: no barrier needed
    x = np.arange(4 * N, dtype=np.float32)
    y = np.zeros(8 * N, np.float32)
    run_threads(k.build(), (1,), [x, y])
    np.testing.assert_array_equal(y[:4 * N], x)
    k = _cp_kernel(lambda k, tid: k.const(16), waits, [16 * N])
    with pytest.raises(KernelError, match="before cp.async.wait_group"):
        run_threads(k.build(), (1,), [x, np.zeros(8 * N, np.float32)])
    k = _cp_kernel(lambda k, tid: k.const(16),
                   waits + [lambda k, tid, X: k.wait(0), lambda k, tid, X: k.barrier()],
                   [0, 16 * N])
    y = np.zeros(8 * N, np.float32)
    run_threads(k.build(), (1,), [x, y])
    np.testing.assert_array_equal(y, np.concatenate([x, x]))


def test_cp_async_data_is_a_snapshot_taken_at_issue():
    k = T("snap", 32, 512)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.cp_async(k.mul(tid, 16), k.gaddr(X, k.mul(tid, 4), 4), k.const(16))
    k.commit()
    k.st_global(k.gaddr(X, k.mul(tid, 4), 4), [k.const(-1.0, f32)] * 4)
    k.wait(0)
    (v,) = k.ld_shared(f32, k.mul(tid, 16))
    k.st_global(k.gaddr(X, k.mul(tid, 4), 4), [v])
    x = np.arange(128, dtype=np.float32)
    run_threads(k.build(), (1,), [x])
    np.testing.assert_array_equal(x.reshape(32, 4)[:, 0], np.arange(0, 128, 4))


def test_cp_async_completion_races_with_other_threads_reads():
    # thread t reads thread t+1's destination region, with the wait but no barrier
    k = T("cprace", 32, 512)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.cp_async(k.mul(tid, 16), k.gaddr(X, k.mul(tid, 4), 4), k.const(16))
    k.commit()
    k.wait(0)
    k.ld_shared(f32, k.mul(k.bin("mod", k.add(tid, 1), 32), 16))
    with pytest.raises(KernelError, match="race: thread 0 .* reads bytes \\[16, 20\\) that "
                                          "thread 1 .* wrote \\(th.cp_async at"):
        run_threads(k.build(), (1,), [np.zeros(128, np.float32)])


def test_writing_a_cp_async_destination_in_flight_is_caught():
    k = T("cpww", 32, 512)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.cp_async(k.mul(tid, 16), k.gaddr(X, k.mul(tid, 4), 4), k.const(16))
    k.st_shared(k.mul(tid, 16), [k.const(0.0, f32)])
    with pytest.raises(KernelError, match="write of a cp.async destination"):
        run_threads(k.build(), (1,), [np.zeros(128, np.float32)])


def test_cp_async_issue_races_with_earlier_reads_even_if_a_barrier_precedes_the_wait():
    k = T("cpwar", 32, 512)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.st_shared(k.mul(tid, 16), [k.const(0.0, f32)] * 4)
    k.barrier()
    k.ld_shared(f32, k.mul(k.bin("mod", k.add(tid, 1), 32), 16))   # the neighbour's bytes
    read_line = k.line
    k.cp_async(k.mul(tid, 16), k.gaddr(X, k.mul(tid, 4), 4), k.const(16))
    k.commit()
    k.barrier()
    k.wait(0)
    with pytest.raises(KernelError, match=r"race: thread 0 .* writes bytes \[0, 4\) that "
                                          r"thread 31 .* read") as info:
        run_threads(k.build(), (1,), [np.zeros(128, np.float32)])
    assert f"{FILE}:{read_line})" in str(info.value)


def test_neighbouring_two_byte_writes_in_one_word_are_not_a_race():
    from tilelang.ir.types import bf16
    k = T("halves", 32, 64)
    X = k.tensor(f32, 1, "X")
    tid = k.tid()
    k.st_shared(k.mul(tid, 2), [k.cast(tid, bf16)])          # threads 2w, 2w+1 share word w
    (mine,) = k.ld_shared(bf16, k.mul(tid, 2))                # own half: no race
    k.barrier()
    lo, hi = k.ld_shared(bf16, k.mul(k.bin("floordiv", tid, 2), 4), vec=2)
    (word,) = k.ld_shared(f32, k.mul(k.bin("floordiv", tid, 2), 4))  # a 4-byte view too
    k.st_global(k.gaddr(X, tid, 4), [k.add(k.cast(k.add(lo, hi), f32), k.cast(mine, f32))])
    x = np.zeros(32, np.float32)
    run_threads(k.build(), (1,), [x])
    t = np.arange(32)
    np.testing.assert_array_equal(x, (t // 2) * 4 + 1 + t)
    k2 = T("halves_race", 32, 64)
    k2.tensor(f32, 1, "X")
    tid = k2.tid()
    k2.st_shared(k2.mul(tid, 2), [k2.cast(tid, bf16)])
    k2.ld_shared(f32, k2.mul(k2.bin("floordiv", tid, 2), 4))  # the whole word: a race
    with pytest.raises(KernelError, match=r"race: thread 0 .* reads bytes \[2, 4\) that "
                                          r"thread 1"):
        run_threads(k2.build(), (1,), [x])
