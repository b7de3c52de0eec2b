"""SSA values, blocks, functions and modules of the IR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from tilelang.errors import SourceLoc
from tilelang.ir.types import DType, Type

if TYPE_CHECKING:
    from tilelang.ir.ops import Op


@dataclass(frozen=True)
class Value:
    """An SSA value: defined once (by an op result or a block argument)."""

    name: str
    type: Type

    def __str__(self) -> str:
        return f"%{self.name}"


# Source location of an op in the user's Python file (file, line, col).
Loc = SourceLoc


# Attribute values: what an op may carry besides its operands.
Attr = Union[int, float, bool, str, None, DType, tuple]


@dataclass(frozen=True)
class Block:
    """A straight-line list of ops with block arguments (a region's body)."""

    args: tuple[Value, ...]
    ops: tuple["Op", ...]


@dataclass(frozen=True)
class Function:
    """A kernel: parameters (tensors and runtime scalars), a body and attributes.

    ``attrs`` is a sorted tuple of ``(key, value)`` pairs, e.g. ``num_warps``
    and the constexpr values the kernel was specialized for.
    """

    name: str
    params: tuple[Value, ...]
    body: Block
    attrs: tuple[tuple[str, Attr], ...] = ()
    loc: Loc | None = None

    def attr(self, key: str, default: Attr = None) -> Attr:
        for k, v in self.attrs:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Module:
    """A compilation unit: one or more functions (after inlining, one kernel)."""

    functions: tuple[Function, ...]

    def function(self, name: str | None = None) -> Function:
        """The function called ``name``, or the only one."""
        if name is None:
            if len(self.functions) != 1:
                raise KeyError("module has several functions; name one")
            return self.functions[0]
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)
