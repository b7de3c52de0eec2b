"""``tl.while`` for the interpreter and (with a uniformity check) the thread emulator."""

from __future__ import annotations

from typing import Any, Callable

from tilelang.ir.values import Block, Value
from tilelang.ir.while_ops import WhileOp

Env = list
Closure = Callable[[Env], None]


def compile_while(op: WhileOp, slot: Callable[[Value], int],
                  compile_block: Callable[[Block], Callable[[Env], Any]],
                  truth: Callable[[Any], Any]) -> Closure:
    """A closure running ``op``; ``truth`` reads the condition's value (the emulator
    checks that every thread holds the same one)."""
    inits = tuple(slot(v) for v in op.inits)
    cond_args = tuple(slot(a) for a in op.cond.args)
    body_args = tuple(slot(a) for a in op.body.args)
    results = tuple(slot(r) for r in op.results)
    cond, body = compile_block(op.cond), compile_block(op.body)

    def run(env: Env) -> None:
        vals = [env[s] for s in inits]
        while True:
            for s, v in zip(cond_args, vals):
                env[s] = v
            (c,) = cond(env)
            if not truth(c):
                break
            for s, v in zip(body_args, vals):
                env[s] = v
            vals = body(env)
        for s, v in zip(results, vals):
            env[s] = v
    return run


__all__ = ["compile_while"]
