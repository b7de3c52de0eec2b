"""``tl.while``: a loop on a runtime condition, carrying values like ``tl.for``.

``cond`` and ``body`` both take the carried values as arguments; ``cond`` ends
with ``tl.yield`` of one ``bool`` scalar, ``body`` with ``tl.yield`` of the next
carried values. Semantics: ``v = inits; while cond(v): v = body(v)``; the
results are the final ``v``. The condition is a scalar, which every thread of a
block computes alike, so a block's threads leave the loop together (barriers
in the body stay legal). The op registers with the text format by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.control_ops import _verify_yield
from tilelang.ir.op_base import Op, Trait, operands, region, register_ops
from tilelang.ir.types import ScalarType, bool_
from tilelang.ir.values import Block, Value


@dataclass(frozen=True, kw_only=True)
class WhileOp(Op):
    """``while cond(*carried): carried = body(*carried)`` from ``inits``."""

    NAME: ClassVar[str] = "tl.while"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.HAS_REGIONS})
    inits: tuple[Value, ...] = operands()
    cond: Block = region()
    body: Block = region()

    def verify(self) -> None:
        carried = tuple(v.type for v in self.inits)
        for name, block in (("cond", self.cond), ("body", self.body)):
            if tuple(a.type for a in block.args) != carried:
                self._fail(f"{name} arguments must have the types of the initial values")
        if tuple(r.type for r in self.results) != carried:
            self._fail("results must have the types of the initial values")
        _verify_yield(self, self.cond, (ScalarType(bool_),))
        _verify_yield(self, self.body, carried)


WHILE_OPS: tuple[type[Op], ...] = (WhileOp,)
register_ops(WHILE_OPS)

__all__ = ["WHILE_OPS", "WhileOp"]
