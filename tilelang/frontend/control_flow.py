"""Loops and branches of the AST tracer (mixed into ``Tracer``).

Loop-carried values come from liveness (``liveness.py``): a name bound before a
runtime loop and reassigned in its body is carried only if it is live at the
loop's head (the body reads it before writing it, or it is used after the loop);
its type must not change across an iteration. Python numbers that a carried
name holds become runtime values; their type is found by tracing the body once
and discarding the result. Every other name the body binds is local to the
body. Branch results: a runtime ``if`` yields the names either branch rebinds
that are live after it; a name bound in only one branch is unavailable after it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from tilelang.frontend import semantic as sem
from tilelang.frontend.handles import Handle, SharedHandle, TensorHandle, TileHandle
from tilelang.frontend.jumps import is_guard, jumped, jumps, lower_jumps, placeholder
from tilelang.frontend.liveness import _Loop, loop_head_live
from tilelang.ir import ops
from tilelang.ir.types import ScalarType, TileType, Type, i32, i64

if TYPE_CHECKING:
    from tilelang.frontend.ast_to_ir import Tracer


def assigned_names(stmts: list[ast.stmt]) -> set[str]:
    """Names a statement list (re)binds, including in nested blocks."""
    out: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float))


def _missing(x: Any) -> bool:
    return x is None or isinstance(x, Unavailable)


def _type_name(x: Any) -> str:
    return str(x.value.type) if isinstance(x, Handle) else f"the constant {x!r}"


class Unavailable:
    """A name that exists in Python's scoping but not in the kernel at this point."""

    def __init__(self, reason: str, hint: str) -> None:
        self.reason = reason
        self.hint = hint


class ReturnSignal:
    """Marks that a statement list ended in ``return`` (possibly with a value)."""

    def __init__(self, value: Any) -> None:
        self.value = value


class ControlFlowMixin:
    """``for`` and ``if`` handling for ``Tracer``."""

    def _visit_block(self: "Tracer", stmts: list[ast.stmt], rest: tuple[ast.stmt, ...],
                     live_out: frozenset[str], loop: Any = None, in_loop: bool = False) -> Any:
        """Trace a nested block whose end has ``live_out`` live (``loop``: its loop)."""
        saved = (self.block_live, self.loop_live, self.stmt_live)
        self.block_live = live_out
        if in_loop:
            self.loop_live = loop
        try:
            return self.visit_stmts(stmts, rest)
        finally:
            self.block_live, self.loop_live, self.stmt_live = saved

    # -- for -----------------------------------------------------------------
    def visit_For(self: "Tracer", node: ast.For) -> None:
        from tilelang.frontend import language
        if node.orelse:
            raise self.error(node, "`for ... else` is not supported")
        it = node.iter
        if isinstance(it, ast.Call) and self.visit(it.func) is range:
            if it.keywords:
                raise self.error(it, "range() takes positional bounds only")
            bounds = self._elements(it.args)
            if not 1 <= len(bounds) <= 3:
                raise self.error(it, "range() takes 1 to 3 bounds")
            return self._runtime_loop(self._with_jumps(node), bounds, "range", 1)
        iterable = self.visit(it)
        if isinstance(iterable, language.pipeline):
            if any(jumps(node.body)):
                raise self.error(node, "`break`/`continue` in a tl.pipeline loop is not "
                                       "supported", "loop with range(n), or guard the rest "
                                       "of the body with `if`")
            return self._runtime_loop(node, list(iterable.bounds), "pipeline", iterable.stages)
        if isinstance(iterable, language.static_range):
            return self._unrolled_loop(self._with_jumps(node), iterable.range)
        if isinstance(iterable, (tuple, list)):
            return self._unrolled_loop(self._with_jumps(node), iterable)
        raise self.error(it, f"cannot loop over {sem._describe(iterable)}",
                         "loop with range(n), tl.static_range(n) or tl.pipeline(n, stages=S)")

    def _with_jumps(self: "Tracer", node: ast.For) -> ast.For:
        """``node`` with ``break``/``continue`` rewritten into flags (``jumps.py``)."""
        new, flags = lower_jumps(node)
        if flags is not None and flags.brk:
            self.scope[flags.brk] = False  # nothing has broken out before the loop
        return new

    def _unrolled_loop(self: "Tracer", node: ast.For, items: Any) -> None:
        after = self.stmt_live
        head = loop_head_live(node, after)
        self.loop_depth += 1
        try:
            for item in items:
                self.assign(node.target, item)
                self._visit_block(node.body, (), head, _Loop(after, head), in_loop=True)
        finally:
            self.loop_depth -= 1

    def _loop_bounds(self: "Tracer", node: ast.For, bounds: list[Any]) -> tuple:
        if len(bounds) == 1:
            bounds = [0, bounds[0], 1]
        elif len(bounds) == 2:
            bounds = [bounds[0], bounds[1], 1]
        for b in bounds:
            if isinstance(b, TileHandle) and (not b.is_scalar or b.dtype.is_float):
                raise self.error(node.iter, f"loop bounds must be integer scalars, got "
                                            f"{b.value.type}")
            if not isinstance(b, TileHandle) and (not isinstance(b, int) or isinstance(b, bool)):
                raise self.error(node.iter, f"loop bounds must be integers, got {b!r}")
        if isinstance(bounds[2], int) and bounds[2] == 0:
            raise self.error(node.iter, "range() step must not be zero")
        wide = any(isinstance(b, TileHandle) and b.dtype.bits == 64 for b in bounds)
        dtype = i64 if wide else i32
        return tuple(sem.cast(sem.to_handle(b, dtype), dtype).value for b in bounds)

    def _runtime_loop(self: "Tracer", node: ast.For, bounds: list[Any], kind: str,
                      stages: int) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.error(node.target, "a runtime loop variable must be a single name")
        lower, upper, step = self._loop_bounds(node, bounds)
        after = self.stmt_live
        head = loop_head_live(node, after)
        reassigned = assigned_names(node.body)
        carried: list[str] = []
        for name in sorted(reassigned):
            value = self.scope.get(name)
            if name == node.target.id or value is None or isinstance(value, Unavailable) \
                    or name not in head:
                continue  # local to the body (or never bound before the loop)
            if isinstance(value, (TensorHandle, SharedHandle)):
                raise self.error(node, f"'{name}' holds {sem._describe(value)} and cannot be "
                                       f"rebound inside a loop")
            if isinstance(value, TileHandle) or _is_number(value):
                carried.append(name)
        types = {n: self.scope[n].value.type for n in carried
                 if isinstance(self.scope[n], TileHandle)}
        numbers = [n for n in carried if n not in types]
        if numbers:  # find the types Python numbers take by tracing the body once
            trial = {n: ScalarType(sem.python_dtype(self.scope[n])) for n in numbers}
            found = self._trace_loop_body(node, lower, {**types, **trial}, carried, probe=True,
                                          live=(after, head))
            types.update({n: found[n] for n in numbers})
        inits = tuple(self._coerce(self.scope[n], types[n], n, node, "before the loop")
                      for n in carried)
        body, _ = self._trace_loop_body(node, lower, types, carried, probe=False,
                                        live=(after, head))
        results = tuple(self.ctx.builder.fresh(types[n], n) for n in carried)
        self.ctx.builder.emit(ops.ForOp(results=results, loc=self.loc_of(node), kind=kind,
                                        stages=stages, lower=lower, upper=upper, step=step,
                                        inits=inits, body=body))
        for n, r in zip(carried, results):
            self.scope[n] = TileHandle(r)

    def _trace_loop_body(self: "Tracer", node: ast.For | ast.While, lower: Any,
                         types: dict[str, Type], carried: list[str], probe: bool,
                         live: tuple[frozenset[str], frozenset[str]]) -> Any:
        """The body region of a ``for`` (arguments ``(iv, *carried)``) or of a ``while``
        (``lower`` is ``None``; arguments ``carried``)."""
        b = self.ctx.builder
        b.push()
        target = node.target.id if isinstance(node, ast.For) else None
        # the probe trace is discarded: leave the readable names to the real one
        ivs = (b.fresh(lower.type, None if probe else target),) if target else ()
        args = tuple(b.fresh(types[n], None if probe else n) for n in carried)
        outer = self.scope
        self.scope = dict(outer)
        if target:
            self.scope[target] = TileHandle(ivs[0])
        for n, a in zip(carried, args):
            self.scope[n] = TileHandle(a)
        after, head = live
        self.loop_depth += 1
        try:
            self._visit_block(node.body, (), head, _Loop(after, head), in_loop=True)
            inner = self.scope
        finally:
            self.loop_depth -= 1
            self.scope = outer
        if probe:
            b.pop_ops()
            return {n: (inner[n].value.type if isinstance(inner[n], TileHandle)
                        else ScalarType(sem.python_dtype(inner[n]))) for n in carried}
        line = self.loc_of(node).line
        for n in sorted(assigned_names(node.body) - set(carried) - {target}):
            before = outer.get(n)
            if before is None or isinstance(before, Unavailable):
                outer[n] = Unavailable(f"is defined inside the loop at line {line} and "
                                       f"cannot be used after it",
                                       "assign it before the loop so that the loop carries it")
            elif inner.get(n) is before:
                continue  # the body left the name as it was
            elif n in head:  # live, but not a value a loop can carry
                raise self.error(node, f"'{n}' holds a compile-time value "
                                       f"({sem._describe(before)}) that the loop changes",
                                 "make it a runtime value before the loop")
            else:  # dead after the loop (liveness): the body's binding was local
                outer[n] = Unavailable(f"is rebound inside the loop at line {line} and "
                                       f"cannot be used after it",
                                       "assign it again after the loop")
        yields = tuple(self._coerce(inner[n], types[n], n, node, "after an iteration")
                       for n in carried)
        b.emit(ops.YieldOp(values=yields, loc=self.loc_of(node)))
        return b.pop(ivs + args), None

    def _coerce(self: "Tracer", value: Any, want: Type, name: str, node: ast.AST,
                when: str) -> Any:
        """``value`` as an IR value of type ``want`` (Python numbers convert)."""
        if _is_number(value):
            h = sem.cast(sem.constant(value, want.dtype if not isinstance(value, float) or
                                      want.dtype.is_float else None), want.dtype)
            if isinstance(want, TileType):
                h = sem.broadcast_to(h, want.shape)
            return h.value
        if isinstance(value, TileHandle) and value.value.type == want:
            return value.value
        raise self.error(
            node, f"loop-carried variable '{name}' is {want} before the loop but "
                  f"{_type_name(value)} {when}",
            "a variable updated in a loop must keep its shape and dtype: convert with "
            ".to(dtype) or create it with the final shape (e.g. tl.zeros((M, N), tl.f32))")

    # -- if ------------------------------------------------------------------
    def _condition(self: "Tracer", node: ast.If) -> Any:
        cond = self.visit(node.test)
        if isinstance(cond, TileHandle):
            if not cond.is_scalar:
                raise self.error(node.test, f"an `if` condition must be a scalar, got "
                                            f"{cond.value.type}",
                                 "for elementwise choices use tl.where(cond, x, y)")
            if not cond.dtype.is_bool:
                cond = sem.binary("ne", cond, 0)
        elif isinstance(cond, Handle):
            raise self.error(node.test, f"{sem._describe(cond)} cannot be a condition")
        return cond

    def visit_If(self: "Tracer", node: ast.If) -> None:
        cond = self._condition(node)
        if not isinstance(cond, Handle):
            self._visit_block(node.body if cond else node.orelse, (), self.stmt_live)
            return
        outer = self.scope
        live_after = self.stmt_live
        then_ops, then_scope = self._trace_branch(node.body, (), live_after)
        else_ops, else_scope = self._trace_branch(node.orelse, (), live_after)
        names, types = [], []
        line = self.loc_of(node).line
        # a path that has taken a `break`/`continue` (jumps.py) runs nothing more of the
        # iteration, so what it leaves in a name no one reads: any value of the type will do
        then_gone, else_gone = jumped(then_scope), is_guard(node) or jumped(else_scope)
        for n in sorted(set(then_scope) | set(else_scope)):
            t = then_scope.get(n, outer.get(n))
            e = else_scope.get(n, outer.get(n))
            if t is outer.get(n) and e is outer.get(n):
                continue
            if then_gone and _missing(t) and not _missing(e):
                t = then_scope[n] = placeholder(e)
            elif else_gone and _missing(e) and not _missing(t):
                e = else_scope[n] = placeholder(t)
            if n not in live_after:  # dead after the `if` (liveness): nothing to yield
                outer[n] = Unavailable(f"is rebound in a branch of the `if` at line {line} "
                                       f"and cannot be used after it",
                                       "assign it again after the `if`")
                continue
            if t is None or e is None or isinstance(t, Unavailable) or isinstance(e, Unavailable):
                outer[n] = Unavailable(f"is only defined in one branch of the `if` at line "
                                       f"{line}", "assign it in both branches, or before the `if`")
                continue
            if not isinstance(t, Handle) and not isinstance(e, Handle) and t == e \
                    and type(t) is type(e):
                outer[n] = t
                continue
            names.append(n)
            types.append(self._branch_type(n, t, e, node))
        then_block = self._close_branch(then_ops, then_scope, names, types, outer, node)
        else_block = self._close_branch(else_ops, else_scope, names, types, outer, node)
        results = tuple(self.ctx.builder.fresh(t, n) for n, t in zip(names, types))
        self.ctx.builder.emit(ops.IfOp(results=results, loc=self.loc_of(node), cond=cond.value,
                                       then=then_block, orelse=else_block))
        for n, r in zip(names, results):
            outer[n] = TileHandle(r)

    def visit_if_with_return(self: "Tracer", node: ast.If, rest: tuple[ast.stmt, ...]) -> Any:
        """An ``if`` that returns on some path: the rest of the function joins each branch."""
        cond = self._condition(node)
        if not isinstance(cond, Handle):
            return self.visit_stmts(node.body if cond else node.orelse, rest)
        if self.loop_depth:
            raise self.error(node, "`return` inside a loop is not supported",
                             "guard the rest of the loop body with `if` instead")
        if self.is_helper:
            raise self.error(node, "`return` under a runtime `if` in a @tl.func is not "
                                   "supported", "compute both values and pick with tl.where")
        blocks = []
        for stmts in (node.body, node.orelse):
            ops_list, _ = self._trace_branch(stmts, rest, self.block_live)
            self.ctx.builder.push(ops_list)
            self.ctx.builder.emit(ops.YieldOp(loc=self.loc_of(node)))
            blocks.append(self.ctx.builder.pop())
        self.ctx.builder.emit(ops.IfOp(loc=self.loc_of(node), cond=cond.value,
                                       then=blocks[0], orelse=blocks[1]))
        return ReturnSignal(None)

    def _trace_branch(self: "Tracer", stmts: list[ast.stmt], rest: tuple[ast.stmt, ...],
                      live_out: frozenset[str]) -> tuple[list, dict]:
        outer = self.scope
        self.scope = dict(outer)
        self.ctx.builder.push()
        try:
            self._visit_block(stmts, rest, live_out)
            return self.ctx.builder.pop_ops(), self.scope
        finally:
            self.scope = outer

    def _branch_type(self: "Tracer", name: str, t: Any, e: Any, node: ast.If) -> Type:
        for v in (t, e):
            if isinstance(v, (TensorHandle, SharedHandle)):
                raise self.error(node, f"'{name}' is rebound to {sem._describe(v)} in a runtime "
                                       f"branch; only tiles and scalars can be")
        ht = t.value.type if isinstance(t, TileHandle) else None
        he = e.value.type if isinstance(e, TileHandle) else None
        if ht is not None and he is not None and ht != he:
            raise self.error(node, f"'{name}' is {ht} in the `if` branch but {he} in the "
                                   f"`else` branch",
                             "both branches must give a variable the same shape and dtype")
        if ht or he:
            return ht or he
        return ScalarType(sem.promote_dtypes(sem.python_dtype(t), sem.python_dtype(e)))

    def _close_branch(self: "Tracer", ops_list: list, scope: dict, names: list[str],
                      types: list[Type], outer: dict, node: ast.If) -> Any:
        b = self.ctx.builder
        b.push(ops_list)
        values = tuple(self._coerce(scope.get(n, outer.get(n)), t, n, node, "in a branch")
                       for n, t in zip(names, types))
        b.emit(ops.YieldOp(values=values, loc=self.loc_of(node)))
        return b.pop()


__all__ = ["ControlFlowMixin", "assigned_names"]
