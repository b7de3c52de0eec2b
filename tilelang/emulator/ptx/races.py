"""Happens-before for shared memory: vector clocks per thread, last writer per byte.

Each thread ``t`` has a vector clock ``vc[t]``; a synchronization that orders a set of
threads (a completed ``bar.sync``, an mbarrier phase a thread waited on, a warp
collective that reads shared memory, after its reads) joins their clocks and advances each own entry. A shared-memory write by
``t`` records ``t`` and ``vc[t, t]`` per byte; a read or write by ``u != t`` is a
race unless ``vc[u, t]`` has reached the recorded clock, that is unless a
synchronization orders the write before the access. The last reader of each byte is
kept the same way, so a write that another thread's read is not ordered before (a
write after read, e.g. a ring buffer slot refilled too early) is a race too. Bytes a
``cp.async`` is still
copying (issued, its group not yet waited for) are *in flight*: any access to them
is a race (a missing or too-early ``cp.async.wait_group``). Shared memory starts
undefined, as on the GPU: reading a byte no thread has written is an error.
"""

from __future__ import annotations

import numpy as np

from tilelang.emulator.ptx.errors import PtxError


def who(t: int) -> str:
    return f"thread {t} (warp {t // 32}, lane {t % 32})"


class RaceTracker:
    """Vector clocks of ``threads`` threads over ``size`` bytes of shared memory."""

    def __init__(self, threads: int, size: int) -> None:
        self.vc = np.zeros((threads, threads), np.int64)
        self.vc[np.arange(threads), np.arange(threads)] = 1
        self.writer = np.full(size, -1, np.int32)
        self.wclock = np.zeros(size, np.int64)
        self.inflight = np.zeros(size, np.int32)
        self.busy = np.zeros(size, np.int32)          # operands of in-flight wgmmas
        self.reader = np.full(size, -1, np.int32)
        self.rclock = np.zeros(size, np.int64)
        self.threads = threads

    def own(self, lanes: np.ndarray) -> np.ndarray:
        return self.vc[lanes, lanes]

    def join(self, threads: np.ndarray, extra: np.ndarray | None = None) -> None:
        """Order everything ``threads`` (and the clock ``extra``) did before everything they
        do next."""
        m = self.vc[threads].max(axis=0)
        if extra is not None:
            m = np.maximum(m, extra)
        self.vc[threads] = m
        self.vc[threads, threads] += 1

    def join_groups(self, lanes: np.ndarray, size: int) -> None:
        """Join the clocks within each group of ``size`` consecutive ``lanes`` (a warp
        collective: its ``.sync`` makes every lane wait for the others, so what one lane
        did before it is ordered before what any lane does after it)."""
        groups = lanes.reshape(-1, size)
        m = self.vc[groups].max(axis=1)                        # (groups, threads)
        self.vc[groups] = m[:, None, :]
        self.vc[lanes, lanes] += 1

    def acquire(self, threads: np.ndarray, clock: np.ndarray) -> None:
        """``threads`` observe ``clock`` (an mbarrier phase's released clock)."""
        self.vc[threads] = np.maximum(self.vc[threads], clock)

    def release(self, threads: np.ndarray) -> np.ndarray:
        """The join of ``threads``' clocks, then each advances (an arrive)."""
        m = self.vc[threads].max(axis=0)
        self.vc[threads, threads] += 1
        return m

    def check(self, lanes: np.ndarray, off: np.ndarray, nbytes: int, what: str,
              write: bool) -> np.ndarray:
        """Check accesses of ``nbytes`` at ``off`` by ``lanes``; returns the byte indices."""
        idx = (off[:, None] + np.arange(nbytes)).ravel() if nbytes > 1 else off
        who_ = np.repeat(lanes, nbytes) if nbytes > 1 else lanes
        busy = self.inflight[idx] > 0
        if busy.any():
            i = int(np.flatnonzero(busy)[0])
            raise PtxError(f"race: {what} by {who(int(who_[i]))} touches shared byte "
                           f"{int(idx[i]):#x} while a cp.async is still copying into it",
                           hint="a missing or too-early cp.async.wait_group (or barrier) in "
                                "the emitted code")
        w = self.writer[idx]
        if not write and (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            raise PtxError(f"{what} by {who(int(who_[i]))} of shared byte {int(idx[i]):#x}, "
                           f"which no thread has written (shared memory starts undefined)",
                           hint="a read before the copy or store that fills the buffer, or a "
                                "wrong shared address, in the emitted code")
        other = (w >= 0) & (w != who_)
        if other.any():
            sel = np.flatnonzero(other)
            seen = self.vc[who_[sel], w[sel]] >= self.wclock[idx[sel]]
            if not seen.all():
                i = sel[int(np.flatnonzero(~seen)[0])]
                raise PtxError(f"race: {what} by {who(int(who_[i]))} of shared byte "
                               f"{int(idx[i]):#x}, written by {who(int(w[i]))} with no "
                               f"barrier in between",
                               hint="a missing bar.sync / mbarrier wait in the emitted code")
        if write:
            self.check_busy(who_, idx, what)
            self.check_readers(who_, idx, what)
            self.writer[idx] = who_
            self.wclock[idx] = self.vc[who_, who_]
        else:
            self.reader[idx] = who_
            self.rclock[idx] = self.vc[who_, who_]
        return idx

    def check_busy(self, who_: np.ndarray, idx: np.ndarray, what: str) -> None:
        """A write into the operand bytes of a wgmma still in flight is a race."""
        hit = self.busy[idx] > 0
        if hit.any():
            i = int(np.flatnonzero(hit)[0])
            raise PtxError(f"race: {what} by {who(int(who_[i]))} of shared byte "
                           f"{int(idx[i]):#x}, an operand of a wgmma whose group no "
                           f"wgmma.wait_group has completed",
                           hint="a buffer refilled before the wgmma.wait_group of the wgmma "
                                "that reads it, in the emitted code")

    def check_readers(self, who_: np.ndarray, idx: np.ndarray, what: str) -> None:
        """A write by ``who_`` of bytes ``idx`` that the last reader's read is not ordered
        before is a race."""
        r = self.reader[idx]
        other = (r >= 0) & (r != who_)
        if other.any():
            sel = np.flatnonzero(other)
            seen = self.vc[who_[sel], r[sel]] >= self.rclock[idx[sel]]
            if not seen.all():
                i = sel[int(np.flatnonzero(~seen)[0])]
                raise PtxError(f"race: {what} by {who(int(who_[i]))} of shared byte "
                               f"{int(idx[i]):#x}, which {who(int(r[i]))} read with no "
                               f"barrier in between (the write may land before the read)",
                               hint="a missing bar.sync / mbarrier wait before reusing a "
                                    "buffer in the emitted code")

    def record_write(self, lanes: np.ndarray, idx: np.ndarray) -> None:
        """A write that landed asynchronously (its reader check ran when it was issued)."""
        self.writer[idx] = lanes
        self.wclock[idx] = self.vc[lanes, lanes]


__all__ = ["RaceTracker", "who"]
