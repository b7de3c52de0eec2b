"""The memory ops of the tile IR: global windows (``tl.load``, ``tl.store``,
``tl.atomic_add``), shared buffers (``tl.alloc_shared``, ``tl.copy``,
``tl.shared_load``, ``tl.shared_store``) and ``tl.barrier``.

Part of ``tilelang.ir.ops`` (which imports every class here into its own
namespace and ``ALL_OPS``); kept in its own file so each stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import (
    Op, Trait, _is_int_scalar, attr, operand, operands, opt_operand,
)
from tilelang.ir.types import DType, ScalarType, SharedType, TensorType, TileType, bool_, u8
from tilelang.ir.values import Value


# ---------------------------------------------------------------------------
# global memory
# ---------------------------------------------------------------------------

def _verify_window(op: Op, tensor: Value, offsets: tuple[Value, ...],
                   shape: tuple[int, ...]) -> None:
    if not isinstance(tensor.type, TensorType):
        op._fail("first operand must be a tensor")
    if len(offsets) != tensor.type.rank or len(shape) != tensor.type.rank:
        op._fail(f"a {tensor.type.rank}-D tensor needs {tensor.type.rank} offsets and "
                 f"a {tensor.type.rank}-D tile")
    if not all(_is_int_scalar(o) for o in offsets):
        op._fail("offsets must be integer scalars")


def _verify_mask(op: Op, mask: Value | None, shape: tuple[int, ...]) -> None:
    if mask is not None and mask.type != TileType(shape, bool_):
        op._fail(f"mask must be {TileType(shape, bool_)}, got {mask.type}")


def _same_or_codes(tile: DType, tensor: DType) -> bool:
    """A window of a low-bit tensor is a tile of its dtype, or, after lower-lowbit, of
    its codes (``u8``)."""
    return tile == tensor or (tensor.is_lowbit and tile == u8)


def _verify_vec(op: Op, vec: int, shape: tuple[int, ...]) -> None:
    # ``vec`` elements along the last axis are one access: a power of two that
    # tiles the rows of the window (the vectorize pass proves the rest).
    if vec < 1 or vec & (vec - 1) or (shape and shape[-1] % vec):
        op._fail(f"vec must be a power of two dividing the last dimension, got {vec}")


@dataclass(frozen=True, kw_only=True)
class LoadOp(Op):
    """Read the window ``tensor[offsets : offsets + result.shape]``.

    Elements outside ``tensor.shape`` (or where ``mask`` is false) read ``other``
    (zero when absent). The result has the tensor's rank and dtype.

    ``vec`` (set by the ``vectorize`` pass) is how many consecutive elements along
    the last axis one thread may read with one instruction: a promise that such
    groups are aligned, contiguous and wholly in or out of bounds. 1 is always
    correct; ``tl.store`` and ``tl.copy`` have the same attribute.
    """

    NAME: ClassVar[str] = "tl.load"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY})
    vec: int = attr(1)
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    mask: Value | None = opt_operand()
    other: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(1)
        rt = self.result.type
        if not isinstance(rt, TileType):
            self._fail("result must be a tile")
        _verify_window(self, self.tensor, self.offsets, rt.shape)
        _verify_vec(self, self.vec, rt.shape)
        if not _same_or_codes(rt.dtype, self.tensor.type.dtype):
            self._fail("result dtype must be the tensor's")
        _verify_mask(self, self.mask, rt.shape)
        if self.other is not None and self.other.type != ScalarType(rt.dtype):
            self._fail(f"other must be a {rt.dtype} scalar")


@dataclass(frozen=True, kw_only=True)
class StoreOp(Op):
    """Write ``value`` to ``tensor[offsets : offsets + value.shape]``, skipping
    elements outside ``tensor.shape`` or where ``mask`` is false."""

    NAME: ClassVar[str] = "tl.store"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    vec: int = attr(1)
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    value: Value = operand()
    mask: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(0)
        vt = self.value.type
        if not isinstance(vt, TileType):
            self._fail("value must be a tile")
        _verify_window(self, self.tensor, self.offsets, vt.shape)
        if not _same_or_codes(vt.dtype, self.tensor.type.dtype):
            self._fail(f"stored dtype {vt.dtype} differs from the tensor's "
                       f"{self.tensor.type.dtype}")
        _verify_mask(self, self.mask, vt.shape)
        _verify_vec(self, getattr(self, "vec", 1), vt.shape)  # tl.atomic_add has no vec


@dataclass(frozen=True, kw_only=True)
class AtomicAddOp(Op):
    """Atomically add ``value`` into ``tensor[offsets : offsets + value.shape]``
    (same bounds and mask rules as ``tl.store``)."""

    NAME: ClassVar[str] = "tl.atomic_add"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    value: Value = operand()
    mask: Value | None = opt_operand()

    def verify(self) -> None:
        StoreOp.verify(self)


# ---------------------------------------------------------------------------
# shared memory
# ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class AllocSharedOp(Op):
    """A shared-memory buffer of the result's shape; its contents start undefined.

    ``offset`` is the buffer's byte offset in the block's user-buffer area, set by
    the ``allocate-shared`` pass; ``-1`` means not placed yet.
    """

    NAME: ClassVar[str] = "tl.alloc_shared"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset()
    offset: int = attr(-1)

    def verify(self) -> None:
        self._expect_results(1)
        if not isinstance(self.result.type, SharedType):
            self._fail("result must be a shared buffer")
        if self.offset < -1:
            self._fail(f"offset must be -1 (not placed) or a byte offset, got {self.offset}")


@dataclass(frozen=True, kw_only=True)
class CopyOp(Op):
    """Copy the window ``tensor[offsets : offsets + dst.shape]`` into ``dst``;
    elements outside ``tensor.shape`` become zero.

    With ``is_async`` the copy may complete later (``cp.async`` on GPUs): it joins
    the group that the next ``tl.async_commit`` closes, and ``dst`` may be read
    only after a ``tl.async_wait`` has completed that group. The interpreter
    completes every copy at once, so the flag does not change its results.
    """

    NAME: ClassVar[str] = "tl.copy"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    is_async: bool = attr(False)
    vec: int = attr(1)
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    dst: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        dt = self.dst.type
        if not isinstance(dt, SharedType):
            self._fail("dst must be a shared buffer")
        _verify_window(self, self.tensor, self.offsets, dt.shape)
        if dt.dtype != self.tensor.type.dtype:
            self._fail("dst dtype must be the tensor's")
        _verify_vec(self, self.vec, dt.shape)


@dataclass(frozen=True, kw_only=True)
class SharedLoadOp(Op):
    """Read a whole shared buffer into a register tile."""

    NAME: ClassVar[str] = "tl.shared_load"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY})
    src: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        st = self.src.type
        if not isinstance(st, SharedType) or self.result.type != TileType(st.shape, st.dtype):
            self._fail("shared_load gives a tile of the buffer's shape and dtype")


@dataclass(frozen=True, kw_only=True)
class SharedStoreOp(Op):
    """Write a register tile into a whole shared buffer."""

    NAME: ClassVar[str] = "tl.shared_store"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    dst: Value = operand()
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        dt = self.dst.type
        if not isinstance(dt, SharedType) or self.value.type != TileType(dt.shape, dt.dtype):
            self._fail("shared_store writes a tile of the buffer's shape and dtype")


@dataclass(frozen=True, kw_only=True)
class BarrierOp(Op):
    """All threads of the program instance wait here (``__syncthreads``)."""

    NAME: ClassVar[str] = "tl.barrier"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})

    def verify(self) -> None:
        self._expect_results(0)
