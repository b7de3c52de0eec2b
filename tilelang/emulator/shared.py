"""Shared memory of the emulator: bytes, initialization, races and cp.async.

Each block has ``shared_bytes`` bytes (a ``uint8`` array, viewed by dtype per
access). Per byte the emulator keeps whether it was ever written in this block,
how many ``cp.async`` copies into it are in flight, and, since the last
``tl.barrier``, one thread that wrote it and one that read it (plus whether
several threads did). With that it reports:

* an access outside ``[0, shared_bytes)`` or not aligned to its size;
* a read of a byte never written ("uninitialized shared memory");
* a read or write of a byte an issued but not yet waited-for ``cp.async`` will
  write;
* races since the last barrier: a thread reading bytes another thread wrote,
  two threads writing the same bytes (except one op writing identical values
  from several threads), a thread writing bytes another thread read.

Messages name the threads (block-wide ids, also inside a ``tl.warp_specialize``
region), the byte range and the op that made the earlier access. ``th.cp_async``
reads its global source when issued (a snapshot) and its data lands, as writes
by the issuing thread, at the ``th.cp_async_wait`` that completes its group; a
barrier completes nothing. As the hardware may write the destination at any
moment in between, issuing is checked like a write (races with accesses since
the last barrier) and the destination is off limits until the wait.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.emulator.core import (
    REPORT_BASE, STATE, Closure, Env, Fault, Prep, Slot, lane_list, lanes, who, who_block,
)
from tilelang.emulator.global_memory import decode, locate
from tilelang.interp.ops import storage

_RACE_HINT = ("no tl.barrier separates these accesses of different threads: a barrier is "
              "missing (insert-barriers) or the lowering gives two threads one address")


def _block_ids(threads: np.ndarray) -> np.ndarray:
    """Block-wide ids of positions ``threads`` of the running region: the race records
    name block-wide threads, so the roles of ``tl.warp_specialize`` stay distinct."""
    base = REPORT_BASE.get()
    return threads + base if base else threads


class _Rec(NamedTuple):
    """One cp.async op's copies, waiting for their group to complete."""

    op_id: int
    threads: np.ndarray
    idx: np.ndarray        # (threads, bytes) destination byte positions
    gidx: np.ndarray       # their granules
    data: np.ndarray       # (threads, bytes) uint8


class SharedMemory:
    """A block's shared memory with the bookkeeping described in the module doc.

    The bookkeeping is per *granule* of ``prep.granule`` bytes, the greatest common
    divisor of the sizes of the kernel's shared accesses: as every access is
    aligned to its size, each covers whole granules, so this is exact, and it
    makes the common all-4-byte or 16-byte kernels 4 or 16 times cheaper.

    Reads are checked when they happen (bounds, cp.async, initialization, against
    earlier writes) but recorded lazily: they only matter to a later write before
    the next barrier, so they are logged and applied to the per-granule reader
    arrays only when a write comes (a barrier drops the log).
    """

    def __init__(self, prep: Prep) -> None:
        self.prep = prep
        n = self.nbytes = prep.shared_bytes
        g = self.g = prep.granule
        ng = -(-n // g)
        self.data = np.zeros(n, np.uint8)
        self.init = np.zeros(ng, bool)
        self.all_init = False              # every granule written (skips the init check)
        self.inflight = np.zeros(ng, np.int16)
        self.n_inflight = 0
        self.wr = np.full(ng, -1, np.int32)  # a thread that wrote it since the barrier
        self.wr_many = np.zeros(ng, bool)    # ... and whether others did too
        self.wr_op = np.zeros(ng, np.int32)
        self.rd = np.full(ng, -1, np.int32)
        self.rd_many = np.zeros(ng, bool)
        self.rd_op = np.zeros(ng, np.int32)
        self.read_log: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._spans: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.logged = 0                    # granules in read_log
        self.lo, self.hi = ng, 0           # granules tracked since the last barrier
        self.writes = False                # any write since the last barrier
        self.reads = False                 # any read recorded in rd since the last barrier
        # per granule, how many unfinished wgmma groups read it (emu_wgmma; None: none)
        self.async_readers: np.ndarray | None = None

    def new_block(self) -> None:
        self.async_readers = None
        self.init[:] = False
        self.all_init = self.nbytes == 0
        self.inflight[:] = 0
        self.n_inflight = 0
        self.lo, self.hi = 0, len(self.init)
        self.barrier()

    def barrier(self) -> None:
        lo, hi = self.lo, self.hi
        if lo < hi:
            self.wr[lo:hi] = -1
            self.wr_many[lo:hi] = False
            self.rd[lo:hi] = -1
            self.rd_many[lo:hi] = False
        self.lo, self.hi = len(self.init), 0
        self.writes = False
        self.reads = False
        self.read_log.clear()
        self.logged = 0

    # -- positions ---------------------------------------------------------------
    def positions(self, threads: np.ndarray, addr: np.ndarray, size: int, align: int,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
        """Byte positions ``(threads, size)`` and granules ``(threads, size // g)`` of
        accesses at ``addr`` (range and alignment checked)."""
        if not len(addr):
            return np.zeros((0, size), np.int64), np.zeros((0, size // self.g), np.int64)
        lo, hi = int(np.minimum.reduce(addr)), int(np.maximum.reduce(addr))
        if lo < 0 or hi + size > self.nbytes:
            addr = addr.astype(np.int64)
            bad = (addr < 0) | (addr + size > self.nbytes)
            k = int(np.flatnonzero(bad)[0])
            raise Fault(f"{what} of bytes [{int(addr[k])}, {int(addr[k]) + size}) outside "
                        f"the block's {self.nbytes} bytes of shared memory by "
                        f"{lane_list(threads[bad])}",
                        "shared addresses must stay inside the kernel's shared_bytes (a "
                        "lowering bug)")
        if align > 1 and (int(np.bitwise_or.reduce(addr)) & (align - 1) if
                          align & (align - 1) == 0 else np.any(addr % align)):
            mis = addr % align != 0
            k = int(np.flatnonzero(mis)[0])
            raise Fault(f"misaligned {what}: {size}-byte access at shared byte offset "
                        f"{int(addr[k])} (not a multiple of {align}) by "
                        f"{lane_list(threads[mis])}",
                        "a shared access must be aligned to its size")
        g = self.g
        self.lo = min(self.lo, lo // g)
        self.hi = max(self.hi, -(-(hi + size) // g))
        key = (size, addr.dtype)
        spans = self._spans.get(key)
        if spans is None:  # of the address dtype: mixed-dtype adds are slow
            spans = self._spans[key] = (np.arange(size, dtype=addr.dtype),
                                        np.arange(size // g, dtype=addr.dtype))
        col = addr[:, None]
        idx = col + spans[0]
        if g == 1:
            return idx, idx
        shift = g.bit_length() - 1
        return idx, ((col >> shift) if 1 << shift == g else col // g) + spans[1]

    def _first(self, bad: np.ndarray, gidx: np.ndarray) -> tuple[int, int, str]:
        """(row, first bad granule, "bytes [lo, hi)") of the first row with a bad granule."""
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        cols = np.flatnonzero(bad[row])
        first = int(gidx[row, cols[0]])
        end = (int(gidx[row, cols[-1]]) + 1) * self.g
        return row, first, f"bytes [{first * self.g}, {end})"

    # -- checks ----------------------------------------------------------------
    def check_inflight(self, gidx: np.ndarray, threads: np.ndarray, verb: str) -> None:
        if not self.n_inflight:
            return
        bad = self.inflight[gidx] > 0
        if bad.any():
            row, _, rng = self._first(bad, gidx)
            raise Fault(
                f"{verb} of a cp.async destination before cp.async.wait_group completed "
                f"it (or of a TMA destination before its mbarrier phase did): "
                f"{who(threads[row])} {verb}s {rng} of shared memory",
                "wait for the copy's group (th.cp_async_wait) or its mbarrier phase "
                "(th.mbarrier_wait) before touching its destination, and put a barrier "
                "after a cp.async wait when other threads read it")

    def _race(self, bad: np.ndarray, gidx: np.ndarray, threads: np.ndarray, verb: str,
              last: np.ndarray, many: np.ndarray, ops: np.ndarray, past: str) -> None:
        row, gr, rng = self._first(bad, gidx)
        me, them = int(threads[row]), int(last[gr])
        mine = them == me + REPORT_BASE.get()      # records hold block-wide ids
        by = who_block(them) if not mine else "another thread"
        if many[gr] and not mine:
            by += " and others"
        raise Fault(f"shared memory race: {who(me)} {verb} {rng} that {by} {past} "
                    f"({self.prep.loc_of(int(ops[gr]))}) with no tl.barrier between",
                    _RACE_HINT)

    def _flush_reads(self) -> None:
        """Record the logged reads in the per-granule reader arrays."""
        for threads, gidx, op_id in self.read_log:
            ln = threads[:, None]
            cur = self.rd[gidx]
            self.rd[gidx] = ln                  # one of the readers of each granule stays
            many = ((cur >= 0) & (cur != ln)) | (self.rd[gidx] != ln)
            if many.any():
                self.rd_many[gidx[many]] = True
            self.rd_op[gidx] = op_id
            self.reads = True
        self.read_log.clear()
        self.logged = 0

    def check_write(self, threads: np.ndarray, gidx: np.ndarray) -> None:
        """Fault if ``threads`` may not write granules ``gidx`` now (in flight, or a race)."""
        ln = _block_ids(threads)[:, None]
        self.check_inflight(gidx, threads, "write")
        if self.async_readers is not None:
            busy = self.async_readers[gidx] > 0
            if busy.any():
                row, _, rng = self._first(busy, gidx)
                raise Fault(f"shared memory race: {who(threads[row])} writes {rng}, which "
                            f"a wgmma group not yet completed by th.wgmma_wait reads",
                            "wait for the wgmma group (th.wgmma_wait) before overwriting "
                            "its operands (a lowering bug)")
        if self.writes:
            w = self.wr[gidx]
            bad = (w >= 0) & ((w != ln) | self.wr_many[gidx])
            if bad.any():
                self._race(bad, gidx, threads, "writes", self.wr, self.wr_many, self.wr_op,
                           "wrote")
        if self.read_log:
            self._flush_reads()
        if self.reads:
            r = self.rd[gidx]
            bad = (r >= 0) & ((r != ln) | self.rd_many[gidx])
            if bad.any():
                self._race(bad, gidx, threads, "writes", self.rd, self.rd_many, self.rd_op,
                           "read")

    # -- accesses --------------------------------------------------------------
    def read(self, threads: np.ndarray, idx: np.ndarray, gidx: np.ndarray,
             op_id: int) -> np.ndarray:
        """The bytes at ``idx`` (granules ``gidx``; one row per thread) read by ``threads``."""
        self.check_inflight(gidx, threads, "read")
        if not self.all_init:
            init = self.init[gidx]
            if not init.all():
                row, _, rng = self._first(~init, gidx)
                raise Fault(
                    f"read of uninitialized shared memory: {who(threads[row])} reads {rng}, "
                    f"never written in this block",
                    "write shared memory before reading it, on every path, including the "
                    "first loop iteration (or the pass that should have written it is "
                    "wrong)")
        if self.writes:
            w = self.wr[gidx]
            bad = (w >= 0) & ((w != _block_ids(threads)[:, None]) | self.wr_many[gidx])
            if bad.any():
                self._race(bad, gidx, threads, "reads", self.wr, self.wr_many, self.wr_op,
                           "wrote")
        self.read_log.append((_block_ids(threads), gidx, op_id))
        self.logged += gidx.size
        if self.logged > 1 << 20:           # bound the log in long read-only phases
            self._flush_reads()
        return self.data[idx]

    def write(self, threads: np.ndarray, idx: np.ndarray, gidx: np.ndarray,
              data: np.ndarray, op_id: int) -> None:
        """Store ``data`` (uint8, one row per thread) at ``idx`` (granules ``gidx``) as
        writes by ``threads``."""
        ln = _block_ids(threads)[:, None]
        self.check_write(threads, gidx)
        self.data[idx] = data
        self.wr[gidx] = ln
        self.writes = True
        same = self.wr[gidx] != ln          # granules several threads of this op wrote
        if same.any():
            same_bytes = np.repeat(same, self.g, axis=1)
            differ = same_bytes & (self.data[idx] != data)
            if differ.any():
                row = int(np.flatnonzero(differ.any(axis=1))[0])
                _, gr, rng = self._first(same[row:row + 1], gidx[row:row + 1])
                raise Fault(f"shared memory race: {who(threads[row])} writes {rng} that "
                            f"{who_block(self.wr[gr])} writes with a different value in the "
                            f"same op", _RACE_HINT)
            self.wr_many[gidx[same]] = True
        if not self.all_init:
            self.init[gidx] = True
            self.all_init = bool(self.init.all())
        self.wr_op[gidx] = op_id


def _all_threads(n: int) -> np.ndarray:
    return np.arange(n)


def _compile_ld_shared(op: th.LdSharedOp, slot: Slot, prep: Prep) -> Closure:
    a, n = slot(op.addr), prep.num_threads
    rs = tuple(slot(r) for r in op.results)
    dt = storage(op.dtype)
    size = op.vec * dt.itemsize
    threads, op_id = _all_threads(n), prep.op_id(op)

    def run(env: Env) -> None:
        sm = env[STATE].shared
        idx, gidx = sm.positions(threads, lanes(env[a], n), size, size, "th.ld_shared")
        vals = sm.read(threads, idx, gidx, op_id).view(dt)
        for j, r in enumerate(rs):
            env[r] = vals[:, j]
    return run


def _compile_st_shared(op: th.StSharedOp, slot: Slot, prep: Prep) -> Closure:
    a, n = slot(op.addr), prep.num_threads
    p = slot(op.pred) if op.pred is not None else None
    vs = tuple(slot(v) for v in op.values)
    dt = storage(op.values[0].type.dtype)
    size = len(vs) * dt.itemsize
    every, op_id = _all_threads(n), prep.op_id(op)

    def run(env: Env) -> None:
        threads, addr = every, lanes(env[a], n)
        vals = np.empty((n, len(vs)), dt)
        for j, s in enumerate(vs):
            vals[:, j] = env[s]
        if p is not None:
            pred = env[p]
            if np.ndim(pred) == 0:
                if not pred:
                    return
            else:
                threads = np.flatnonzero(pred)
                addr, vals = addr[threads], vals[threads]
        sm = env[STATE].shared
        idx, gidx = sm.positions(threads, addr, size, size, "th.st_shared")
        sm.write(threads, idx, gidx, vals.view(np.uint8), op_id)
    return run


def _compile_cp_async(op: th.CpAsyncOp, slot: Slot, prep: Prep) -> Closure:
    d, s, sb, n, size = slot(op.dst), slot(op.src), slot(op.src_bytes), prep.num_threads, \
        op.bytes
    threads, op_id = _all_threads(n), prep.op_id(op)

    def run(env: Env) -> None:
        state = env[STATE]
        sm = state.shared
        idx, gidx = sm.positions(threads, lanes(env[d], n), size, size, "th.cp_async")
        sm.check_write(threads, gidx)    # the copy may land at any moment from now on
        nsrc = lanes(env[sb], n).astype(np.int64)
        bad = (nsrc < 0) | (nsrc > size)
        if bad.any():
            raise Fault(f"th.cp_async src_bytes {int(nsrc[bad][0])} outside [0, {size}] in "
                        f"{lane_list(threads[bad])}", "src_bytes is between 0 and bytes")
        data = np.zeros((n, size), np.uint8)
        reading = np.flatnonzero(nsrc > 0)
        if reading.size:
            src = lanes(env[s], n).astype(np.int64)[reading]
            _snapshot(state, src, nsrc[reading], reading, size, data)
        np.add.at(sm.inflight, gidx.ravel(), 1)
        sm.n_inflight += gidx.size
        state.open_group.append(_Rec(op_id, threads, idx, gidx, data))
    return run


def _snapshot(state: Any, src: np.ndarray, nsrc: np.ndarray, reading: np.ndarray, size: int,
              data: np.ndarray) -> None:
    """Copy the first ``nsrc`` bytes at global ``src`` into ``data[reading]``."""
    pos, _ = decode(state, src, reading)
    for p in np.unique(pos):
        t = state.tensors[int(p)]
        isz = t.itemsize
        rows = np.flatnonzero(pos == p)
        if size % isz or (nsrc[rows] % isz).any():
            raise Fault(f"th.cp_async copies part of an element of tensor '{t.name}' "
                        f"({isz}-byte elements) in {lane_list(reading[rows])}",
                        "bytes and src_bytes must be multiples of the element size")
        counts = nsrc[rows] // isz
        for n_el in np.unique(counts):
            sub = rows[counts == n_el]
            for t_, r, q in locate(state, src[sub], reading[sub], int(n_el), isz,
                                   "th.cp_async source read", align=size):
                got = np.ascontiguousarray(t_.flat[q]).view(np.uint8)
                data[reading[sub[r]], :int(n_el) * isz] = got


def _compile_commit(op: th.CpAsyncCommitOp, slot: Slot, prep: Prep) -> Closure:
    def run(env: Env) -> None:
        state = env[STATE]
        state.groups.append(state.open_group)
        state.open_group = []
    return run


def _compile_wait(op: th.CpAsyncWaitOp, slot: Slot, prep: Prep) -> Closure:
    pending = op.pending

    def run(env: Env) -> None:
        state = env[STATE]
        groups = state.groups
        k = len(groups) - pending
        if k <= 0:
            return
        done, state.groups = groups[:k], groups[k:]
        sm = state.shared
        for group in done:
            for rec in group:
                np.subtract.at(sm.inflight, rec.gidx.ravel(), 1)
                sm.n_inflight -= rec.gidx.size
                sm.lo = min(sm.lo, int(rec.gidx.min()))
                sm.hi = max(sm.hi, int(rec.gidx.max()) + 1)
                sm.write(rec.threads, rec.idx, rec.gidx, rec.data, rec.op_id)
    return run


def _compile_barrier(op: o.BarrierOp, slot: Slot, prep: Prep) -> Closure:
    def run(env: Env) -> None:
        env[STATE].shared.barrier()
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    th.LdSharedOp: _compile_ld_shared,
    th.StSharedOp: _compile_st_shared,
    th.CpAsyncOp: _compile_cp_async,
    th.CpAsyncCommitOp: _compile_commit,
    th.CpAsyncWaitOp: _compile_wait,
    o.BarrierOp: _compile_barrier,
}
