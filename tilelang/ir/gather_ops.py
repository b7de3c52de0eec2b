"""Indirect memory: ``tl.gather`` (``tl.load(X, idx)``) and ``tl.scatter``
(``tl.store(X, idx, v)``, ``tl.atomic_add(X, idx, v)``) at per-element index tiles.

``indices`` holds one integer tile per tensor axis, all of the value's shape:
element ``c`` of the tile is ``tensor[indices[0][c], ..., indices[-1][c]]``.
Bounds-safe: an element whose index lies outside ``tensor.shape`` (on any axis)
or where ``mask`` is false is not accessed (a gather reads ``other``, zero when
absent). Importing this module registers the ops by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.memory_ops import _verify_mask
from tilelang.ir.op_base import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import ScalarType, TensorType, TileType
from tilelang.ir.values import Value

#: What a scatter does at each element: write the value, or add it atomically.
SCATTER_KINDS = ("store", "add")


def _verify_indices(op: Op, tensor: Value, indices: tuple[Value, ...],
                    shape: tuple[int, ...]) -> None:
    if not isinstance(tensor.type, TensorType):
        op._fail("first operand must be a tensor")
    if len(indices) != tensor.type.rank:
        op._fail(f"a {tensor.type.rank}-D tensor needs {tensor.type.rank} index tiles")
    for ix in indices:
        t = ix.type
        if not isinstance(t, TileType) or not t.dtype.is_int or t.shape != shape:
            op._fail(f"index tiles must be integer tiles of shape {shape}, got {t}")


@dataclass(frozen=True, kw_only=True)
class GatherOp(Op):
    """Read ``tensor`` at per-element indices into a tile of the indices' shape."""

    NAME: ClassVar[str] = "tl.gather"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY})
    tensor: Value = operand()
    indices: tuple[Value, ...] = operands()
    mask: Value | None = opt_operand()
    other: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(1)
        rt = self.result.type
        if not isinstance(rt, TileType):
            self._fail("result must be a tile")
        _verify_indices(self, self.tensor, self.indices, rt.shape)
        if rt.dtype != self.tensor.type.dtype:
            self._fail("result dtype must be the tensor's")
        _verify_mask(self, self.mask, rt.shape)
        if self.other is not None and self.other.type != ScalarType(rt.dtype):
            self._fail(f"other must be a {rt.dtype} scalar")


@dataclass(frozen=True, kw_only=True)
class ScatterOp(Op):
    """Write (``kind="store"``) or atomically add (``"add"``) ``value`` into ``tensor``
    at per-element indices. Two elements of one store at the same index: one of
    them is written (which is unspecified); adds all apply."""

    NAME: ClassVar[str] = "tl.scatter"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    kind: str = attr("store")
    tensor: Value = operand()
    indices: tuple[Value, ...] = operands()
    value: Value = operand()
    mask: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(0)
        vt = self.value.type
        if self.kind not in SCATTER_KINDS:
            self._fail(f"unknown scatter kind {self.kind!r}")
        if not isinstance(vt, TileType):
            self._fail("value must be a tile")
        _verify_indices(self, self.tensor, self.indices, vt.shape)
        if vt.dtype != self.tensor.type.dtype:
            self._fail(f"value dtype {vt.dtype} differs from the tensor's {self.tensor.type.dtype}")
        _verify_mask(self, self.mask, vt.shape)


register_ops((GatherOp, ScatterOp))

__all__ = ["GatherOp", "SCATTER_KINDS", "ScatterOp"]
