"""Warp specialization: warpgroups of one block running different code.

``tl.warp_specialize`` is both a tile-IR op (written by ``pipeline-tma`` on
``sm_90a``) and a thread-IR op (``lower-to-threads`` lowers its regions):

* threads ``[0, consumer_threads)`` run the ``consumer`` region, threads
  ``[consumer_threads, consumer_threads + producer_threads)`` the ``producer``
  region; both counts are multiples of 128 (whole warpgroups), so the consumer
  warpgroups keep the thread numbering their tile layouts were planned for and
  the producer warpgroup comes after them;
* each region sees the values defined before the op, takes no arguments, ends
  with an empty ``tl.yield`` and has control flow uniform over its own threads;
  the op has no results and is the last op of the function before ``tl.return``;
* the two regions synchronize only through mbarriers (``tl.mbarrier_*``); a block
  barrier inside a region becomes ``th.bar_sync`` over that region's threads;
* ``producer_regs`` / ``consumer_regs`` (0: leave alone) are the per-thread
  register counts each region sets with ``th.setmaxnreg`` on entry, handing the
  producer's unused registers to the consumers.

Thread-IR ops used inside the regions:

* ``th.setmaxnreg``  ``setmaxnreg.{inc,dec}.sync.aligned.u32 regs``: every thread
  of the warpgroup executes it with the same value (a multiple of 8 in
  [24, 256]);
* ``th.bar_sync``    ``barrier.sync id, threads``: a named barrier over the
  ``threads`` threads (a multiple of the warp size) that reach it; id 0 is the
  block barrier ``tl.barrier``, so role barriers use ids 1 to 15.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.ops import Op, Trait, attr, region, register_ops
from tilelang.ir.values import Block

WARPGROUP = 128
MIN_REGS, MAX_REGS = 24, 256


def _regs_ok(n: object, allow_zero: bool) -> bool:
    if allow_zero and n == 0:
        return True
    return isinstance(n, int) and MIN_REGS <= n <= MAX_REGS and n % 8 == 0


@dataclass(frozen=True, kw_only=True)
class WarpSpecializeOp(Op):
    """Consumer warpgroups run ``consumer``, the producer warpgroup(s) after them run
    ``producer`` (see the module docstring)."""

    NAME: ClassVar[str] = "tl.warp_specialize"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.HAS_REGIONS, Trait.READS_MEMORY,
                                                    Trait.WRITES_MEMORY})
    consumer_threads: int = attr(WARPGROUP)
    producer_threads: int = attr(WARPGROUP)
    consumer_regs: int = attr(0)
    producer_regs: int = attr(0)
    producer: Block = region()
    consumer: Block = region()

    def verify(self) -> None:
        self._expect_results(0)
        for name in ("consumer_threads", "producer_threads"):
            n = getattr(self, name)
            if not isinstance(n, int) or n < WARPGROUP or n % WARPGROUP:
                self._fail(f"{name} must be a positive multiple of {WARPGROUP} (warpgroups)")
        for name in ("consumer_regs", "producer_regs"):
            if not _regs_ok(getattr(self, name), allow_zero=True):
                self._fail(f"{name} must be 0 or a multiple of 8 in [{MIN_REGS}, {MAX_REGS}]")
        for r in (self.producer, self.consumer):
            if r.args:
                self._fail("warp_specialize regions take no arguments")
            if not r.ops or r.ops[-1].NAME != "tl.yield" or getattr(r.ops[-1], "values", ()):
                self._fail("each region ends with an empty tl.yield")

    @property
    def num_threads(self) -> int:
        return self.consumer_threads + self.producer_threads


@dataclass(frozen=True, kw_only=True)
class SetMaxNRegOp(Op):
    """``setmaxnreg.{inc,dec}.sync.aligned.u32 regs`` (the warpgroup's register count)."""

    NAME: ClassVar[str] = "th.setmaxnreg"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY,
                                                    Trait.CONVERGENT})
    regs: int = attr(MIN_REGS)
    inc: bool = attr(False)

    def verify(self) -> None:
        self._expect_results(0)
        if not _regs_ok(self.regs, allow_zero=False):
            self._fail(f"regs must be a multiple of 8 in [{MIN_REGS}, {MAX_REGS}]")
        if not isinstance(self.inc, bool):
            self._fail("inc must be a bool")


@dataclass(frozen=True, kw_only=True)
class BarSyncOp(Op):
    """``barrier.sync id, threads``: the named barrier ``id`` over ``threads`` threads."""

    NAME: ClassVar[str] = "th.bar_sync"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY,
                                                    Trait.CONVERGENT})
    id: int = attr(1)
    threads: int = attr(WARPGROUP)

    def verify(self) -> None:
        self._expect_results(0)
        if not isinstance(self.id, int) or not 1 <= self.id <= 15:
            self._fail("id must be in [1, 15] (0 is the block barrier)")
        if not isinstance(self.threads, int) or self.threads < 32 or self.threads % 32:
            self._fail("threads must be a positive multiple of 32")


ROLE_OPS: tuple[type[Op], ...] = (WarpSpecializeOp, SetMaxNRegOp, BarSyncOp)

register_ops(ROLE_OPS)

__all__ = [c.__name__ for c in ROLE_OPS] + ["MAX_REGS", "MIN_REGS", "ROLE_OPS", "WARPGROUP"]
