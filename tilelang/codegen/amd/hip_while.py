"""``tl.while`` in the HIP code generator: ``while (true) { cond; if (!c) break;
body; carried = yields; }`` over mutable locals for the carried values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.codegen.amd.hip_ops import _assign, _paren
from tilelang.ir.while_ops import WhileOp

if TYPE_CHECKING:
    from tilelang.codegen.amd.hip_emitter import HipEmitter


def _while(e: HipEmitter, op: WhileOp) -> None:
    names = [e.declare(arg, e.val(init)) for arg, init in zip(op.body.args, op.inits)]
    for arg, n in zip(op.cond.args, names):
        e.bind(arg, n)
    e.open("while (true) {")
    (cond,) = e.emit_block(op.cond)
    e.line(f"if (!{_paren(cond)}) break;")
    nexts = e.emit_block(op.body)
    if nexts is not None:
        _assign(e, names, nexts, [a.type.dtype for a in op.body.args])
    e._set_loc(op.loc)
    e.close()
    for r, n in zip(op.results, names):
        e.bind(r, n)


HANDLERS = {WhileOp: _while}

__all__ = ["HANDLERS"]
