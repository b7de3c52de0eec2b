"""Tile-IR math ops beyond ``tl.unary``/``tl.binary``.

* ``tl.fma``  ``a * b + c`` elementwise with a single rounding (IEEE fused
  multiply-add) on floats of one type; f16/bf16 compute it in f32 and round the
  result back once, as every narrow-float op does.

Like ``tl.binary`` it is used on tiles in the tile IR and on scalars in the
thread IR (``lower-to-threads`` splits it per register slot). The op registers
with the text format by name, so it prints and parses in the generic form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import Op, Trait, _is_value, operand, register_ops
from tilelang.ir.values import Value


@dataclass(frozen=True, kw_only=True)
class FmaOp(Op):
    """``a * b + c`` rounded once; ``a``, ``b``, ``c`` and the result share one float type."""

    NAME: ClassVar[str] = "tl.fma"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    a: Value = operand()
    b: Value = operand()
    c: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if not all(_is_value(v) for v in (self.a, self.b, self.c)) or \
                not self.a.type == self.b.type == self.c.type == self.result.type:
            self._fail("a, b, c and the result must have one type")
        if not self.a.type.dtype.is_float:
            self._fail("fma needs float operands")


MATH_OPS: tuple[type[Op], ...] = (FmaOp,)
register_ops(MATH_OPS)

__all__ = ["MATH_OPS", "FmaOp"]
