"""``break`` and ``continue`` in loops, rewritten into flags and guards before tracing.

A loop whose body (outside nested loops) holds ``break`` or ``continue`` is
traced as the same loop over a rewritten body:

* ``break`` becomes ``<brk> = True``; the flag starts ``False`` before the loop,
  and the whole body runs under ``if not <brk>:``, so the iterations after a
  ``break`` do nothing (a runtime loop still counts them; an unrolled loop
  drops them when the flag is a compile-time value);
* ``continue`` becomes ``<cnt> = True``; the flag is reset to ``False`` at the
  top of every iteration;
* after a statement that may jump, the rest of its block runs under
  ``if not (<brk> or <cnt>):``.

The flags are ordinary names to the tracer: liveness makes ``<brk>`` loop-carried
and keeps ``<cnt>`` local to an iteration, a jump under a runtime ``if`` makes the
flag a runtime bool yielded by that ``if``, and one under a compile-time ``if``
folds away. Conditions in the tile language are scalars, which every thread of a
block computes alike, so the guards keep the block's threads (and barriers)
together.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

_PREFIXES = ("__tl_break_", "__tl_continue_")


def jumps(stmts: list[ast.stmt]) -> tuple[bool, bool]:
    """Whether ``stmts`` hold a ``break`` / a ``continue`` of the enclosing loop."""
    brk = cnt = False
    todo = list(stmts)
    while todo:
        s = todo.pop()
        if isinstance(s, ast.Break):
            brk = True
        elif isinstance(s, ast.Continue):
            cnt = True
        elif isinstance(s, ast.If):
            todo += s.body + s.orelse
        # a nested loop's jumps are its own; nothing else holds statements
    return brk, cnt


@dataclass(frozen=True)
class Flags:
    """The flag names of one loop (``None`` where it has no jump of that kind)."""

    brk: str | None
    cnt: str | None

    def names(self) -> list[str]:
        return [n for n in (self.brk, self.cnt) if n]


def _name(id_: str, ctx: ast.expr_context, at: ast.AST) -> ast.Name:
    return ast.copy_location(ast.Name(id=id_, ctx=ctx), at)


def _set(flag: str, at: ast.AST) -> ast.Assign:
    value = ast.copy_location(ast.Constant(value=True), at)
    node = ast.Assign(targets=[_name(flag, ast.Store(), at)], value=value)
    return ast.fix_missing_locations(ast.copy_location(node, at))


def _not_jumped(flags: Flags, at: ast.AST) -> ast.expr:
    names = [_name(n, ast.Load(), at) for n in flags.names()]
    test: ast.expr = names[0] if len(names) == 1 else \
        ast.copy_location(ast.BoolOp(op=ast.Or(), values=names), at)
    return ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=test), at)


def _guard(stmts: list[ast.stmt], flags: Flags, at: ast.AST) -> ast.If:
    node = ast.copy_location(ast.If(test=_not_jumped(flags, at), body=stmts, orelse=[]), at)
    node.tl_jump_guard = True  # type: ignore[attr-defined]  (its `else` is the jumped path)
    return node


def is_guard(node: ast.If) -> bool:
    """Whether ``node`` is a guard :func:`rewrite` made (its else path has jumped)."""
    return getattr(node, "tl_jump_guard", False)


def jumped(scope: dict[str, Any]) -> bool:
    """Whether a branch's names say it has certainly taken a ``break``/``continue``."""
    return any(v is True and k.startswith(_PREFIXES) for k, v in scope.items())


def placeholder(value: Any) -> Any:
    """A stand-in for a name on a path that jumped: never read, so 0 of its type does
    (``None`` where the value is not a tile or number: the caller reports it)."""
    from tilelang.frontend.handles import TileHandle
    if isinstance(value, TileHandle):
        return False if value.dtype.is_bool else 0
    if isinstance(value, (bool, int, float)):
        return value
    return None


def rewrite(stmts: list[ast.stmt], flags: Flags) -> list[ast.stmt]:
    """``stmts`` with the loop's jumps turned into flag assignments and guards."""
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.Break):
            out.append(_set(flags.brk, s))
            return out  # the rest of the block cannot run
        if isinstance(s, ast.Continue):
            out.append(_set(flags.cnt, s))
            return out
        if isinstance(s, ast.If) and any(jumps([s])):
            branch = ast.copy_location(ast.If(test=s.test, body=rewrite(s.body, flags) or
                                              [ast.copy_location(ast.Pass(), s)],
                                              orelse=rewrite(s.orelse, flags)), s)
            out.append(branch)
            rest = rewrite(stmts[i + 1:], flags)
            if rest:
                out.append(_guard(rest, flags, stmts[i + 1]))
            return out
        out.append(s)
    return out


def lower_jumps(node: ast.For) -> tuple[ast.For, Flags | None]:
    """``node`` with its body rewritten (a new node; the cached AST is not changed),
    and its flags; ``node`` itself and ``None`` when the body has no jump."""
    brk, cnt = jumps(node.body)
    if not (brk or cnt):
        return node, None
    where = f"{node.lineno}_{node.col_offset}"
    flags = Flags(f"{_PREFIXES[0]}{where}" if brk else None,
                  f"{_PREFIXES[1]}{where}" if cnt else None)
    body = rewrite(node.body, flags)
    if cnt:
        reset = ast.Assign(targets=[_name(flags.cnt, ast.Store(), node)],
                           value=ast.copy_location(ast.Constant(value=False), node))
        body = [ast.fix_missing_locations(ast.copy_location(reset, node))] + body
    if brk:
        body = [_guard(body, Flags(flags.brk, None), node)]
    new = ast.For(target=node.target, iter=node.iter, body=body, orelse=[],
                  type_comment=None)
    return ast.copy_location(new, node), flags


def lower_while_jumps(node: ast.While) -> tuple[ast.While, Flags | None]:
    """Like :func:`lower_jumps` for a ``while``: the break flag joins the condition
    (``while not <brk> and <test>``) instead of guarding the body."""
    brk, cnt = jumps(node.body)
    if not (brk or cnt):
        return node, None
    where = f"{node.lineno}_{node.col_offset}"
    flags = Flags(f"{_PREFIXES[0]}{where}" if brk else None,
                  f"{_PREFIXES[1]}{where}" if cnt else None)
    body = rewrite(node.body, flags)
    test = node.test
    if cnt:
        reset = ast.Assign(targets=[_name(flags.cnt, ast.Store(), node)],
                           value=ast.copy_location(ast.Constant(value=False), node))
        body = [ast.fix_missing_locations(ast.copy_location(reset, node))] + body
    if brk:
        test = ast.copy_location(ast.BoolOp(op=ast.And(), values=[
            _not_jumped(Flags(flags.brk, None), node), node.test]), node.test)
    return ast.copy_location(ast.While(test=test, body=body, orelse=[]), node), flags


__all__ = ["Flags", "is_guard", "jumped", "jumps", "lower_jumps", "lower_while_jumps",
           "placeholder", "rewrite"]
