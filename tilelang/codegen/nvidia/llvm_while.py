"""``tl.while`` in the NVIDIA code generator: a header block with one phi per carried
value runs ``cond`` and branches to the body or the exit; the body's yields flow
back into the phis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.ir.while_ops import WhileOp

if TYPE_CHECKING:
    from tilelang.codegen.nvidia.llvm_ops import KernelEmitter


def _while(e: KernelEmitter, op: WhileOp) -> None:
    bld = e.b
    pre = bld.block
    header, body, exit_ = (e.new_block(f"while.{n}") for n in ("header", "body", "exit"))
    bld.branch(header)
    bld.position_at_end(header)
    phis = []
    for arg, init in zip(op.cond.args, op.inits):
        phi = bld.phi(e.val(init).type, name=arg.name)
        phi.add_incoming(e.val(init), pre)
        phis.append(phi)
        e.bind(arg, phi)
    (cond,) = e.emit_block(op.cond)
    bld.cbranch(cond, body, exit_)
    bld.position_at_end(body)
    for arg, phi in zip(op.body.args, phis):
        e.bind(arg, phi)
    nexts = e.emit_block(op.body)
    if nexts is not None:
        latch = bld.block
        for phi, v in zip(phis, nexts):
            phi.add_incoming(v, latch)
        bld.branch(header)
    bld.position_at_end(exit_)
    e._set_loc(op.loc)
    for r, phi in zip(op.results, phis):
        e.bind(r, phi)


HANDLERS = {WhileOp: _while}

__all__ = ["HANDLERS"]
