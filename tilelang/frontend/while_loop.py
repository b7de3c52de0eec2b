"""``while`` loops on runtime conditions (mixed into ``Tracer``), traced into ``tl.while``.

The carried names are chosen as for a runtime ``for`` (liveness: bound before the
loop, rebound in the body, and live at its head, where the condition's reads
count); Python numbers among them become runtime values. The condition is traced
once into the ``cond`` region over the carried values and must be a scalar (a
tile condition is a ``CompileError``: reduce it, e.g. ``tl.max(x) > 0``).
``break``/``continue`` are rewritten into flags first (``jumps.py``), the break
flag joining the condition. ``while True`` (or any compile-time true condition)
needs a ``break``.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from tilelang.frontend import semantic as sem
from tilelang.frontend.control_flow import Unavailable, _is_number, assigned_names
from tilelang.frontend.handles import Handle, SharedHandle, TensorHandle, TileHandle
from tilelang.frontend.jumps import lower_while_jumps
from tilelang.frontend.liveness import loop_head_live
from tilelang.ir import ops
from tilelang.ir.types import ScalarType, Type, bool_
from tilelang.ir.while_ops import WhileOp

if TYPE_CHECKING:
    from tilelang.frontend.ast_to_ir import Tracer


class WhileMixin:
    """``while`` handling for ``Tracer``."""

    def visit_While(self: "Tracer", node: ast.While) -> None:
        if node.orelse:
            raise self.error(node, "`while ... else` is not supported",
                             "put the else part after the loop (behind a flag set before "
                             "`break` if it must not run after one)")
        node, flags = lower_while_jumps(node)
        if flags is not None and flags.brk:
            self.scope[flags.brk] = False
        after = self.stmt_live
        head = loop_head_live(node, after)
        carried: list[str] = []
        for name in sorted(assigned_names(node.body)):
            value = self.scope.get(name)
            if value is None or isinstance(value, Unavailable) or name not in head:
                continue
            if isinstance(value, (TensorHandle, SharedHandle)):
                raise self.error(node, f"'{name}' holds {sem._describe(value)} and cannot be "
                                       f"rebound inside a loop")
            if isinstance(value, TileHandle) or _is_number(value):
                carried.append(name)
        types = {n: self.scope[n].value.type for n in carried
                 if isinstance(self.scope[n], TileHandle)}
        numbers = [n for n in carried if n not in types]
        if numbers:  # the types Python numbers take: trace the body once and discard it
            trial = {n: ScalarType(sem.python_dtype(self.scope[n])) for n in numbers}
            found = self._trace_loop_body(node, None, {**types, **trial}, carried, probe=True,
                                          live=(after, head))
            types.update({n: found[n] for n in numbers})
        inits = tuple(self._coerce(self.scope[n], types[n], n, node, "before the loop")
                      for n in carried)
        cond = self._trace_while_cond(node, types, carried, has_break=bool(flags and flags.brk))
        body, _ = self._trace_loop_body(node, None, types, carried, probe=False,
                                        live=(after, head))
        results = tuple(self.ctx.builder.fresh(types[n], n) for n in carried)
        self.ctx.builder.emit(WhileOp(results=results, loc=self.loc_of(node), inits=inits,
                                      cond=cond, body=body))
        for n, r in zip(carried, results):
            self.scope[n] = TileHandle(r)

    def _trace_while_cond(self: "Tracer", node: ast.While, types: dict[str, Type],
                          carried: list[str], has_break: bool) -> Any:
        b = self.ctx.builder
        b.push()
        args = tuple(b.fresh(types[n], n) for n in carried)
        outer = self.scope
        self.scope = dict(outer)
        for n, a in zip(carried, args):
            self.scope[n] = TileHandle(a)
        try:
            cond = self._condition(node)
        finally:
            self.scope = outer
        if not isinstance(cond, Handle):
            if cond and not has_break:
                raise self.error(node.test, "this `while` condition is always true and the "
                                            "loop has no `break`",
                                 "give the loop a runtime condition, or `break` out of it")
            cond = sem.constant(bool(cond), bool_)
        b.emit(ops.YieldOp(values=(cond.value,), loc=self.loc_of(node)))
        return b.pop(args)


__all__ = ["WhileMixin"]
