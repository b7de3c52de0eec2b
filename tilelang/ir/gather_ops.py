"""Tile-IR memory ops at per-element indices: gather and scatter.

* ``tl.gather``: ``result[e] = tensor[indices_0[e], ..., indices_{r-1}[e]]`` for
  every element ``e`` of the index tiles (one per tensor axis, all of the
  result's shape); an element whose index lies outside the tensor's runtime
  shape, or where ``mask`` is false, reads ``other`` (zero when absent);
* ``tl.scatter``: ``tensor[indices...[e]] = value[e]``, skipping elements out
  of bounds or masked off; with ``reduce = "add"`` each element is added
  atomically instead (a scatter-add). When two elements of one plain scatter
  name the same position, which value lands is unspecified.

Both are bounds-safe like window loads and stores; the lowering
(``passes/gpu/lower_gather.py``) computes one address per element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import ScalarType, TensorType, TileType, bool_
from tilelang.ir.values import Value

SCATTER_REDUCE = ("", "add")


def _verify_indices(op: Op, tensor: Value, indices: tuple[Value, ...],
                    shape: tuple[int, ...]) -> None:
    if not isinstance(tensor.type, TensorType):
        op._fail("first operand must be a tensor")
    if len(indices) != tensor.type.rank:
        op._fail(f"a {tensor.type.rank}-D tensor needs {tensor.type.rank} index tiles")
    for x in indices:
        t = x.type
        if not isinstance(t, TileType) or t.shape != shape or not t.dtype.is_int:
            op._fail(f"indices must be integer tiles of shape {shape}, got {t}")


def _verify_mask(op: Op, mask: Value | None, shape: tuple[int, ...]) -> None:
    if mask is not None and mask.type != TileType(shape, bool_):
        op._fail(f"mask must be {TileType(shape, bool_)}, got {mask.type}")


@dataclass(frozen=True, kw_only=True)
class GatherOp(Op):
    """Read ``tensor`` at per-element indices (see the module docstring)."""

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
    """Write (or atomically add, ``reduce = "add"``) ``value`` at per-element indices."""

    NAME: ClassVar[str] = "tl.scatter"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    reduce: str = attr("")
    tensor: Value = operand()
    indices: tuple[Value, ...] = operands()
    value: Value = operand()
    mask: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(0)
        vt = self.value.type
        if self.reduce not in SCATTER_REDUCE:
            self._fail(f"reduce must be one of {SCATTER_REDUCE}, got {self.reduce!r}")
        if not isinstance(vt, TileType):
            self._fail("value must be a tile")
        _verify_indices(self, self.tensor, self.indices, vt.shape)
        if vt.dtype != self.tensor.type.dtype:
            self._fail("value dtype must be the tensor's")
        _verify_mask(self, self.mask, vt.shape)


GATHER_OPS: tuple[type[Op], ...] = (GatherOp, ScatterOp)
register_ops(GATHER_OPS)

__all__ = ["GATHER_OPS", "SCATTER_REDUCE", "GatherOp", "ScatterOp"]
