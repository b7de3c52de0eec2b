"""The tile IR's debugging ops (``tl.print``, ``tl.device_assert``) and its
structured control flow (``tl.for``, ``tl.if``, ``tl.yield``, ``tl.return``).

Part of ``tilelang.ir.ops``, which imports every class here into its own
namespace and ``ALL_OPS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import (
    Op, Trait, _is_int_scalar, attr, operand, operands, region,
)
from tilelang.ir.types import ScalarType, TileType, Type, bool_
from tilelang.ir.values import Block, Value


# ---------------------------------------------------------------------------
# debugging
# ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PrintOp(Op):
    """Print ``prefix`` and the values, once per program instance."""

    NAME: ClassVar[str] = "tl.print"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    prefix: str = attr("")
    values: tuple[Value, ...] = operands()

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class AssertOp(Op):
    """Stop the kernel with ``message`` where ``cond`` is false (any element)."""

    NAME: ClassVar[str] = "tl.device_assert"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    message: str = attr("")
    cond: Value = operand()

    def verify(self) -> None:
        self._expect_results(0)
        if not isinstance(self.cond.type, (ScalarType, TileType)) or self.cond.type.dtype != bool_:
            self._fail("condition must be bool")


# ---------------------------------------------------------------------------
# control flow
# ---------------------------------------------------------------------------

LOOP_KINDS = ("range", "pipeline")


@dataclass(frozen=True, kw_only=True)
class ForOp(Op):
    """``for iv in range(lower, upper, step)`` carrying ``inits`` through the body.

    The body's arguments are ``(iv, *carried)``; it ends with ``tl.yield`` of the
    next carried values; the op's results are the carried values after the last
    iteration. ``kind="pipeline"`` marks a loop to software-pipeline with
    ``stages`` stages (same semantics as ``range``).
    """

    NAME: ClassVar[str] = "tl.for"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.HAS_REGIONS})
    kind: str = attr("range")
    stages: int = attr(1)
    lower: Value = operand()
    upper: Value = operand()
    step: Value = operand()
    inits: tuple[Value, ...] = operands()
    body: Block = region()

    def verify(self) -> None:
        if self.kind not in LOOP_KINDS:
            self._fail(f"unknown loop kind {self.kind!r}")
        if self.stages < 1:
            self._fail("stages must be at least 1")
        bounds = (self.lower, self.upper, self.step)
        if not all(_is_int_scalar(v) for v in bounds) or \
                len({v.type for v in bounds}) != 1:
            self._fail("bounds must be integer scalars of one type")
        args = self.body.args
        if len(args) != 1 + len(self.inits) or args[0].type != self.lower.type:
            self._fail("body arguments must be (iv, *carried)")
        carried = tuple(v.type for v in self.inits)
        if tuple(a.type for a in args[1:]) != carried:
            self._fail("body arguments must have the types of the initial values")
        if tuple(r.type for r in self.results) != carried:
            self._fail("results must have the types of the initial values")
        _verify_yield(self, self.body, carried)


@dataclass(frozen=True, kw_only=True)
class IfOp(Op):
    """Run ``then`` if the scalar ``cond`` holds, else ``orelse``; both yield the results."""

    NAME: ClassVar[str] = "tl.if"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.HAS_REGIONS})
    cond: Value = operand()
    then: Block = region()
    orelse: Block = region()

    def verify(self) -> None:
        if self.cond.type != ScalarType(bool_):
            self._fail("condition must be a bool scalar")
        if self.then.args or self.orelse.args:
            self._fail("if regions take no arguments")
        want = tuple(r.type for r in self.results)
        _verify_yield(self, self.then, want)
        _verify_yield(self, self.orelse, want)


@dataclass(frozen=True, kw_only=True)
class YieldOp(Op):
    """Ends a loop body or an if branch, giving the values it produces."""

    NAME: ClassVar[str] = "tl.yield"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.TERMINATOR, Trait.PURE})
    values: tuple[Value, ...] = operands()

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class ReturnOp(Op):
    """Ends a kernel's body."""

    NAME: ClassVar[str] = "tl.return"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.TERMINATOR})

    def verify(self) -> None:
        self._expect_results(0)


def _verify_yield(op: Op, block: Block, want: tuple[Type, ...]) -> None:
    if not block.ops or not isinstance(block.ops[-1], YieldOp):
        op._fail("region must end with tl.yield")
    got = tuple(v.type for v in block.ops[-1].values)
    if got != want:
        op._fail(f"region yields ({', '.join(map(str, got))}), "
                 f"expected ({', '.join(map(str, want))})")
