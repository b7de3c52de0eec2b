"""Tile-IR ops for staging data through shared memory and software pipelining.

* ``tl.shared_slice``  one stage of a ring buffer: the view ``src[index]`` of a
  shared buffer, of type ``shared<src.shape[1:]>``, at a runtime ``index``;
* ``tl.async_commit``  closes the group of asynchronous copies (``tl.copy`` with
  ``is_async``) issued since the previous commit;
* ``tl.async_wait``    waits until at most ``pending`` committed groups are
  unfinished.

The reference interpreter completes every copy when it is issued, so the two
async ops do nothing there; on GPUs they are ``cp.async.commit_group`` and
``cp.async.wait_group``. The ops register with the text format by name (like
the thread-IR ops), so they print and parse in the generic form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import Op, Trait, attr, operand, register_ops
from tilelang.ir.types import ScalarType, SharedType
from tilelang.ir.values import Value


@dataclass(frozen=True, kw_only=True)
class SharedSliceOp(Op):
    """The view ``src[index]``: the row-major sub-buffer at leading index ``index``.

    Writes through the view change ``src`` and the other way round. ``index``
    must lie in ``[0, src.shape[0])`` (the interpreter reports one outside).
    """

    NAME: ClassVar[str] = "tl.shared_slice"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    src: Value = operand()
    index: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        st = self.src.type
        if not isinstance(st, SharedType) or st.rank < 2:
            self._fail("src must be a shared buffer of rank 2 or more")
        it = self.index.type
        if not isinstance(it, ScalarType) or not it.dtype.is_int:
            self._fail("index must be an integer scalar")
        if self.result.type != SharedType(st.shape[1:], st.dtype):
            self._fail(f"result must be {SharedType(st.shape[1:], st.dtype)}")


@dataclass(frozen=True, kw_only=True)
class AsyncCommitOp(Op):
    """Close the group of asynchronous copies issued since the last commit (it may
    be empty: an empty group completes at once)."""

    NAME: ClassVar[str] = "tl.async_commit"
    # Memory traits: no pass may move a copy across it or drop it.
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class AsyncWaitOp(Op):
    """Wait until at most ``pending`` committed groups of asynchronous copies are
    unfinished. The copies are complete for the threads that issued them; other
    threads see them after a following ``tl.barrier``."""

    NAME: ClassVar[str] = "tl.async_wait"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    pending: int = attr(0)

    def verify(self) -> None:
        self._expect_results(0)
        if not isinstance(self.pending, int) or self.pending < 0:
            self._fail(f"pending must be a non-negative int, got {self.pending!r}")


STAGING_OPS: tuple[type[Op], ...] = (SharedSliceOp, AsyncCommitOp, AsyncWaitOp)

register_ops(STAGING_OPS)
