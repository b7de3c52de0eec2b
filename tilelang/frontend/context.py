"""The tracing context: the builder and source position the language functions emit into."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Iterator
from contextlib import contextmanager

from tilelang.errors import CompileError, SourceLoc
from tilelang.ir.builder import Builder
from tilelang.ir.ops import Op


@dataclass
class TraceContext:
    """State shared by the AST visitor and the ``tl.*`` functions while tracing one kernel."""

    kernel: str
    builder: Builder
    loc: SourceLoc | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    def emit(self, op_cls: type[Op], result_types: tuple = (), hint: str | None = None,
             **fields: Any) -> Op:
        """Create ``op_cls`` with fresh results of ``result_types`` at the current location."""
        results = tuple(self.builder.fresh(t, hint) for t in result_types)
        return self.builder.emit(op_cls(results=results, loc=self.loc, **fields))


_CURRENT: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "tilelang_trace", default=None)


def current(name: str = "this function") -> TraceContext:
    """The active tracing context; a clear error when called outside a kernel."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise CompileError(
            f"{name} can only be used inside a @tl.kernel or @tl.func function",
            hint="call the kernel with kernel[grid](...) instead of calling tl.* directly")
    return ctx


@contextmanager
def tracing(ctx: TraceContext) -> Iterator[TraceContext]:
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
