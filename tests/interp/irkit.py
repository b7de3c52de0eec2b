"""A terse tile-IR builder for the interpreter tests (no frontend exists yet).

Every op gets a ``SourceLoc`` in a fake file ``kern.py`` whose line number grows
by one per op, so tests can check that errors name the right line.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tilelang.errors import SourceLoc
from tilelang.ir import ops as o
from tilelang.ir.builder import Builder
from tilelang.ir.types import (
    DType, ScalarType, SharedType, TensorType, TileType, Type, bool_, i32,
)
from tilelang.ir.values import Function, Module, Value
from tilelang.ir.verifier import verify_module

FILE = "kern.py"


def _same_kind(like: Value, dtype: DType) -> Type:
    t = like.type
    return TileType(t.shape, dtype) if isinstance(t, TileType) else ScalarType(dtype)


class K:
    """Builds one kernel Function op by op; ``build()`` verifies and returns it."""

    def __init__(self, name: str = "kern") -> None:
        self.name = name
        self.b = Builder()
        self.params: list[Value] = []
        self.line = 10
        self.last: o.Op | None = None

    # -- plumbing --------------------------------------------------------------
    def emit(self, cls: type[o.Op], results: Sequence[Type] = (), **kw: object) -> o.Op:
        self.line += 1
        res = tuple(self.b.fresh(t) for t in results)
        op = cls(results=res, loc=SourceLoc(FILE, self.line), **kw)
        self.b.emit(op)
        self.last = op
        return op

    def one(self, cls: type[o.Op], rtype: Type, **kw: object) -> Value:
        return self.emit(cls, (rtype,), **kw).result

    def tensor(self, dtype: DType, rank: int, name: str) -> Value:
        v = self.b.fresh(TensorType(dtype, rank), name)
        self.params.append(v)
        return v

    def scalar(self, dtype: DType, name: str) -> Value:
        v = self.b.fresh(ScalarType(dtype), name)
        self.params.append(v)
        return v

    def build(self, verify: bool = True) -> Function:
        self.emit(o.ReturnOp)
        body = self.b.pop(tuple(self.params))
        fn = Function(self.name, tuple(self.params), body)
        if verify:
            verify_module(Module((fn,)))
        return fn

    # -- scalars and tiles -------------------------------------------------------
    def const(self, value: int | float | bool, dtype: DType = i32) -> Value:
        return self.one(o.ConstantOp, ScalarType(dtype), value=value)

    def pid(self, axis: int) -> Value:
        return self.one(o.ProgramIdOp, ScalarType(i32), axis=axis)

    def nprog(self, axis: int) -> Value:
        return self.one(o.NumProgramsOp, ScalarType(i32), axis=axis)

    def dim(self, t: Value, d: int) -> Value:
        return self.one(o.TensorDimOp, ScalarType(i32), tensor=t, dim=d)

    def stride(self, t: Value, d: int) -> Value:
        return self.one(o.TensorStrideOp, ScalarType(i32), tensor=t, dim=d)

    def splat(self, v: Value, shape: tuple[int, ...]) -> Value:
        return self.one(o.SplatOp, TileType(shape, v.type.dtype), value=v)

    def full(self, shape: tuple[int, ...], value: int | float, dtype: DType) -> Value:
        return self.splat(self.const(value, dtype), shape)

    def arange(self, start: int, stop: int) -> Value:
        return self.one(o.ArangeOp, TileType((stop - start,), i32), start=start, stop=stop)

    def bcast(self, v: Value, shape: tuple[int, ...]) -> Value:
        return self.one(o.BroadcastOp, TileType(shape, v.type.dtype), value=v)

    def reshape(self, v: Value, shape: tuple[int, ...]) -> Value:
        return self.one(o.ReshapeOp, TileType(shape, v.type.dtype), value=v)

    def trans(self, v: Value) -> Value:
        return self.one(o.TransOp, TileType(v.type.shape[::-1], v.type.dtype), value=v)

    def bin(self, fn: str, a: Value, b: Value) -> Value:
        dt = bool_ if fn in o.COMPARE_FNS else a.type.dtype
        return self.one(o.BinaryOp, _same_kind(a, dt), fn=fn, lhs=a, rhs=b)

    def un(self, fn: str, a: Value) -> Value:
        return self.one(o.UnaryOp, a.type, fn=fn, value=a)

    def where(self, c: Value, x: Value, y: Value) -> Value:
        return self.one(o.WhereOp, x.type, cond=c, x=x, y=y)

    def cast(self, v: Value, dtype: DType) -> Value:
        return self.one(o.CastOp, _same_kind(v, dtype), value=v)

    def reduce(self, fn: str, v: Value, axis: int, keepdims: bool = False) -> Value:
        shape = list(v.type.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
        rt = TileType(tuple(shape), v.type.dtype) if shape else ScalarType(v.type.dtype)
        return self.one(o.ReduceOp, rt, fn=fn, axis=axis, keepdims=keepdims, value=v)

    def dot(self, a: Value, b: Value, acc: Value) -> Value:
        return self.one(o.DotOp, acc.type, a=a, b=b, acc=acc)

    # -- memory --------------------------------------------------------------------
    def load(self, t: Value, offs: Sequence[Value], shape: tuple[int, ...],
             mask: Value | None = None, other: Value | None = None) -> Value:
        return self.one(o.LoadOp, TileType(shape, t.type.dtype), tensor=t,
                        offsets=tuple(offs), mask=mask, other=other)

    def store(self, t: Value, offs: Sequence[Value], v: Value, mask: Value | None = None) -> None:
        self.emit(o.StoreOp, tensor=t, offsets=tuple(offs), value=v, mask=mask)

    def atomic_add(self, t: Value, offs: Sequence[Value], v: Value,
                   mask: Value | None = None) -> None:
        self.emit(o.AtomicAddOp, tensor=t, offsets=tuple(offs), value=v, mask=mask)

    def alloc(self, shape: tuple[int, ...], dtype: DType) -> Value:
        return self.one(o.AllocSharedOp, SharedType(shape, dtype))

    def copy(self, t: Value, offs: Sequence[Value], buf: Value) -> None:
        self.emit(o.CopyOp, tensor=t, offsets=tuple(offs), dst=buf)

    def sload(self, buf: Value) -> Value:
        return self.one(o.SharedLoadOp, TileType(buf.type.shape, buf.type.dtype), src=buf)

    def sstore(self, buf: Value, v: Value) -> None:
        self.emit(o.SharedStoreOp, dst=buf, value=v)

    def barrier(self) -> None:
        self.emit(o.BarrierOp)

    def print(self, prefix: str, *vals: Value) -> None:
        self.emit(o.PrintOp, prefix=prefix, values=tuple(vals))

    def assert_(self, cond: Value, message: str) -> None:
        self.emit(o.AssertOp, cond=cond, message=message)

    # -- control flow --------------------------------------------------------------
    def for_(self, lo: Value, hi: Value, step: Value, inits: Sequence[Value],
             body: Callable[..., Sequence[Value]], kind: str = "range") -> tuple[Value, ...]:
        """``body(iv, *carried)`` emits the loop body and returns the next carried values."""
        self.b.push()
        iv = self.b.fresh(lo.type, "iv")
        args = tuple(self.b.fresh(v.type) for v in inits)
        nxt = body(iv, *args)
        self.emit(o.YieldOp, values=tuple(nxt))
        block = self.b.pop((iv, *args))
        return self.emit(o.ForOp, tuple(v.type for v in inits), kind=kind, lower=lo,
                         upper=hi, step=step, inits=tuple(inits), body=block).results

    def if_(self, cond: Value, then: Callable[[], Sequence[Value]],
            orelse: Callable[[], Sequence[Value]], types: Sequence[Type] = ()) -> tuple[Value, ...]:
        """``then()``/``orelse()`` emit a branch and return the values it yields."""
        blocks = []
        for branch in (then, orelse):
            self.b.push()
            vals = branch()
            self.emit(o.YieldOp, values=tuple(vals))
            blocks.append(self.b.pop())
        return self.emit(o.IfOp, tuple(types), cond=cond, then=blocks[0],
                         orelse=blocks[1]).results
