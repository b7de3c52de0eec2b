"""The HIP emitter: the state of one kernel's C++ as the handlers write it.

``HipEmitter`` names values (C identifiers, never a reserved word), declares and
binds them, keeps ``#line`` directives in step with the Python source, and hands
each op to its handler (``hip_ops.HANDLERS``, ``hip_thread.HANDLERS``); ``hip.py``
drives it over a function.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from tilelang.codegen.amd import hip_types as ht
from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir.types import DType
from tilelang.ir.values import Block, Function, Loc, Value

__all__ = ["SHARED_SYMBOL", "HipEmitter", "HipHandler", "c_string"]


SHARED_SYMBOL = "tl_smem"


# Names a parameter may not keep in C++ (keywords, HIP builtins, our own symbols).
_RESERVED = frozenset("""
alignas alignof and asm auto bool break case catch char class const constexpr continue
decltype default delete do double else enum explicit export extern false float for friend
goto if inline int long mutable namespace new noexcept not nullptr operator or private
protected public register return short signed sizeof static struct switch template this
throw true try typedef typeid typename union unsigned using virtual void volatile while xor
threadIdx blockIdx blockDim gridDim warpSize printf
""".split())


HipHandler = Callable[["HipEmitter", Any], None]


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8 bytes, escaped)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


class HipEmitter:
    """Emits one thread-IR function as HIP C++ (see the module docstring).

    Each IR value maps to a C++ expression: a ``const`` local named after the value,
    a literal for ``tl.constant``, or a parameter. Handlers (``hip_ops.HANDLERS``)
    append statements with ``line`` and bind results with ``define`` / ``bind``.
    """

    def __init__(self, fn: Function, handlers: dict[type, HipHandler]) -> None:
        self.fn = fn
        self.handlers = handlers
        self.warp_size = int(fn.attr("warp_size", 32))
        self.lines: list[str] = []
        self.depth = 1
        self.loc: Loc | None = fn.loc
        self.exprs: dict[str, str] = {}
        self.consts: dict[str, int | float | bool] = {}
        self.typedefs: dict[str, str] = {}
        self.used_names: set[str] = set()
        # (file, line number) the compiler gives the next physical line, if known
        self._next_line: tuple[str, int] | None = None
        self.tensor_args: dict[str, tuple[str, list[str], list[str]]] = {}
        self.prologue: list[str] = []
        self._temps = 0

    # -- names and values -----------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A C++ identifier not used yet, derived from ``hint``."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint)
        if not base or base[0].isdigit() or base in _RESERVED:
            base = "v" + base if base and base[0].isdigit() else base + "_"
        name, k = base, 1
        while name in self.used_names:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    def value_name(self, v: Value) -> str:
        hint = v.name if v.name[0].isdigit() else "v_" + v.name
        return self.fresh(hint)

    def temp(self, hint: str = "t") -> str:
        self._temps += 1
        return self.fresh(f"{hint}{self._temps}")

    def val(self, v: Value) -> str:
        try:
            return self.exprs[v.name]
        except KeyError:
            raise self.error(f"%{v.name} is used before it is defined", "a bug in a pass") from None

    def bind(self, v: Value, expr: str) -> None:
        self.exprs[v.name] = expr

    def define(self, v: Value, expr: str, dtype: DType | None = None) -> str:
        """Declare ``const T name = expr;`` for ``v`` and bind it."""
        dt = dtype or v.type.dtype
        name = self.value_name(v)
        self.line(f"const {self.ctype(dt)} {name} = {expr};")
        self.bind(v, name)
        return name

    def declare(self, v: Value, init: str | None = None) -> str:
        """Declare a mutable local for ``v`` (loop-carried values, if results, loads)."""
        name = self.value_name(v)
        self.line(f"{self.ctype(v.type.dtype)} {name}" + (f" = {init};" if init else ";"))
        self.bind(v, name)
        return name

    def const_of(self, v: Value) -> int | float | bool | None:
        return self.consts.get(v.name)

    def ctype(self, dt: DType) -> str:
        try:
            return ht.ctype(dt)
        except CompileError as e:
            raise e.with_context(kernel=self.fn.name, loc=self.loc) from None

    def vector_type(self, elem: str, n: int) -> str:
        name, line = ht.vector_typedef(elem, n)
        self.typedefs[name] = line
        return name

    def error(self, message: str, hint: str | None = None) -> CompileError:
        return CompileError(message, kernel=self.fn.name, loc=self.loc, hint=hint)

    # -- text ---------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """Append one statement line. Where the line number the compiler would give it
        is not its op's Python line, a ``#line`` directive comes first, so every
        statement, and every diagnostic about it, carries its exact source line."""
        loc = self.loc
        if loc is not None and loc.line > 0:
            if self._next_line != (loc.file, loc.line):
                self.lines.append(f"#line {loc.line} {c_string(loc.file)}")
            self._next_line = (loc.file, loc.line + 1)
        elif self._next_line is not None:
            self._next_line = (self._next_line[0], self._next_line[1] + 1)
        self.lines.append("  " * self.depth + text)

    def open(self, text: str) -> None:
        self.line(text)
        self.depth += 1

    def close(self, text: str = "}") -> None:
        self.depth -= 1
        self.line(text)

    # -- walking ------------------------------------------------------------------------
    def emit_block(self, block: Block) -> list[str] | None:
        """Emit ``block``'s ops; its ``tl.yield`` expressions, or None if it returned."""
        for op in block.ops:
            if isinstance(op, o.YieldOp):
                self._set_loc(op.loc)
                return [self.val(v) for v in op.values]
            self.emit_op(op)
            if isinstance(op, o.ReturnOp):
                return None
        return []

    def emit_op(self, op: o.Op) -> None:
        self._set_loc(op.loc)
        handler = self.handlers.get(type(op))
        if handler is None:
            raise self.error(f"the HIP code generator has no lowering for {op.NAME}",
                             "it takes thread IR for AMD: compile for gfx90a or gfx942 "
                             "(cp.async, ldmatrix and mma.sync are NVIDIA-only)")
        handler(self, op)

    def _set_loc(self, loc: Loc | None) -> None:
        if loc is not None:
            self.loc = loc
