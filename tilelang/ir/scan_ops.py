"""Tile-IR ops that look along an axis beyond a plain reduction.

* ``tl.argreduce`` (``tl.argmax`` / ``tl.argmin``): the i32 index of the
  largest (smallest) element along ``axis``, numpy's rules: the first index on
  ties, and NaN counts as the extreme (the first NaN's index wins);
* ``tl.scan`` (``tl.cumsum`` / ``tl.cumprod``): inclusive running sums
  (products) along ``axis``, from the end when ``reverse``; in order, one
  element after the other, 16-bit floats accumulating in f32 and rounding each
  output once (integers keep their width and wrap).

Both register with the text format by name (generic form). Lowering
(``passes/gpu/lower_scan.py``) runs them through the scratch area like
``tl.reduce``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import Op, Trait, attr, operand, register_ops
from tilelang.ir.types import ScalarType, TileType, Type, i32
from tilelang.ir.values import Value

ARG_FNS = ("argmax", "argmin")
SCAN_FNS = ("sum", "prod")


@dataclass(frozen=True, kw_only=True)
class ArgReduceOp(Op):
    """The i32 index along ``axis`` of the extreme element (see the module docstring)."""

    NAME: ClassVar[str] = "tl.argreduce"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    fn: str = attr()
    axis: int = attr()
    keepdims: bool = attr(False)
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src = self.value.type
        if self.fn not in ARG_FNS:
            self._fail(f"unknown fn {self.fn!r} (one of {', '.join(ARG_FNS)})")
        if not isinstance(src, TileType) or not 0 <= self.axis < src.rank:
            self._fail(f"axis {self.axis} out of range for {src}")
        if src.dtype.is_bool:
            self._fail("argmax/argmin of a bool tile: convert it to an integer first")
        shape = list(src.shape)
        if self.keepdims:
            shape[self.axis] = 1
        else:
            del shape[self.axis]
        want: Type = TileType(tuple(shape), i32) if shape else ScalarType(i32)
        if self.result.type != want:
            self._fail(f"result must be {want}, got {self.result.type}")


@dataclass(frozen=True, kw_only=True)
class ScanOp(Op):
    """Inclusive running ``fn`` along ``axis`` (see the module docstring)."""

    NAME: ClassVar[str] = "tl.scan"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    fn: str = attr()
    axis: int = attr()
    reverse: bool = attr(False)
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src = self.value.type
        if self.fn not in SCAN_FNS:
            self._fail(f"unknown fn {self.fn!r} (one of {', '.join(SCAN_FNS)})")
        if not isinstance(src, TileType) or not 0 <= self.axis < src.rank:
            self._fail(f"axis {self.axis} out of range for {src}")
        if src.dtype.is_bool:
            self._fail("a scan of a bool tile: convert it to an integer first")
        if self.result.type != TileType(src.shape, src.dtype):
            self._fail(f"result must be {TileType(src.shape, src.dtype)}, "
                       f"got {self.result.type}")


SCAN_OPS: tuple[type[Op], ...] = (ArgReduceOp, ScanOp)
register_ops(SCAN_OPS)

__all__ = ["ARG_FNS", "SCAN_FNS", "SCAN_OPS", "ArgReduceOp", "ScanOp"]
