"""Small helpers for emitting thread-IR scalar arithmetic during lowering."""

from __future__ import annotations

from typing import Any

from tilelang.ir import ops as o
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.builder import Builder
from tilelang.ir.types import DType, ScalarType, bool_
from tilelang.ir.values import Loc, Value


class ThreadBuilder:
    """Emits scalar ops at the current source location through a ``Builder``.

    A pure scalar op identical to one already emitted in the current block or an
    enclosing one is not emitted again: its earlier result is returned. Lowering
    computes the same index arithmetic for many slots; sharing it as it is built
    keeps the thread IR (and every later pass over it) small. What CSE would do
    later, done early; convergent ops (shuffles) are always emitted.
    """

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.loc: Loc | None = None
        # id(op list) -> (the list, {op key: result}); holding the list keeps its id
        self._memo: dict[int, tuple[list, dict]] = {}

    def emit1(self, cls: type[o.Op], type_: Any, hint: str | None = None, **fields: Any) -> Value:
        """Emit a one-result op (or reuse an identical pure one); return its result."""
        key = _memo_key(cls, type_, fields)
        if key is not None:
            for ops in reversed(self.builder._stack):
                entry = self._memo.get(id(ops))
                if entry is not None and entry[0] is ops:
                    hit = entry[1].get(key)
                    if hit is not None:
                        return hit
        result = self.builder.fresh(type_, hint)
        self.builder.emit(cls(results=(result,), loc=self.loc, **fields))
        if key is not None:
            ops = self.builder._stack[-1]
            entry = self._memo.get(id(ops))
            if entry is None or entry[0] is not ops:
                entry = self._memo[id(ops)] = (ops, {})
            entry[1][key] = result
        return result

    def emit0(self, cls: type[o.Op], **fields: Any) -> None:
        self.builder.emit(cls(loc=self.loc, **fields))

    def const(self, value: Any, dtype: DType) -> Value:
        if dtype.is_float:
            value = float(value)
        elif dtype.is_bool:
            value = bool(value)
        else:
            value = int(value)
        return self.emit1(o.ConstantOp, ScalarType(dtype), value=value)

    def binary(self, fn: str, a: Value, b: Value) -> Value:
        dtype = bool_ if fn in o.COMPARE_FNS else a.type.dtype
        return self.emit1(o.BinaryOp, ScalarType(dtype), fn=fn, lhs=a, rhs=b)

    def add(self, a: Value, b: Value) -> Value:
        return self.binary("add", a, b)

    def mul(self, a: Value, b: Value) -> Value:
        return self.binary("mul", a, b)

    def cmp(self, fn: str, a: Value, b: Value) -> Value:
        return self.binary(fn, a, b)

    def both(self, a: Value | None, b: Value | None) -> Value | None:
        """``a and b`` where ``None`` means true."""
        if a is None:
            return b
        if b is None:
            return a
        return self.binary("and", a, b)

    def unary(self, fn: str, a: Value) -> Value:
        return self.emit1(o.UnaryOp, a.type, fn=fn, value=a)

    def where(self, c: Value, x: Value, y: Value) -> Value:
        return self.emit1(o.WhereOp, x.type, cond=c, x=x, y=y)

    def cast(self, v: Value, dtype: DType) -> Value:
        if v.type.dtype == dtype:
            return v
        return self.emit1(o.CastOp, ScalarType(dtype), value=v)


_SHAREABLE = (o.ConstantOp, o.BinaryOp, o.UnaryOp, o.CastOp, o.WhereOp, FmaOp)


def _memo_key(cls: type[o.Op], type_: Any, fields: dict[str, Any]) -> tuple | None:
    """What makes two emissions of a pure scalar op the same value (``None``: never
    shared). Constants are told apart by ``repr`` so that ``0.0`` and ``-0.0`` (equal
    as numbers) stay two values."""
    if cls not in _SHAREABLE:
        return None
    if cls is o.ConstantOp:
        return cls, type_, repr(fields["value"])
    try:
        items = tuple(sorted(fields.items()))
        hash(items)
    except TypeError:
        return None
    return cls, type_, items
