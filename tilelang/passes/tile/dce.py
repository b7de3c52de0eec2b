"""eliminate-dead-code: remove pure ops whose results are never used.

Contract: input and output are verified modules with the same observable
behaviour. An op is removed when it has the ``PURE`` trait, no regions, and none
of its results is used anywhere in the function (including nested regions);
removal repeats until nothing changes. Ops with memory effects, terminators and
region ops are kept.
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.ir.ops import Op, Trait, walk
from tilelang.ir.values import Block, Function, Module


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    body = fn.body
    while True:
        used = {v.name for op in walk(body) for v in op.operand_values()}
        new_body = _block(body, used)
        if new_body == body:
            return replace(fn, body=body)
        body = new_body


def _block(block: Block, used: set[str]) -> Block:
    kept: list[Op] = []
    for op in block.ops:
        if _dead(op, used):
            continue
        regions = op.regions()
        if regions:
            changes = {}
            for name, value in op.__dict__.items():
                if isinstance(value, Block):
                    changes[name] = _block(value, used)
            op = replace(op, **changes)
        kept.append(op)
    return Block(block.args, tuple(kept))


def _dead(op: Op, used: set[str]) -> bool:
    return (op.has_trait(Trait.PURE) and not op.has_trait(Trait.TERMINATOR)
            and not op.regions() and all(r.name not in used for r in op.results))
