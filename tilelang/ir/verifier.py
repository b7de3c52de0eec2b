"""Module verifier: SSA form, dominance, terminators and every op's ``verify()``."""

from __future__ import annotations

from tilelang.errors import IRError
from tilelang.ir.ops import Op, Trait, YieldOp
from tilelang.ir.values import Block, Function, Module, Value


class VerifiedOps:
    """Ops whose own ``verify()`` passed. Ops are immutable, so one that a pass kept
    unchanged needs no second check: the pass manager shares one of these across a
    pipeline (the SSA, dominance and terminator checks still run every time)."""

    def __init__(self) -> None:
        # id(op) -> (op, its operands' names, its regions); holding the op keeps its
        # id from being reused, and the structure is read once per op, not per pass
        self._ops: dict[int, tuple[Op, tuple[str, ...], tuple[Block, ...]]] = {}

    def structure(self, op: Op) -> tuple[tuple[str, ...], tuple[Block, ...], bool]:
        """(operand names, regions, whether ``op.verify()`` passed already)."""
        entry = self._ops.get(id(op))
        if entry is not None:
            return entry[1], entry[2], True
        return tuple(v.name for v in op.operand_values()), op.regions(), False

    def checked(self, op: Op, names: tuple[str, ...], regions: tuple[Block, ...]) -> None:
        """Run ``op.verify()`` and remember that it passed."""
        op.verify()
        self._ops[id(op)] = (op, names, regions)


def verify_module(module: Module, verified: VerifiedOps | None = None) -> None:
    """Raise ``IRError`` describing the first broken invariant of ``module``."""
    names = [f.name for f in module.functions]
    if len(set(names)) != len(names):
        raise IRError(f"duplicate function names in module: {names}")
    for fn in module.functions:
        verify_function(fn, verified)


def verify_function(fn: Function, verified: VerifiedOps | None = None) -> None:
    defined: set[str] = set()
    for p in fn.params:
        _define(p, defined, fn.name)
    if tuple(fn.body.args) != tuple(fn.params):
        raise IRError(f"function {fn.name}: body arguments must be the parameters")
    _verify_block(fn.body, frozenset(p.name for p in fn.params), defined, fn.name,
                  verified or VerifiedOps(), top_level=True)


def _define(v: Value, defined: set[str], fn: str) -> None:
    if v.name in defined:
        raise IRError(f"function {fn}: %{v.name} is defined twice")
    defined.add(v.name)


def _verify_block(block: Block, visible: frozenset[str], defined: set[str], fn: str,
                  verified: VerifiedOps, top_level: bool = False) -> None:
    scope = set(visible)
    if not top_level:
        for a in block.args:
            _define(a, defined, fn)
            scope.add(a.name)
    last = len(block.ops) - 1
    terminator = Trait.TERMINATOR
    for i, op in enumerate(block.ops):
        # this loop runs for every op after every pass: the checks are inlined
        names, regions, done = verified.structure(op)
        for name in names:
            if name not in scope:
                where = f" at {op.loc}" if op.loc else ""
                raise IRError(f"function {fn}: {op.NAME}{where} uses %{name} "
                              f"before it is defined")
        if i != last and terminator in op.TRAITS:
            raise IRError(f"function {fn}: {op.NAME} must be the last op of its block")
        if top_level and isinstance(op, YieldOp):
            raise IRError(f"function {fn}: tl.yield outside a region")
        if not done:
            verified.checked(op, names, regions)
        if regions:  # regions see what is defined before their op
            frozen = frozenset(scope)
            for r in regions:
                _verify_block(r, frozen, defined, fn, verified)
        for r in op.results:
            name = r.name
            if name in defined:
                raise IRError(f"function {fn}: %{name} is defined twice")
            defined.add(name)
            scope.add(name)
    if top_level and (not block.ops or not block.ops[-1].has_trait(Trait.TERMINATOR)):
        raise IRError(f"function {fn}: body must end with tl.return")


__all__ = ["VerifiedOps", "verify_module", "verify_function"]
