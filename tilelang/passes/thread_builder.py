"""Small helpers for emitting thread-IR scalar arithmetic during lowering."""

from __future__ import annotations

from typing import Any

from tilelang.ir import ops as o
from tilelang.ir.builder import Builder
from tilelang.ir.types import DType, ScalarType, bool_
from tilelang.ir.values import Loc, Value


class ThreadBuilder:
    """Emits scalar ops at the current source location through a ``Builder``."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.loc: Loc | None = None

    def emit1(self, cls: type[o.Op], type_: Any, hint: str | None = None, **fields: Any) -> Value:
        """Emit a one-result op; return its result."""
        result = self.builder.fresh(type_, hint)
        self.builder.emit(cls(results=(result,), loc=self.loc, **fields))
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
