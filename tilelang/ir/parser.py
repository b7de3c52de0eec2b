"""Parses the text form of the tile IR (see ``printer.py``) with ``grammar.lark``.

One generic op form for every op: the op name selects the class in
``ops.OPS_BY_NAME`` and field names are matched against ``ops.op_fields``, so
a new op class parses with no change here. The parser checks syntax, field
names and kinds and that every used value is defined in scope; it does not
verify ops (``verify_module`` does), so pass and verifier tests can write
broken IR on purpose.

LALR with the transformer embedded: ops are built during the parse, with no
parse tree, which keeps a 300-op module well under a tenth of a second.
Callbacks run in source order, so a value is looked up when its use is
reduced, after its definition was.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tilelang.errors import IRError, SourceLoc
from tilelang.ir.ops import OPS_BY_NAME, FieldKind, Op, op_fields
from tilelang.ir.types import (
    DTYPES_BY_NAME, TENSOR_FACTS, DType, ScalarType, SharedType, TensorType, TileType, Type,
)
from tilelang.ir.values import Block, Function, Module, Value


class IRParseError(IRError):
    """Malformed IR text; ``line`` and ``column`` (1-based) point at the bad text."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 **kwargs: Any) -> None:
        self.line = line
        self.column = column
        super().__init__(message, **kwargs)

    def with_context(self, *, kernel: str | None = None,
                     loc: SourceLoc | None = None) -> "IRParseError":
        return IRParseError(self.message, kernel=self.kernel or kernel, loc=self.loc or loc,
                            hint=self.hint, line=self.line, column=self.column)


# ---------------------------------------------------------------------------
# per-parse state
# ---------------------------------------------------------------------------

class _State:
    """What the callbacks of one parse share: the source and the value scopes."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Innermost scope last; a region's values are invisible after it.
        self.scopes: list[dict[str, Value]] = []


# The Lark object (and its embedded transformer) is built once and shared, so
# the state of the parse in progress is per thread.
_tls = threading.local()


def _st() -> _State:
    return _tls.state


def _error(message: str, line: int | None, column: int | None) -> IRParseError:
    if line is None or column is None:
        return IRParseError(message)
    text = f"line {line}, column {column}: {message}"
    # split on "\n" only: lark counts lines that way (splitlines would also
    # break at \x0c, \u2028, ... and show the wrong line)
    lines = _st().text.split("\n") if getattr(_tls, "state", None) else []
    if 0 < line <= len(lines):
        text += f"\n    {lines[line - 1].rstrip()}\n    {' ' * (column - 1)}^"
    return IRParseError(text, line=line, column=column)


def _at(tok: Token, message: str) -> IRParseError:
    return _error(message, tok.line, tok.column)


_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}


def _unquote(tok: Token, s: str) -> str:
    """The value of the string literal ``s`` (with its quotes), as ``printer.quote`` wrote it."""
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "xuU" and len(e) > 1:
            return chr(int(e[1:], 16))
        if e in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[e]
        raise _at(tok, f"unknown escape \\{e} in string")
    body = s[1:-1]
    return _ESCAPE_RE.sub(sub, body) if "\\" in body else body


def _name(tok: Token) -> str:
    """A value's or function's name without its sigil (``%`` / ``@``), unquoted."""
    s = str(tok)[1:]
    return _unquote(tok, s) if s.startswith('"') else s


def _dtype(tok: Token) -> DType:
    d = DTYPES_BY_NAME.get(str(tok))
    if d is None:
        raise _at(tok, f"unknown dtype {str(tok)!r}; dtypes are {', '.join(DTYPES_BY_NAME)}")
    return d


def _int(tok: Token, what: str) -> int:
    s = str(tok)
    if not re.fullmatch(r"-?\d+", s):
        raise _at(tok, f"{what} must be an integer, got {s}")
    return int(s)


_SHAPE_RE = re.compile(r"((?:\d+x)+)(\w+)")


def _shape(tok: Token) -> tuple[tuple[int, ...], DType]:
    m = _SHAPE_RE.fullmatch(str(tok))
    assert m is not None  # the SHAPE terminal has this form
    dims = tuple(int(d) for d in m.group(1)[:-1].split("x"))
    return dims, _dtype(Token("NAME", m.group(2), line=tok.line,
                              column=tok.column + len(m.group(1))))


@functools.lru_cache(maxsize=None)
def _required_fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)


_KIND_WORDS = {
    FieldKind.OPERAND: "an operand (%value)",
    FieldKind.OPT_OPERAND: "an optional operand (%value or none)",
    FieldKind.OPERANDS: "a list of operands ([%a, %b])",
}


# ---------------------------------------------------------------------------
# callbacks, one per grammar rule
# ---------------------------------------------------------------------------

@v_args(inline=True)
class _Callbacks(Transformer):
    """Builds types, values, ops, blocks and functions as the LALR parser reduces."""

    # -- entry points ----------------------------------------------------------
    def start_module(self, m: Module) -> Module:
        return m

    def start_type(self, t: Type) -> Type:
        return t

    def module(self, *functions: Function) -> Module:
        return Module(tuple(functions))

    # -- functions -------------------------------------------------------------
    def func_head(self, tok: Token, params: list | None, attrs: list | None,
                  loc: SourceLoc | None) -> tuple:
        st = _st()
        st.scopes = [{}]
        values = self._define_params(params)
        return _name(tok), values, tuple(attrs or ()), loc

    def function(self, head: tuple, *ops: Op) -> Function:
        name, params, attrs, loc = head
        _st().scopes = []
        return Function(name=name, params=params, body=Block(params, ops), attrs=attrs, loc=loc)

    def func_attrs(self, entries: list | None) -> list:
        return [(str(k), v) for k, v in entries or ()]

    def params(self, *ps: tuple) -> list:
        return list(ps)

    def param(self, tok: Token, t: Type) -> tuple[Token, Type]:
        return tok, t

    def _define_params(self, params: list | None) -> tuple[Value, ...]:
        scope = _st().scopes[-1]
        out = []
        for tok, t in params or ():
            v = Value(_name(tok), t)
            scope[v.name] = v
            out.append(v)
        return tuple(out)

    # -- regions ---------------------------------------------------------------
    # A block's head is reduced as soon as its "{" is read, before any op
    # inside, so this is where the region's scope opens.
    def block_head_plain(self) -> tuple[Value, ...]:
        _st().scopes.append({})
        return ()

    def block_head_args(self, params: list | None) -> tuple[Value, ...]:
        _st().scopes.append({})
        return self._define_params(params)

    def block(self, args: tuple[Value, ...], *ops: Op) -> Block:
        _st().scopes.pop()
        return Block(args, ops)

    def region(self, key: Token, block: Block) -> tuple[Token, Block]:
        return key, block

    def regions(self, *rs: tuple) -> list:
        return list(rs)

    # -- ops -------------------------------------------------------------------
    def results(self, *toks: Token) -> list[Token]:
        return list(toks)

    def result_types(self, *types: Type) -> list[Type]:
        return list(types)

    def fields(self, *fs: tuple) -> list:
        return list(fs)

    def field(self, key: Token, value: tuple) -> tuple[Token, tuple]:
        return key, value

    def one_value(self, tok: Token) -> tuple:
        return FieldKind.OPERAND, self._lookup(tok)

    def no_value(self) -> tuple:
        return FieldKind.OPT_OPERAND, None

    def value_list(self, values: tuple | None) -> tuple:
        return FieldKind.OPERANDS, values or ()

    def values(self, *toks: Token) -> tuple[Value, ...]:
        return tuple(self._lookup(t) for t in toks)

    def _lookup(self, tok: Token) -> Value:
        name = _name(tok)
        for scope in reversed(_st().scopes):
            v = scope.get(name)
            if v is not None:
                return v
        raise _at(tok, f"undefined value {tok}")

    def op(self, results: list[Token] | None, name: Token, fields: list | None,
           attrs: list | None, types: list[Type] | None, regions: list | None,
           loc: SourceLoc | None) -> Op:
        cls = OPS_BY_NAME.get(str(name))
        if cls is None:
            raise _at(name, f"unknown op {str(name)!r}")
        kinds = dict(op_fields(cls))
        kwargs: dict[str, Any] = {}

        def put(key: Token, value: Any, allowed: tuple[FieldKind, ...], what: str) -> None:
            k = str(key)
            kind = kinds.get(k)
            if kind not in allowed:
                names = [f for f, fk in op_fields(cls) if fk in allowed]
                raise _at(key, f"{cls.NAME} has no {what} field {k!r}; its {what} fields are "
                               f"{', '.join(names) or '(none)'}")
            if k in kwargs:
                raise _at(key, f"field {k!r} of {cls.NAME} is given twice")
            kwargs[k] = value

        for key, (given, value) in fields or ():
            put(key, value, (FieldKind.OPERAND, FieldKind.OPT_OPERAND, FieldKind.OPERANDS),
                "operand")
            kind = kinds[str(key)]
            if given is not kind and not (kind is FieldKind.OPT_OPERAND
                                          and given is not FieldKind.OPERANDS):
                raise _at(key, f"field {str(key)!r} of {cls.NAME} takes {_KIND_WORDS[kind]}")
        for key, value in attrs or ():
            put(key, value, (FieldKind.ATTR,), "attribute")
        for key, block in regions or ():
            put(key, block, (FieldKind.REGION,), "region")
        missing = [f for f in _required_fields(cls) if f not in kwargs and f in kinds]
        if missing:
            raise _at(name, f"{cls.NAME} needs field(s) {', '.join(sorted(missing))}")

        res_toks = results or []
        res_types = types or []
        if len(res_toks) != len(res_types):
            raise _at(name, f"{cls.NAME} defines {len(res_toks)} result(s) but gives "
                            f"{len(res_types)} type(s)")
        res = tuple(Value(_name(t), ty) for t, ty in zip(res_toks, res_types))
        op = cls(results=res, loc=loc, **kwargs)
        scope = _st().scopes[-1]
        for v in res:
            scope[v.name] = v
        return op

    def loc(self, file: Token, line: Token, col: Token | None) -> SourceLoc:
        column = 0 if col is None else _int(col, "column")  # SourceLoc's default
        return SourceLoc(_unquote(file, str(file)), _int(line, "line"), column)

    def key(self, tok: Token) -> Token:
        # Keep the token (for error positions) but with the unquoted text.
        if tok.type == "STRING":
            return tok.update(value=_unquote(tok, str(tok)))
        return tok

    # -- attributes ------------------------------------------------------------
    def attr_dict(self, entries: list | None) -> list:
        return entries or []

    def attr_entries(self, *es: tuple) -> list:
        return list(es)

    def attr_entry(self, key: Token, value: Any) -> tuple[Token, Any]:
        return key, value

    def number(self, tok: Token) -> int | float:
        s = str(tok)
        return float(s) if any(c in s for c in ".eE") else int(s)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def none(self) -> None:
        return None

    def inf(self) -> float:
        return float("inf")

    def neg_inf(self) -> float:
        return float("-inf")

    def nan(self) -> float:
        return float("nan")

    def string(self, tok: Token) -> str:
        return _unquote(tok, str(tok))

    def dtype(self, tok: Token) -> DType:
        return _dtype(tok)

    def attr_tuple(self, values: list | None) -> tuple:
        return tuple(values or ())

    def attr_values(self, *vs: Any) -> list:
        return list(vs)

    # -- types -----------------------------------------------------------------
    def scalar_type(self, tok: Token) -> ScalarType:
        return ScalarType(_dtype(tok))

    def tile_type(self, tok: Token, layout: Token | None = None) -> TileType:
        shape, dt = _shape(tok)
        return TileType(shape, dt, self.string(layout) if layout is not None else "")

    def shared_type(self, tok: Token, swizzle: Token | None = None) -> SharedType:
        shape, dt = _shape(tok)
        return SharedType(shape, dt, self.string(swizzle) if swizzle is not None else "")

    def zero_d_type(self, tok: Token) -> Type:
        raise _at(tok, f"a tile or shared buffer needs a shape (4x{tok}); "
                       f"0-d tiles do not exist, write the scalar type {tok}")

    def tensor_type(self, dt: Token, rank: Token, *facts: Token) -> TensorType:
        r = _int(rank, "tensor rank")
        if r < 0:
            raise _at(rank, f"tensor rank must not be negative, got {r}")
        names = [str(f) for f in facts]
        for f in facts:
            if str(f) not in TENSOR_FACTS:
                raise _at(f, f"unknown tensor fact {str(f)!r}; facts are "
                             f"{', '.join(TENSOR_FACTS)}")
        # One spelling per type: facts once each, in TENSOR_FACTS order.
        if names != [f for f in TENSOR_FACTS if f in names]:
            raise _at(facts[0], f"tensor facts must be distinct and in the order "
                                f"{', '.join(TENSOR_FACTS)}")
        return TensorType(_dtype(dt), r, **{f: True for f in names})


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("tilelang.ir").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", start=["start_module", "start_type"],
                transformer=_Callbacks(), maybe_placeholders=True)


# Readable names of the grammar's named terminals, for "expected ..." messages.
_TERMINAL_WORDS = {
    "VALUE": "a value (%name)", "FUNC": "a function name (@name)", "NAME": "a name",
    "STRING": "a string", "NUMBER": "a number", "SHAPE": "a shape (64x32xf32)",
    "$END": "end of text", "<END-OF-FILE>": "end of text",
}


def _expected(names: set[str] | frozenset[str]) -> str:
    pats = {t.name: t.pattern for t in _lark().terminals}
    words = set()
    for n in names:
        if n in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[n])
        elif n in pats and pats[n].type == "str":
            words.add(repr(pats[n].value))
        else:
            words.add(n)
    return ", ".join(sorted(words))


def _convert(e: UnexpectedInput) -> IRParseError:
    if isinstance(e, UnexpectedToken):
        got = "end of text" if e.token.type == "$END" else repr(str(e.token))
        line, col = (e.line, e.column) if e.token.type != "$END" else _end_pos()
        return _error(f"unexpected {got}; expected {_expected(e.expected)}", line, col)
    if isinstance(e, UnexpectedCharacters):
        return _error(f"unexpected character {e.char!r}; expected {_expected(e.allowed)}",
                      e.line, e.column)
    if isinstance(e, UnexpectedEOF):
        line, col = _end_pos()
        return _error(f"unexpected end of text; expected {_expected(e.expected)}", line, col)
    return _error(str(e), getattr(e, "line", None), getattr(e, "column", None))


def _end_pos() -> tuple[int, int]:
    lines = _st().text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _parse(text: str, start: str) -> Any:
    prev = getattr(_tls, "state", None)
    _tls.state = _State(text)
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as e:
        raise _convert(e) from None
    finally:
        _tls.state = prev


def parse_module(text: str) -> Module:
    """The module written as ``text`` (the form ``print_module`` prints).

    Raises ``IRParseError`` (an ``IRError``) giving the line and column of the
    bad text and what was expected there. The module is not verified.
    """
    return _parse(text, "start_module")


def parse_type(text: str) -> Type:
    """The type written as ``text``: ``i32``, ``tile<64x32xbf16>``, ``shared<...>``,
    ``tensor<bf16, 2>``, ``tensor<f32, 2, aligned, unit_stride, divisible>``."""
    return _parse(text, "start_type")


__all__ = ["parse_module", "parse_type", "IRParseError"]
