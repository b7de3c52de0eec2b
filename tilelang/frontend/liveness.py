"""Backward liveness of Python names over a kernel's AST statements.

The tracer asks which names are *live* after a statement: read on some path
before they are written again. A runtime loop carries a name only if it is live
at the loop's head (the body reads it before writing it, or it is used after the
loop); a runtime ``if`` yields only the names live after it. Everything else a
loop or branch binds is local to it, so rebinding a name in a later loop, or with
another type, is not an error.

The analysis is conservative (a name counts as read if any expression of a
statement mentions it, comprehension variables included), so it may keep a name
that is dead, never drop one that is live.
"""

from __future__ import annotations

import ast

Names = frozenset[str]


def reads(node: ast.AST | None) -> set[str]:
    """Names an expression (or a statement's expression parts) loads."""
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _targets(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)}


class _Loop:
    """Live sets at a loop's ``break`` (after the loop) and ``continue`` (its head)."""

    def __init__(self, after: Names, head: Names) -> None:
        self.after = after
        self.head = head


def live_in(stmts: list[ast.stmt], live_out: Names, loop: _Loop | None = None) -> Names:
    """The names live before ``stmts`` when ``live_out`` are live after them."""
    live = live_out
    for stmt in reversed(stmts):
        live = stmt_live_in(stmt, live, loop)
    return live


def stmt_live_in(stmt: ast.stmt, live_out: Names, loop: _Loop | None = None) -> Names:
    """The names live before one statement."""
    if isinstance(stmt, ast.Assign):
        killed = set().union(*(_targets(t) for t in stmt.targets))
        # a subscript or attribute target reads its base
        used = reads(stmt.value) | set().union(*(reads(t) for t in stmt.targets))
        return frozenset((live_out - killed) | used)
    if isinstance(stmt, ast.AnnAssign):
        if stmt.value is None:
            return live_out
        return frozenset((live_out - _targets(stmt.target)) | reads(stmt.value))
    if isinstance(stmt, ast.AugAssign):
        return frozenset(live_out | reads(stmt.value) | _targets(stmt.target))
    if isinstance(stmt, ast.If):
        return frozenset(reads(stmt.test) | live_in(stmt.body, live_out, loop)
                         | live_in(stmt.orelse, live_out, loop))
    if isinstance(stmt, (ast.For, ast.While)):
        return loop_head_live(stmt, live_out) | frozenset(
            reads(stmt.iter) if isinstance(stmt, ast.For) else ())
    if isinstance(stmt, ast.Return):
        return frozenset(reads(stmt.value))  # nothing after a return runs
    if isinstance(stmt, ast.Break):
        return loop.after if loop is not None else live_out
    if isinstance(stmt, ast.Continue):
        return loop.head if loop is not None else live_out
    # expressions, asserts, pass and anything the tracer rejects anyway
    return frozenset(live_out | reads(stmt))


def loop_head_live(stmt: ast.For | ast.While, live_out: Names) -> Names:
    """Names live at the top of each iteration of ``stmt`` (a fixpoint).

    Every iteration may be the last (the loop may also run zero times), so what
    is live after the loop is live at its head; a ``for`` target is written
    before the body runs, so it is live only if it is live after the loop.
    """
    target = _targets(stmt.target) if isinstance(stmt, ast.For) else set()
    cond = reads(stmt.test) if isinstance(stmt, ast.While) else set()
    head: Names = frozenset(live_out | cond)
    while True:
        body = live_in(stmt.body, head, _Loop(live_out, head))
        new = frozenset(live_out | cond | (body - target))
        if new == head:
            return head
        head = new | head


def suffix_live(stmts: list[ast.stmt], live_out: Names,
                loop: _Loop | None = None) -> list[Names]:
    """``out[i]``: the names live after ``stmts[i]``."""
    out: list[Names] = [live_out] * len(stmts)
    live = live_out
    for i in range(len(stmts) - 1, -1, -1):
        out[i] = live
        live = stmt_live_in(stmts[i], live, loop)
    return out


__all__ = ["live_in", "loop_head_live", "reads", "stmt_live_in", "suffix_live"]
