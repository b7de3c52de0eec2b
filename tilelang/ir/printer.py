"""Prints tile IR as text in one generic form for every op.

The form of an op is::

    %r0, %r1 = op.name(operand = %v, list = [%a, %b], optional = none) {attr = 1}
               : type0, type1 (region: ^(%arg: i32) { ... }) loc("file.py":12:4)

Fields come from ``ops.op_fields``, so no op has printing code of its own and
a new op class prints with no change here. ``parser.parse_module`` reads the
text back to an equal module; the grammar is ``grammar.lark``.
"""

from __future__ import annotations

import re
from typing import Any

from tilelang.errors import IRError
from tilelang.ir.ops import FieldKind, Op, op_fields
from tilelang.ir.types import DType, ScalarType, SharedType, TensorType, TileType, Type
from tilelang.ir.values import Block, Function, Loc, Module, Value

_INDENT = "  "

# Must agree with the VALUE/FUNC and NAME terminals of grammar.lark.
_BARE_VALUE = re.compile(r"\w[\w.]*")
_BARE_KEY = re.compile(r"[A-Za-z_][\w.]*")

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(s: str) -> str:
    """``s`` as a double-quoted string literal of the IR text.

    Non-printable characters are escaped so that a string never spans lines
    and the parser's line/column numbers stay meaningful.
    """
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            cp = ord(ch)
            out.append(f"\\x{cp:02x}" if cp < 0x100 else
                       f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def _value_name(v: Value) -> str:
    name = v.name
    return f"%{name}" if _BARE_VALUE.fullmatch(name) else f"%{quote(name)}"


def _key(k: str) -> str:
    # Keywords need no quotes: where a key may stand no keyword may, and the
    # contextual lexer reads "tensor" there as a name.
    return k if _BARE_KEY.fullmatch(k) else quote(k)


def print_type(t: Type) -> str:
    """The text of a value type: ``i32``, ``tile<64x32xbf16>``, ``shared<...>``,
    ``tensor<bf16, 2>``."""
    if isinstance(t, ScalarType):
        return t.dtype.name
    if isinstance(t, (TileType, SharedType)):
        kind = "tile" if isinstance(t, TileType) else "shared"
        if not t.shape:
            raise IRError(f"a 0-d {kind} has no text form; scalars are ScalarType")
        text = f"{'x'.join(str(s) for s in t.shape)}x{t.dtype.name}"
        if isinstance(t, TileType) and t.layout:
            text += f", layout = {quote(t.layout)}"
        if isinstance(t, SharedType) and t.swizzle:
            text += f", swizzle = {quote(t.swizzle)}"
        return f"{kind}<{text}>"
    if isinstance(t, TensorType):
        return f"tensor<{t.dtype.name}, {t.rank}{''.join(', ' + f for f in t.facts)}>"
    raise IRError(f"not an IR type: {t!r}")


def print_attr(a: Any) -> str:
    """The text of an attribute value (int, float, bool, str, None, DType, tuple)."""
    # bool before int: True is an int, and must not print as 1.
    if a is True:
        return "true"
    if a is False:
        return "false"
    if a is None:
        return "none"
    if isinstance(a, int):
        return int.__repr__(a)
    if isinstance(a, float):
        # repr round-trips exactly and spells inf, -inf and nan as the grammar does;
        # float.__repr__ so that subclasses (numpy scalars) print as plain floats.
        return float.__repr__(a)
    if isinstance(a, str):
        return quote(a)
    if isinstance(a, DType):
        return a.name
    if isinstance(a, tuple):
        return "[" + ", ".join(print_attr(x) for x in a) + "]"
    raise IRError(f"attribute value {a!r} of type {type(a).__name__} has no text form")


def print_loc(loc: Loc) -> str:
    """``loc("file.py":12:4)``."""
    return f"loc({quote(loc.file)}:{loc.line}:{loc.col})"


def _params(values: tuple[Value, ...]) -> str:
    return ", ".join(f"{_value_name(v)}: {print_type(v.type)}" for v in values)


def _print_op(op: Op, indent: str, out: list[str]) -> None:
    """Append the lines of ``op`` to ``out``; the first starts with ``indent``."""
    operand_parts: list[str] = []
    attr_parts: list[str] = []
    regions: list[tuple[str, Block]] = []
    for name, kind in op_fields(type(op)):
        v = getattr(op, name)
        if kind is FieldKind.OPERAND:
            operand_parts.append(f"{_key(name)} = {_value_name(v)}")
        elif kind is FieldKind.OPT_OPERAND:
            operand_parts.append(f"{_key(name)} = {'none' if v is None else _value_name(v)}")
        elif kind is FieldKind.OPERANDS:
            operand_parts.append(f"{_key(name)} = [{', '.join(_value_name(x) for x in v)}]")
        elif kind is FieldKind.ATTR:
            attr_parts.append(f"{_key(name)} = {print_attr(v)}")
        else:
            regions.append((name, v))
    head = [indent]
    if op.results:
        head.append(", ".join(_value_name(r) for r in op.results) + " = ")
    head.append(f"{op.NAME}({', '.join(operand_parts)})")
    if attr_parts:
        head.append(" {" + ", ".join(attr_parts) + "}")
    if op.results:
        head.append(" : " + ", ".join(print_type(r.type) for r in op.results))
    tail = f" {print_loc(op.loc)}" if op.loc is not None else ""
    if not regions:
        out.append("".join(head) + tail)
        return
    head.append(" (")
    inner = indent + _INDENT
    for i, (name, block) in enumerate(regions):
        if i:
            head.append(", ")
        head.append(f"{_key(name)}: ")
        if block.args:
            head.append(f"^({_params(block.args)}) ")
        head.append("{")
        out.append("".join(head))
        for o in block.ops:
            _print_op(o, inner, out)
        head = [indent, "}"]
    out.append("".join(head) + ")" + tail)


def print_op(op: Op, indent: int = 0) -> str:
    """The text of one op (several lines if it has regions), ``indent`` levels deep."""
    out: list[str] = []
    _print_op(op, _INDENT * indent, out)
    return "\n".join(out)


def print_block_ops(block: Block, indent: int = 0) -> str:
    """The ops of a block, one per line (nested regions indented)."""
    out: list[str] = []
    for op in block.ops:
        _print_op(op, _INDENT * indent, out)
    return "\n".join(out)


def _print_function(fn: Function, out: list[str]) -> None:
    head = [f"{_INDENT}func @{fn.name if _BARE_VALUE.fullmatch(fn.name) else quote(fn.name)}"
            f"({_params(fn.params)})"]
    if fn.attrs:
        head.append(" attributes {"
                    + ", ".join(f"{_key(k)} = {print_attr(v)}" for k, v in fn.attrs) + "}")
    if fn.loc is not None:
        head.append(" " + print_loc(fn.loc))
    head.append(" {")
    out.append("".join(head))
    # The body's arguments are the parameters (a verifier invariant), so they
    # are not printed twice.
    for op in fn.body.ops:
        _print_op(op, _INDENT * 2, out)
    out.append(_INDENT + "}")


def print_function(fn: Function) -> str:
    """The text of one function (``func @name(...) {...}``), indented one level."""
    out: list[str] = []
    _print_function(fn, out)
    return "\n".join(out)


def print_module(m: Module) -> str:
    """The text of a whole module; ``parse_module`` reads it back to an equal module."""
    out = ["module {"]
    for fn in m.functions:
        _print_function(fn, out)
    out.append("}")
    return "\n".join(out) + "\n"


__all__ = ["print_module", "print_function", "print_op", "print_type", "print_attr",
           "print_loc", "print_block_ops", "quote"]
