"""Builds IR bottom-up: fresh SSA names, an insertion stack for nested regions."""

from __future__ import annotations

from tilelang.ir.ops import Op
from tilelang.ir.types import Type
from tilelang.ir.values import Block, Loc, Value


class Builder:
    """Creates values with unique names and collects ops into (nested) blocks.

    Usage: ``push()`` before building a region's body, ``emit(op)`` for each op,
    ``pop(args)`` to close it into a ``Block``.
    """

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._used: set[str] = set(reserved)
        self._counter = 0
        self._stack: list[list[Op]] = [[]]
        self.loc: Loc | None = None

    def fresh(self, type_: Type, hint: str | None = None) -> Value:
        """A new value of ``type_`` whose name is unique in this builder."""
        if hint and hint.isidentifier() and hint not in self._used:
            name = hint
        else:
            base = hint if hint and hint.isidentifier() else ""
            while True:
                name = f"{base}{self._counter}"
                self._counter += 1
                if name not in self._used:
                    break
        self._used.add(name)
        return Value(name, type_)

    def emit(self, op: Op) -> Op:
        """Append ``op`` at the insertion point; return it."""
        self._stack[-1].append(op)
        return op

    def push(self, ops: list[Op] | None = None) -> None:
        """Start collecting the ops of a new region (or resume ``ops``)."""
        self._stack.append(ops if ops is not None else [])

    def pop_ops(self) -> list[Op]:
        """Finish the innermost region, returning its ops to be completed later."""
        return self._stack.pop()

    def pop(self, args: tuple[Value, ...] = ()) -> Block:
        """Finish the innermost region as a block with arguments ``args``."""
        ops = self._stack.pop()
        return Block(args=tuple(args), ops=tuple(ops))

    @property
    def current_ops(self) -> list[Op]:
        return self._stack[-1]

    @property
    def depth(self) -> int:
        return len(self._stack)
