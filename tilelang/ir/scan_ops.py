"""Tile-IR ops that look along an axis beyond a plain reduction.

* ``tl.argreduce`` (``tl.argmax`` / ``tl.argmin``): the i32 index of the
  largest (smallest) element along ``axis``, numpy's rules: the first index on
  ties, and NaN counts as the extreme (the first NaN's index wins);
* ``tl.scan`` (``tl.cumsum`` / ``tl.cumprod``): inclusive running sums
  (products) along ``axis``, from the end when ``reverse``; in order, one
  element after the other, 16-bit floats accumulating in f32 and rounding each
  output once (integers keep their width and wrap);
* ``tl.associative_scan`` (``tl.associative_scan``): the inclusive scan of
  one or more tiles of one shape along ``axis`` with a user's combine, the
  region ``combine(a_1..a_k, b_1..b_k) -> (c_1..c_k)`` on scalars of the
  tiles' dtypes, straight-line and pure. In order: ``out[0] = x[0]``,
  ``out[i] = combine(out[i-1], x[i])``; reversed, ``out[n-1] = x[n-1]``,
  ``out[i] = combine(x[i], out[i+1])`` (the operands keep their order along the
  axis, so an associative combine gives the suffix "sums").

They register with the text format by name (generic form). Lowering
(``passes/gpu/lower_scan.py``) runs them through scratch like ``tl.reduce``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import Op, Trait, attr, operand, operands, region, register_ops
from tilelang.ir.types import ScalarType, TileType, Type, i32
from tilelang.ir.values import Block, Value

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


@dataclass(frozen=True, kw_only=True)
class AssociativeScanOp(Op):
    """Inclusive scan of ``values`` along ``axis`` with ``combine`` (see the module
    docstring); one result per value, of its type."""

    NAME: ClassVar[str] = "tl.associative_scan"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE, Trait.HAS_REGIONS})
    axis: int = attr()
    reverse: bool = attr(False)
    values: tuple[Value, ...] = operands()
    combine: Block = region()

    def verify(self) -> None:
        k = len(self.values)
        if k == 0:
            self._fail("needs at least one value")
        self._expect_results(k)
        first = self.values[0].type
        if not isinstance(first, TileType) or not 0 <= self.axis < first.rank:
            self._fail(f"axis {self.axis} out of range for {first}")
        for v, r in zip(self.values, self.results):
            t = v.type
            if not isinstance(t, TileType) or t.shape != first.shape:
                self._fail(f"every value must be a tile of shape {first.shape}, got {t}")
            if r.type != t:
                self._fail(f"result must be {t}, got {r.type}")
        scalars = tuple(ScalarType(v.type.dtype) for v in self.values)
        args = tuple(a.type for a in self.combine.args)
        if args != scalars * 2:
            self._fail(f"combine takes ({', '.join(map(str, scalars * 2))}), "
                       f"got ({', '.join(map(str, args))})")
        ops = self.combine.ops
        if not ops or ops[-1].NAME != "tl.yield" or \
                tuple(v.type for v in getattr(ops[-1], "values", ())) != scalars:
            self._fail(f"combine must end with a tl.yield of ({', '.join(map(str, scalars))})")
        for op in ops[:-1]:
            if op.regions() or not op.has_trait(Trait.PURE):
                self._fail(f"combine must be straight-line pure code, found {op.NAME}")


SCAN_OPS: tuple[type[Op], ...] = (ArgReduceOp, ScanOp, AssociativeScanOp)
register_ops(SCAN_OPS)

__all__ = ["ARG_FNS", "SCAN_FNS", "SCAN_OPS", "ArgReduceOp", "AssociativeScanOp", "ScanOp"]
