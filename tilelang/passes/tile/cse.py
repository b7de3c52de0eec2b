"""eliminate-common-subexpressions: reuse the result of an identical earlier pure op.

Contract: two ops are identical when they have the same class, attributes,
operands and result types; the later one must be ``PURE``, have no regions and
sit in the same block as the earlier one or in a region nested inside it (so the
earlier result is visible). The later op is removed and its uses read the
earlier result. Ops with memory effects or regions are never merged. Input and
output are verified modules with the same behaviour.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tilelang.ir.ops import Op, Trait
from tilelang.ir.rewrite import map_operands, map_regions
from tilelang.ir.values import Block, Function, Module, Value


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    return replace(fn, body=_block(fn.body, {}, {}))


def _key(op: Op) -> tuple[Any, ...]:
    # floats by repr: 0.0 == -0.0 as numbers, but they are two constants
    attrs = tuple((k, type(v).__name__, repr(v) if isinstance(v, float) else v)
                  for k, v in sorted(op.attributes().items()))
    return (type(op), attrs, tuple(op.operand_values()), tuple(r.type for r in op.results))


def _block(block: Block, available: dict[tuple, tuple[Value, ...]],
           subst: dict[str, Value]) -> Block:
    seen = dict(available)  # values of enclosing blocks stay visible in regions
    kept: list[Op] = []
    for op in block.ops:
        op = map_operands(op, lambda v: subst.get(v.name, v))
        if op.regions():
            op = map_regions(op, lambda b: _block(b, seen, subst))
        elif op.has_trait(Trait.PURE) and not op.has_trait(Trait.TERMINATOR) and op.results:
            key = _key(op)
            if key in seen:
                for old, new in zip(op.results, seen[key]):
                    subst[old.name] = new
                continue
            seen[key] = op.results
        kept.append(op)
    return Block(block.args, tuple(kept))
