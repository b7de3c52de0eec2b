"""``tl.while`` in the GPU passes: its layouts (assign-layouts), its barriers
(insert-barriers) and its thread IR (lower-to-threads).

Each function is the ``tl.for`` rule of its pass with a second region: the
carried tiles keep one layout through ``cond`` and ``body`` (found by running
the body's yields to a fixpoint, as for ``tl.for``); barrier state flows around
``cond -> body -> cond``; in the thread IR the op stays a ``tl.while`` on the
carried tiles' register slots. The passes' own dispatch calls these.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from tilelang.ir.rewrite import map_operands
from tilelang.ir.types import TileType
from tilelang.ir.values import Block
from tilelang.ir.while_ops import WhileOp


def assign_layouts_while(p: Any, op: WhileOp, layout_of: Callable, annotated: Callable) -> None:
    """assign-layouts: ``p`` is the pass's state (``_Assign``)."""
    lays = [layout_of(p.val(v)) for v in op.inits]
    for _ in range(3):
        args = tuple(annotated(a, lay) for a, lay in zip(op.body.args, lays))
        got = p._yield_layouts(op.body, args)
        changed = False
        for i, (init, lay) in enumerate(zip(op.inits, got)):
            if lay and lay != lays[i] and (not lays[i] or p.cheap(init)):
                lays[i], changed = lay, True
        if not changed:
            break
    new_inits = tuple(p.need(v, lay) if isinstance(v.type, TileType) else p.val(v)
                      for v, lay in zip(op.inits, lays))
    cond = p._block(op.cond, tuple(annotated(a, lay) for a, lay in zip(op.cond.args, lays)))
    body = p._block(op.body, tuple(annotated(a, lay) for a, lay in zip(op.body.args, lays)),
                    yields=lays)
    results = tuple(annotated(r, lay) for r, lay in zip(op.results, lays))
    for old, r in zip(op.results, results):
        p.env[old.name] = r
    new = map_operands(op, p.val)
    p.emit(replace(new, inits=new_inits, cond=cond, body=body, results=results))


def insert_barriers_while(op: WhileOp, state: Any,
                          block_fn: Callable[[Block, Any], tuple[Block, Any]]) -> tuple[Any, Any]:
    """insert-barriers: the op with barriers placed and the state after it. An
    iteration runs ``cond`` then ``body``; the loop leaves after a ``cond``."""
    _, c_end = block_fn(op.cond, state)
    _, b_end = block_fn(op.body, c_end)       # what one iteration leaves behind
    entry = state.join(b_end)
    cond, c_end = block_fn(op.cond, entry)
    body, _ = block_fn(op.body, c_end)
    return replace(op, cond=cond, body=body), c_end


def lower_while(L: Any, op: WhileOp) -> None:
    """lower-to-threads: ``L`` is the pass's state (``_Lower``)."""
    inits = [x for v in op.inits for x in L.expand(v)]
    regions = []
    for block in (op.cond, op.body):
        args: list[Any] = []
        for a in block.args:
            value, flat = L.fresh_like(a)
            L.bind(a, value)
            args.extend(flat)
        regions.append(L._region(block, args))
    L.b.loc = op.loc
    results = L._results(op.results)
    L.b.builder.emit(WhileOp(results=tuple(results), loc=op.loc, inits=tuple(inits),
                             cond=regions[0], body=regions[1]))


__all__ = ["assign_layouts_while", "insert_barriers_while", "lower_while"]
