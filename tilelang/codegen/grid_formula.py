"""Grid formulas for ahead-of-time launchers: ``'cdiv(M, BM), cdiv(N, BN), 1'``.

A formula is one to three comma-separated integer expressions (missing
dimensions are 1) in a small, safe language:

* non-negative integer literals;
* ``T.shape[i]`` and ``T.stride(i)`` of a tensor parameter ``T`` (its dims and
  strides in elements, as the launcher receives them);
* the name of an integer runtime scalar parameter;
* the name of a constexpr with an integer value (baked in as a literal);
* an alias bound to one of the above (``M=A.shape[0]``);
* ``+``, ``-``, ``*``, ``//`` (floor division, as in Python), parentheses and
  ``cdiv(a, b)`` (ceiling division).

``GridFormula.c_exprs()`` gives the C99 expression of each dimension over the
launcher's parameters (``int64_t`` arithmetic); ``GridFormula.evaluate()``
computes the same grid in Python. Division by zero yields 0 in C (the launcher
then refuses the grid) and raises ``ZeroDivisionError`` in Python.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["GridFormula", "GridFormulaError", "parse_grid"]

_C_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


class GridFormulaError(ValueError):
    """A grid formula (or one of its aliases) that cannot be used."""


@dataclass(frozen=True)
class _Ref:
    """A leaf of the formula: a launcher parameter or a literal."""

    c_name: str | None       # the C parameter (None for a literal)
    value: int | None        # a literal's value
    source: tuple[str, str, int] | None = None  # (parameter, role, index) for parameters


@dataclass
class GridFormula:
    """A parsed grid formula, resolved against a kernel's parameters."""

    text: str
    dims: tuple[ast.expr, ...]
    refs: dict[int, _Ref] = field(default_factory=dict)   # id(node) -> leaf
    helpers: set[str] = field(default_factory=set)        # 'cdiv' and/or 'floordiv'

    def c_exprs(self, prefix: str) -> tuple[str, str, str]:
        """The C expression of each grid dimension (``prefix`` names the helpers)."""
        return tuple(self._c(d, prefix) for d in self.dims)  # type: ignore[return-value]

    def _c(self, node: ast.expr, prefix: str) -> str:
        ref = self.refs.get(id(node))
        if ref is not None:
            return f"(int64_t){ref.c_name}" if ref.c_name else f"INT64_C({ref.value})"
        if isinstance(node, ast.BinOp):
            a, b = self._c(node.left, prefix), self._c(node.right, prefix)
            if isinstance(node.op, ast.FloorDiv):
                return f"{prefix}_floordiv({a}, {b})"
            return f"({a} {_C_OPS[type(node.op)]} {b})"
        assert isinstance(node, ast.Call)
        args = [self._c(x, prefix) for x in node.args]
        return f"{prefix}_cdiv({args[0]}, {args[1]})"

    def evaluate(self, values: Mapping[tuple[str, str, int], int]) -> tuple[int, int, int]:
        """The grid for the given ``(parameter, role, index)`` values (role ``dim``,
        ``stride`` or ``scalar``)."""
        return tuple(self._eval(d, values) for d in self.dims)  # type: ignore[return-value]

    def _eval(self, node: ast.expr, values: Mapping[tuple[str, str, int], int]) -> int:
        ref = self.refs.get(id(node))
        if ref is not None:
            return ref.value if ref.source is None else int(values[ref.source])
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, values), self._eval(node.right, values)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            return a // b
        assert isinstance(node, ast.Call)
        a, b = (self._eval(x, values) for x in node.args)
        return -(-a // b)


def _parse_expr(text: str, what: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise GridFormulaError(f"cannot parse {what} {text.strip()!r}") from None


def parse_grid(text: str, *, tensors: Mapping[str, int], int_scalars: Mapping[str, str],
               constexprs: Mapping[str, Any], aliases: Mapping[str, str] | None = None,
               c_name: Any = None) -> GridFormula:
    """Parse and resolve ``text``.

    ``tensors`` maps tensor parameters to their ranks, ``int_scalars`` integer
    scalar parameters to their C names, ``constexprs`` constexpr names to values,
    ``aliases`` names to expressions (``{'M': 'A.shape[0]'}``) and ``c_name(param,
    role, index)`` gives a tensor dim's or stride's C parameter name.
    """
    body = _parse_expr(text, "grid")
    dims = list(body.elts) if isinstance(body, ast.Tuple) else [body]
    if not 1 <= len(dims) <= 3:
        raise GridFormulaError(f"a grid has 1 to 3 dimensions, {text.strip()!r} has {len(dims)}")
    alias_nodes = {}
    for name, expr in (aliases or {}).items():
        if not name.isidentifier():
            raise GridFormulaError(f"bad grid alias name {name!r}")
        alias_nodes[name] = _parse_expr(expr, f"alias {name}=")
    dims = [_expand(d, alias_nodes) for d in dims] + [ast.Constant(1)] * (3 - len(dims))
    formula = GridFormula(text.strip(), tuple(dims))
    resolver = _Resolver(formula, tensors, int_scalars, constexprs,
                         c_name or (lambda p, role, i: f"{p}_{role}{i}"))
    for d in formula.dims:
        resolver.visit(d)
    return formula


@dataclass
class _Resolver:
    """Checks each node of a formula and records its leaves in ``formula.refs``."""

    formula: GridFormula
    tensors: Mapping[str, int]
    int_scalars: Mapping[str, str]
    constexprs: Mapping[str, Any]
    c_name: Any

    def visit(self, node: ast.expr) -> None:
        refs = self.formula.refs
        if isinstance(node, ast.Constant):
            if type(node.value) is not int or node.value < 0:
                raise GridFormulaError(f"grid literals are non-negative integers, not "
                                       f"{node.value!r}")
            refs[id(node)] = _Ref(None, node.value)
        elif isinstance(node, ast.Name):
            self._name(node)
        elif isinstance(node, (ast.Subscript, ast.Call)) and self._tensor_ref(node):
            pass
        elif isinstance(node, ast.BinOp) and type(node.op) in (*_C_OPS, ast.FloorDiv):
            self.visit(node.left)
            self.visit(node.right)
            if isinstance(node.op, ast.FloorDiv):
                self.formula.helpers.add("floordiv")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "cdiv" and len(node.args) == 2 and not node.keywords):
            for a in node.args:
                self.visit(a)
            self.formula.helpers.add("cdiv")
        else:
            raise GridFormulaError(f"unsupported grid expression {ast.unparse(node)!r}: use "
                                   "integers, T.shape[i], T.stride(i), integer scalars, "
                                   "constexprs, + - * // and cdiv(a, b)")

    def _name(self, node: ast.Name) -> None:
        name = node.id
        if name in self.int_scalars:
            self.formula.refs[id(node)] = _Ref(self.int_scalars[name], None,
                                               (name, "scalar", 0))
        elif name in self.constexprs:
            value = self.constexprs[name]
            if type(value) is not int:
                raise GridFormulaError(f"constexpr {name!r} = {value!r} is not an integer")
            self.formula.refs[id(node)] = _Ref(None, value)
        elif name in self.tensors:
            raise GridFormulaError(f"{name!r} is a tensor: use {name}.shape[i] or "
                                   f"{name}.stride(i)")
        else:
            raise GridFormulaError(f"unknown name {name!r} in the grid: use a tensor's "
                                   "shape or stride, an integer scalar parameter, a constexpr "
                                   "or an alias (--bind NAME=T.shape[i])")

    def _tensor_ref(self, node: ast.expr) -> bool:
        """Resolve ``T.shape[i]`` / ``T.stride(i)``; False when ``node`` is neither."""
        if isinstance(node, ast.Subscript):
            attr, index, role = node.value, node.slice, "dim"
            if not (isinstance(attr, ast.Attribute) and attr.attr == "shape"):
                return False
        else:
            if not (isinstance(node.func, ast.Attribute) and node.func.attr == "stride"
                    and len(node.args) == 1 and not node.keywords):
                return False
            attr, index, role = node.func, node.args[0], "stride"
        if not isinstance(attr.value, ast.Name) or attr.value.id not in self.tensors:
            raise GridFormulaError(f"{ast.unparse(attr.value)!r} in {ast.unparse(node)!r} "
                                   "is not a tensor parameter")
        tensor = attr.value.id
        rank = self.tensors[tensor]
        if not (isinstance(index, ast.Constant) and type(index.value) is int
                and 0 <= index.value < rank):
            raise GridFormulaError(f"{ast.unparse(node)!r}: the index must be an integer "
                                   f"literal below {tensor}'s rank {rank}")
        self.formula.refs[id(node)] = _Ref(self.c_name(tensor, role, index.value), None,
                                           (tensor, role, index.value))
        return True


def _expand(tree: ast.expr, aliases: Mapping[str, ast.expr],
            expanding: tuple[str, ...] = ()) -> ast.expr:
    """``tree`` with every alias name replaced by (a fresh copy of) its expression."""
    if isinstance(tree, ast.Name) and tree.id in aliases:
        if tree.id in expanding:
            raise GridFormulaError(f"grid alias {tree.id!r} refers to itself")
        return _expand(copy.deepcopy(aliases[tree.id]), aliases, expanding + (tree.id,))
    for name, value in ast.iter_fields(tree):
        if isinstance(value, ast.expr) and not (isinstance(tree, ast.Call)
                                                and name == "func"):
            setattr(tree, name, _expand(value, aliases, expanding))
        elif isinstance(value, list):
            setattr(tree, name, [_expand(v, aliases, expanding) if isinstance(v, ast.expr)
                                 else v for v in value])
    return tree
