"""Tile-IR ops for pipelines whose copies are TMA loads completing on mbarriers.

The ``pipeline-tma`` pass writes them (``sm_90a``); ``lower-to-threads`` turns
them into the thread ops of ``tma_ops``. ``bars`` is a ``tl.alloc_shared``
buffer of type ``shared<S x i64>``: one mbarrier per pipeline stage.

* ``tl.mbarrier_init``   initialize every barrier of ``bars`` for ``count``
  arrivals per phase (one elected thread), then fence and barrier the block;
* ``tl.mbarrier_expect`` one arrival on ``bars[stage]`` announcing ``bytes``
  transaction bytes (the TMA copies of that stage);
* ``tl.tma_copy``        ``tl.copy`` of the window at ``offsets`` into ``dst`` as one
  TMA box load completing on ``bars[stage]``; the data may be read only after
  a ``tl.mbarrier_wait`` on that stage has seen its phase complete;
* ``tl.mbarrier_wait``   wait until the phase of ``bars[stage]`` with parity
  ``parity`` completes;
* ``tl.mbarrier_arrive`` one arrival on ``bars[stage]`` from each warp that runs it
  (its lane 0, once the whole warp is done with the stage): a warp-specialized
  consumer releasing a stage to the producer;
* ``tl.mbarrier_inval``  invalidate every barrier of ``bars`` (after the loop), so
  the buffer's bytes may be reused;
* ``tl.tma_store``       ``tl.store`` of a tile with TMA box stores, through a swizzled
  buffer in the scratch area (written by the ``tma-store`` pass).

The reference interpreter completes every copy at once, so the barrier ops do
nothing there and ``tl.tma_copy`` is ``tl.copy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import ClassVar

from tilelang.ir.ops import Op, Trait, attr, operand, operands, register_ops
from tilelang.ir.types import ScalarType, SharedType, TensorType, TileType, i64
from tilelang.ir.values import Value

_SYNC = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
_SWIZZLE_RE = re.compile(r"Swizzle\((\d+), (\d+), (\d+)\)")


def tma_swizzle_mode(t: SharedType) -> int | None:
    """The TMA swizzle mode (0, 32, 64 or 128 bytes) that lays a box out exactly as
    the buffer type ``t`` (row-major, with its swizzle annotation) says, or None.

    TMA's mode ``M`` XORs address bits ``[4, 4 + log2(M/16))`` (the 16-byte chunk)
    with the bits 3 higher, i.e. CuTe's ``Swizzle<log2(M/16), 4, 3>`` on byte
    offsets; a row of the box must be exactly ``M`` bytes for that to match the
    buffer's element offsets. Unswizzled buffers need rows of a multiple of 16
    bytes and at most 256 elements.
    """
    size = t.dtype.bits // 8
    if t.dtype.bits % 8 or not t.shape or size == 0:
        return None
    row = t.shape[-1] * size
    if not t.swizzle:
        return 0 if row % 16 == 0 and t.shape[-1] <= 256 else None
    m = _SWIZZLE_RE.fullmatch(t.swizzle)
    if m is None:
        blk = _block_swizzle(t)
        # one 128-byte-swizzled box per column block (``tma_boxes``)
        return 128 if blk is not None and tma_boxes(t) is not None else None
    bits, base, shift = map(int, m.groups())
    if bits == 0:
        return 0 if row % 16 == 0 and t.shape[-1] <= 256 else None
    mode = 16 << bits
    if shift != 3 or (1 << base) * size != 16 or mode not in (32, 64, 128) or row != mode:
        return None
    return mode


def _block_swizzle(t: SharedType):   # -> shared_layouts.BlockSwizzle | None
    if not t.swizzle.startswith("BlockSwizzle("):
        return None
    from tilelang.ir.shared_layouts import BlockSwizzle, parse_swizzle
    swz = parse_swizzle(t.swizzle)
    return swz if isinstance(swz, BlockSwizzle) else None


def tma_boxes(t: SharedType) -> tuple[tuple[int, ...], int, int] | None:
    """How a TMA load fills a buffer of type ``t``: ``(box, blocks, block_bytes)``.

    A row-major (possibly swizzled) buffer is one box of its own shape. A buffer with
    a ``BlockSwizzle`` annotation (rows wider than 128 bytes) is ``blocks`` boxes of
    ``rows x block`` elements under the 128-byte swizzle: box ``j`` reads tensor
    columns ``[j * block, (j + 1) * block)`` of the tile and lands ``j * block_bytes``
    bytes after the buffer's start. ``None`` where the annotation does not match the
    buffer's last two dimensions or the 128-byte swizzle.
    """
    blk = _block_swizzle(t)
    if blk is None:
        return tuple(t.shape), 1, 0
    size = t.dtype.bits // 8
    swz = blk.swizzle
    if t.rank < 2 or tuple(t.shape[-2:]) != (blk.rows, blk.cols) or size == 0 or \
            blk.block * size != 128 or (swz.bits, swz.shift) != (3, 3) or \
            (1 << swz.base) * size != 16 or prod(t.shape[:-2]) != 1:
        return None
    return (*t.shape[:-1], blk.block), blk.blocks, blk.rows * blk.block * size


def _check_bars(op: Op, bars: object) -> None:
    t = getattr(bars, "type", None)
    if not isinstance(t, SharedType) or t.rank != 1 or t.dtype != i64:
        op._fail("bars must be a shared<S x i64> buffer of mbarriers")


def _check_stage(op: Op, stage: object) -> None:
    t = getattr(stage, "type", None)
    if not isinstance(t, ScalarType) or not t.dtype.is_int:
        op._fail("stage must be an integer scalar")


@dataclass(frozen=True, kw_only=True)
class MbarrierInitRingOp(Op):
    """Initialize every mbarrier of ``bars`` for ``count`` arrivals per phase."""

    NAME: ClassVar[str] = "tl.mbarrier_init"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    count: int = attr(1)
    bars: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)
        if not isinstance(self.count, int) or self.count < 1:
            self._fail("count must be a positive int")


@dataclass(frozen=True, kw_only=True)
class MbarrierExpectOp(Op):
    """Arrive on ``bars[stage]`` announcing ``bytes`` transaction bytes."""

    NAME: ClassVar[str] = "tl.mbarrier_expect"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bytes: int = attr(0)
    bars: Value = operand()
    stage: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)
        _check_stage(self, self.stage)
        if not isinstance(self.bytes, int) or self.bytes < 0:
            self._fail("bytes must be a non-negative int")


@dataclass(frozen=True, kw_only=True)
class TmaCopyOp(Op):
    """``tl.copy(tensor, offsets, dst)`` as a TMA box load completing on ``bars[stage]``."""

    NAME: ClassVar[str] = "tl.tma_copy"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    dst: Value = operand()
    bars: Value = operand()
    stage: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)
        _check_stage(self, self.stage)
        tt, dt = self.tensor.type, self.dst.type
        if not isinstance(tt, TensorType) or not isinstance(dt, SharedType):
            self._fail("tl.tma_copy copies a tensor window into a shared buffer")
        if dt.dtype != tt.dtype or dt.rank != tt.rank or len(self.offsets) != tt.rank:
            self._fail("dst must have the tensor's dtype and rank, one offset per dimension")
        if tma_swizzle_mode(dt) is None:
            self._fail(f"no TMA swizzle mode lays out {dt}")


@dataclass(frozen=True, kw_only=True)
class MbarrierWaitRingOp(Op):
    """Wait until the phase of ``bars[stage]`` with parity ``parity`` completes."""

    NAME: ClassVar[str] = "tl.mbarrier_wait"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bars: Value = operand()
    stage: Value = operand()
    parity: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)
        _check_stage(self, self.stage)
        _check_stage(self, self.parity)


@dataclass(frozen=True, kw_only=True)
class TmaStoreTileOp(Op):
    """``tl.store(tensor, offsets, value)`` as TMA box stores: the tile goes through
    a swizzled buffer in the scratch area (``tma_store.store_buffer_type``), and
    elements outside the tensor are skipped, as ``tl.store`` skips them."""

    NAME: ClassVar[str] = "tl.tma_store"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        tt, vt = self.tensor.type, self.value.type
        if not isinstance(tt, TensorType) or not isinstance(vt, TileType):
            self._fail("tl.tma_store writes a tile to a tensor window")
        if vt.dtype != tt.dtype or vt.rank != tt.rank or len(self.offsets) != tt.rank:
            self._fail("the tile must have the tensor's dtype and rank, one offset per "
                       "dimension")


@dataclass(frozen=True, kw_only=True)
class MbarrierArriveRingOp(Op):
    """One arrival on ``bars[stage]`` per warp running it."""

    NAME: ClassVar[str] = "tl.mbarrier_arrive"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bars: Value = operand()
    stage: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)
        _check_stage(self, self.stage)


@dataclass(frozen=True, kw_only=True)
class MbarrierInvalRingOp(Op):
    """Invalidate every mbarrier of ``bars``."""

    NAME: ClassVar[str] = "tl.mbarrier_inval"
    TRAITS: ClassVar[frozenset[Trait]] = _SYNC
    bars: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        _check_bars(self, self.bars)


TMA_STAGING_OPS: tuple[type[Op], ...] = (
    MbarrierInitRingOp, MbarrierExpectOp, TmaCopyOp, MbarrierWaitRingOp, MbarrierArriveRingOp,
    MbarrierInvalRingOp, TmaStoreTileOp,
)

register_ops(TMA_STAGING_OPS)

__all__ = [c.__name__ for c in TMA_STAGING_OPS] + ["TMA_STAGING_OPS", "tma_boxes",
                                                   "tma_swizzle_mode"]
