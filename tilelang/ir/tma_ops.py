"""Thread-IR ops for Hopper (``sm_90a``) asynchronous copies: mbarriers and TMA.

(``th.fence_proxy_async``, which orders generic-proxy shared writes before
asynchronous-proxy accesses, is in ``hopper_ops`` beside the wgmma ops.)

An *mbarrier* is an 8-byte object in shared memory (its address: an i32 shared
byte offset, 8-aligned). It has a current *phase* (parity 0 first), a count of
arrivals still expected in that phase and a *transaction count* of bytes still
expected. The phase completes when both reach zero; then the parity flips, the
arrival count is reset to the count given at init and the transaction count to 0.

* ``th.mbarrier_init``     ``mbarrier.init.shared::cta.b64 [bar], count``;
* ``th.mbarrier_arrive``   ``mbarrier.arrive.shared::cta.b64``: one arrival;
* ``th.mbarrier_expect_tx`` ``mbarrier.arrive.expect_tx.shared::cta.b64 [bar], bytes``:
  raise the transaction count by ``bytes``, then arrive;
* ``th.mbarrier_wait``     a loop of ``mbarrier.try_wait.parity.shared::cta.b64``
  until the phase of parity ``parity`` has completed (it returns at once when
  the barrier's current phase has the other parity); after it, the data of
  every TMA copy that completed on that phase is visible to the thread;
* ``th.mbarrier_inval``    ``mbarrier.inval``: the 8 bytes may be reused as memory;
* ``th.fence_mbarrier_init`` ``fence.mbarrier_init.release.cluster``: makes inits
  visible to the asynchronous proxy (TMA) before the first copy completes on them;
* ``th.tma_load``          ``cp.async.bulk.tensor.<rank>d.shared::cluster.global.mbarrier::
  complete_tx::bytes [dst], [map, {coords}], [bar]``: copy the box of ``box``
  elements of ``tensor`` starting at ``coords`` (in the tensor's dimension order,
  outermost first; elements outside the tensor read as zero) into shared memory
  at ``dst``, row-major (last dimension fastest) with the ``swizzle`` mode
  (0, 32, 64 or 128: 16-byte chunk ``c`` of each ``swizzle``-byte row segment
  goes to ``c ^ ((address >> 7) & (swizzle/16 - 1))``), then complete
  ``prod(box) * itemsize`` transaction bytes on ``bar``. The copy reads a tensor
  map the runtime builds for ``tensor`` with exactly this box and swizzle.

* ``th.tma_store``       ``cp.async.bulk.tensor.<rank>d.global.shared::cta.bulk_group``:
  the reverse of ``th.tma_load`` (a box laid out in shared memory written to the
  tensor, elements outside it skipped), read asynchronously;
* ``th.bulk_commit``     ``cp.async.bulk.commit_group``;
* ``th.bulk_wait_read``  ``cp.async.bulk.wait_group.read pending``: the sources of all
  but ``pending`` of the thread's committed groups have been read.

Every op but the fences and the wait has an optional ``pred``: threads where it is
false do nothing, so one elected thread issues while control flow stays uniform.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from tilelang.ir.ops import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import ScalarType, TensorType, bool_, i32
from tilelang.ir.values import Value

TMA_SWIZZLES = (0, 32, 64, 128)
TMA_MAX_RANK = 5
TMA_MAX_BOX = 256


def _i32(v: Value) -> bool:
    return isinstance(v.type, ScalarType) and v.type.dtype == i32


def _check_bar(op: Op, bar: Value, pred: Value | None) -> None:
    if not _i32(bar):
        op._fail("the mbarrier address must be an i32 shared offset")
    if pred is not None and not (isinstance(pred.type, ScalarType) and pred.type.dtype == bool_):
        op._fail("pred must be a bool scalar")
    op._expect_results(0)


_SYNC = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})


@dataclass(frozen=True, kw_only=True)
class MbarrierInitOp(Op):
    """Initialize the mbarrier at ``bar`` for ``count`` arrivals per phase, phase 0."""

    NAME: ClassVar[str] = "th.mbarrier_init"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    count: int = attr(1)
    bar: Value = operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        if not isinstance(self.count, int) or not 1 <= self.count < 1 << 20:
            self._fail("count must be in [1, 2**20)")
        _check_bar(self, self.bar, self.pred)


@dataclass(frozen=True, kw_only=True)
class MbarrierArriveOp(Op):
    """One arrival on the mbarrier at ``bar`` by each thread where ``pred`` holds."""

    NAME: ClassVar[str] = "th.mbarrier_arrive"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bar: Value = operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        _check_bar(self, self.bar, self.pred)


@dataclass(frozen=True, kw_only=True)
class MbarrierExpectTxOp(Op):
    """Raise the transaction count of ``bar`` by ``bytes``, then arrive (per thread
    where ``pred`` holds)."""

    NAME: ClassVar[str] = "th.mbarrier_expect_tx"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bytes: int = attr(0)
    bar: Value = operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        if not isinstance(self.bytes, int) or not 0 <= self.bytes < 1 << 20:
            self._fail("bytes must be in [0, 2**20)")
        _check_bar(self, self.bar, self.pred)


@dataclass(frozen=True, kw_only=True)
class MbarrierWaitOp(Op):
    """Spin (``try_wait.parity``) until the phase of ``bar`` with parity ``parity``
    (an i32, 0 or 1) has completed."""

    NAME: ClassVar[str] = "th.mbarrier_wait"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bar: Value = operand()
    parity: Value = operand()

    def verify(self) -> None:
        if not _i32(self.parity):
            self._fail("parity must be an i32 scalar")
        _check_bar(self, self.bar, None)


@dataclass(frozen=True, kw_only=True)
class MbarrierInvalOp(Op):
    """Invalidate the mbarrier at ``bar`` so its bytes may be used as memory again."""

    NAME: ClassVar[str] = "th.mbarrier_inval"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bar: Value = operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        _check_bar(self, self.bar, self.pred)


@dataclass(frozen=True, kw_only=True)
class FenceMbarrierInitOp(Op):
    """``fence.mbarrier_init.release.cluster``: earlier inits are visible to TMA."""

    NAME: ClassVar[str] = "th.fence_mbarrier_init"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class TmaLoadOp(Op):
    """Copy the ``box`` of ``tensor`` at ``coords`` into shared ``dst``, completing
    on the mbarrier ``bar`` (see the module docstring for the exact semantics).

    ``dst`` is 128-byte aligned (and aligned to the swizzle pattern's repeat,
    ``8 * swizzle`` bytes, when swizzled); the box's last dimension is a multiple of
    16 bytes and at most ``swizzle`` bytes when swizzled; every box dimension is
    at most 256.
    """

    NAME: ClassVar[str] = "th.tma_load"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    box: tuple[int, ...] = attr(())
    swizzle: int = attr(0)
    tensor: Value = operand()
    dst: Value = operand()
    bar: Value = operand()
    coords: tuple[Value, ...] = operands()
    pred: Value | None = opt_operand()

    @property
    def bytes(self) -> int:
        """The transaction bytes the copy completes on ``bar``."""
        return prod(self.box) * max(1, self.tensor.type.dtype.bits // 8)

    def verify(self) -> None:
        _check_box(self, self.tensor, self.box, self.swizzle, self.coords, self.dst)
        _check_bar(self, self.bar, self.pred)


@dataclass(frozen=True, kw_only=True)
class TmaStoreOp(Op):
    """``cp.async.bulk.tensor.<rank>d.global.shared::cta.bulk_group [map, {coords}],
    [src]``: write the ``box`` laid out at shared ``src`` (row-major, with the
    ``swizzle`` mode, as ``th.tma_load`` lays one out) to ``tensor`` at ``coords``;
    elements outside the tensor are not written. The copy reads ``src``
    asynchronously: the bytes may change only after a ``th.bulk_wait_read`` of the
    issuing thread has seen its group read. Box rules as for ``th.tma_load``."""

    NAME: ClassVar[str] = "th.tma_store"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    box: tuple[int, ...] = attr(())
    swizzle: int = attr(0)
    tensor: Value = operand()
    src: Value = operand()
    coords: tuple[Value, ...] = operands()
    pred: Value | None = opt_operand()

    @property
    def bytes(self) -> int:
        return prod(self.box) * max(1, self.tensor.type.dtype.bits // 8)

    def verify(self) -> None:
        _check_box(self, self.tensor, self.box, self.swizzle, self.coords, self.src)
        if self.pred is not None and not (isinstance(self.pred.type, ScalarType) and
                                          self.pred.type.dtype == bool_):
            self._fail("pred must be a bool scalar")
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class BulkCommitOp(Op):
    """``cp.async.bulk.commit_group``: the thread's ``th.tma_store``s so far form a group."""

    NAME: ClassVar[str] = "th.bulk_commit"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class BulkWaitReadOp(Op):
    """``cp.async.bulk.wait_group.read pending``: at most ``pending`` of the thread's
    bulk groups may still be reading their shared sources."""

    NAME: ClassVar[str] = "th.bulk_wait_read"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    pending: int = attr(0)
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(0)
        if not isinstance(self.pending, int) or not 0 <= self.pending <= 7:
            self._fail("pending must be in [0, 7]")


def _check_box(op: Op, tensor: Value, box: tuple[int, ...], swizzle: int,
               coords: tuple[Value, ...], smem: Value) -> None:
    t = tensor.type
    if not isinstance(t, TensorType):
        op._fail("tensor must be a tensor argument")
    if not 1 <= t.rank <= TMA_MAX_RANK or len(box) != t.rank or len(coords) != t.rank:
        op._fail(f"box and coords need one entry per tensor dimension (rank 1-5), "
                 f"got box {box} and {len(coords)} coords for rank {t.rank}")
    if t.dtype.bits % 8 or t.dtype.bits > 64:
        op._fail(f"TMA copies whole-byte elements, not {t.dtype}")
    if any(not isinstance(b, int) or not 1 <= b <= TMA_MAX_BOX for b in box):
        op._fail(f"box dimensions must be in [1, {TMA_MAX_BOX}], got {box}")
    inner = box[-1] * (t.dtype.bits // 8)
    if inner % 16:
        op._fail(f"the box's last dimension is {inner} bytes, not a multiple of 16")
    if swizzle not in TMA_SWIZZLES:
        op._fail(f"swizzle must be one of {TMA_SWIZZLES}, got {swizzle!r}")
    if swizzle and inner > swizzle:
        op._fail(f"a {swizzle}-byte swizzle needs a box row of at most that many "
                 f"bytes, got {inner}")
    if not all(_i32(c) for c in coords) or not _i32(smem):
        op._fail("the shared address and coords must be i32 scalars")


TMA_OPS: tuple[type[Op], ...] = (
    MbarrierInitOp, MbarrierArriveOp, MbarrierExpectTxOp, MbarrierWaitOp, MbarrierInvalOp,
    FenceMbarrierInitOp, TmaLoadOp, TmaStoreOp, BulkCommitOp, BulkWaitReadOp,
)

register_ops(TMA_OPS)

__all__ = [c.__name__ for c in TMA_OPS] + ["TMA_OPS", "TMA_SWIZZLES"]
