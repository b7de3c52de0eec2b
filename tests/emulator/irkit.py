"""A terse thread-IR builder for the emulator tests (hand-built kernels, like
``tests/ir/test_thread_ops.py``).

Every op gets a ``SourceLoc`` in a fake file ``tkern.py`` whose line number grows
by one per op, so tests can check that errors name the right line
(``T.line`` right after emitting an op is that op's line).
"""

from __future__ import annotations

from typing import Callable, Sequence

from tilelang.errors import SourceLoc
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.ir.builder import Builder
from tilelang.ir.types import DType, ScalarType, TensorType, bool_, i32, i64
from tilelang.ir.values import Function, Module, Value
from tilelang.ir.verifier import verify_module

FILE = "tkern.py"


def S(dtype: DType) -> ScalarType:
    return ScalarType(dtype)


class T:
    """Builds one thread-IR kernel op by op; ``build()`` verifies and returns it."""

    def __init__(self, name: str = "tkern", threads: int = 32, shared: int = 0,
                 warp_size: int = 32) -> None:
        self.name, self.threads, self.shared = name, threads, shared
        self.warp_size = warp_size   # 64: AMD wavefronts (recorded as the attribute)
        self.b = Builder()
        self.params: list[Value] = []
        self.line = 100

    # -- plumbing ----------------------------------------------------------------
    def emit(self, cls: type[o.Op], results: Sequence[DType] = (), **kw: object) -> o.Op:
        self.line += 1
        res = tuple(self.b.fresh(S(d)) for d in results)
        op = cls(results=res, loc=SourceLoc(FILE, self.line), **kw)
        self.b.emit(op)
        return op

    def one(self, cls: type[o.Op], dtype: DType, **kw: object) -> Value:
        return self.emit(cls, (dtype,), **kw).result

    def tensor(self, dtype: DType, rank: int, name: str) -> Value:
        v = self.b.fresh(TensorType(dtype, rank), name)
        self.params.append(v)
        return v

    def scalar(self, dtype: DType, name: str) -> Value:
        v = self.b.fresh(S(dtype), name)
        self.params.append(v)
        return v

    def build(self, verify: bool = True) -> Function:
        self.emit(o.ReturnOp)
        body = self.b.pop(tuple(self.params))
        attrs = (("num_threads", self.threads), ("shared_bytes", self.shared))
        if self.warp_size != 32:
            attrs += (("warp_size", self.warp_size),)
        fn = Function(self.name, tuple(self.params), body, attrs)
        if verify:
            verify_module(Module((fn,)))
        return fn

    # -- scalars -------------------------------------------------------------------
    def const(self, value: int | float | bool, dtype: DType = i32) -> Value:
        return self.one(o.ConstantOp, dtype, value=value)

    def tid(self) -> Value:
        return self.one(th.ThreadIdOp, i32)

    def pid(self, axis: int = 0) -> Value:
        return self.one(o.ProgramIdOp, i32, axis=axis)

    def dim(self, t: Value, d: int) -> Value:
        return self.one(o.TensorDimOp, i32, tensor=t, dim=d)

    def stride(self, t: Value, d: int) -> Value:
        return self.one(o.TensorStrideOp, i32, tensor=t, dim=d)

    def ptr(self, t: Value) -> Value:
        return self.one(th.TensorPtrOp, i64, tensor=t)

    def bin(self, fn: str, a: Value, b: Value | int) -> Value:
        if not isinstance(b, Value):
            b = self.const(b, a.type.dtype)
        dtype = bool_ if fn in o.COMPARE_FNS else a.type.dtype
        return self.one(o.BinaryOp, dtype, fn=fn, lhs=a, rhs=b)

    def add(self, a: Value, b: Value | int) -> Value:
        return self.bin("add", a, b)

    def mul(self, a: Value, b: Value | int) -> Value:
        return self.bin("mul", a, b)

    def un(self, fn: str, a: Value) -> Value:
        return self.one(o.UnaryOp, a.type.dtype, fn=fn, value=a)

    def nprog(self, axis: int = 0) -> Value:
        return self.one(o.NumProgramsOp, i32, axis=axis)

    def cast(self, v: Value, dtype: DType) -> Value:
        return self.one(o.CastOp, dtype, value=v)

    def where(self, c: Value, x: Value, y: Value) -> Value:
        return self.one(o.WhereOp, x.type.dtype, cond=c, x=x, y=y)

    def gaddr(self, t: Value, index: Value, itemsize: int) -> Value:
        """``ptr(t) + index * itemsize`` (an i64 global address)."""
        off = self.mul(self.cast(index, i64), itemsize)
        return self.add(self.ptr(t), off)

    # -- thread ops ------------------------------------------------------------------
    def ld_global(self, dtype: DType, addr: Value, vec: int = 1, pred: Value | None = None,
                  other: Value | None = None) -> tuple[Value, ...]:
        return self.emit(th.LdGlobalOp, (dtype,) * vec, dtype=dtype, vec=vec, addr=addr,
                         pred=pred, other=other).results

    def st_global(self, addr: Value, values: Sequence[Value], pred: Value | None = None) -> None:
        self.emit(th.StGlobalOp, addr=addr, values=tuple(values), pred=pred)

    def atomic_add(self, addr: Value, value: Value, pred: Value | None = None) -> None:
        self.emit(th.AtomicAddGlobalOp, addr=addr, value=value, pred=pred)

    def ld_shared(self, dtype: DType, addr: Value, vec: int = 1) -> tuple[Value, ...]:
        return self.emit(th.LdSharedOp, (dtype,) * vec, dtype=dtype, vec=vec, addr=addr).results

    def st_shared(self, addr: Value, values: Sequence[Value], pred: Value | None = None) -> None:
        self.emit(th.StSharedOp, addr=addr, values=tuple(values), pred=pred)

    def cp_async(self, dst: Value, src: Value, src_bytes: Value, nbytes: int = 16) -> None:
        self.emit(th.CpAsyncOp, bytes=nbytes, dst=dst, src=src, src_bytes=src_bytes)

    def commit(self) -> None:
        self.emit(th.CpAsyncCommitOp)

    def wait(self, pending: int = 0) -> None:
        self.emit(th.CpAsyncWaitOp, pending=pending)

    def barrier(self) -> None:
        self.emit(o.BarrierOp)

    def ldmatrix(self, dtype: DType, addr: Value, num: int = 4,
                 trans: bool = False) -> tuple[Value, ...]:
        return self.emit(th.LdMatrixOp, (dtype,) * (2 * num), dtype=dtype, num=num,
                         trans=trans, addr=addr).results

    def mma(self, a: Sequence[Value], b: Sequence[Value], c: Sequence[Value]) -> tuple[Value, ...]:
        return self.emit(th.MmaOp, (c[0].type.dtype,) * 4, a=tuple(a), b=tuple(b),
                         c=tuple(c)).results

    def mfma(self, shape: str, a: Sequence[Value], b: Sequence[Value],
             c: Sequence[Value]) -> tuple[Value, ...]:
        return self.emit(th.MfmaOp, (c[0].type.dtype,) * len(c), shape=shape, a=tuple(a),
                         b=tuple(b), c=tuple(c)).results

    def shfl(self, mode: str, value: Value, lane: Value | int) -> Value:
        if not isinstance(lane, Value):
            lane = self.const(lane, i32)
        return self.one(th.ShflOp, value.type.dtype, mode=mode, value=value, lane=lane)

    def print_(self, prefix: str, *values: Value) -> None:
        self.emit(o.PrintOp, prefix=prefix, values=tuple(values))

    def assert_(self, cond: Value, message: str) -> None:
        self.emit(o.AssertOp, message=message, cond=cond)

    # -- control flow ----------------------------------------------------------------
    def if_(self, cond: Value, then: Callable[[], None],
            orelse: Callable[[], None] | None = None) -> None:
        blocks = []
        for fill in (then, orelse):
            self.b.push()
            if fill is not None:
                fill()
            self.line += 1
            self.b.emit(o.YieldOp(loc=SourceLoc(FILE, self.line)))
            blocks.append(self.b.pop())
        self.line += 1
        self.b.emit(o.IfOp(cond=cond, then=blocks[0], orelse=blocks[1],
                           loc=SourceLoc(FILE, self.line)))

    def warp_specialize(self, consumer: Callable[[], None], producer: Callable[[], None],
                        consumer_threads: int = 128, producer_threads: int = 128) -> None:
        """``tl.warp_specialize`` with regions filled by ``consumer()`` / ``producer()``."""
        blocks = []
        for fill in (consumer, producer):
            self.b.push()
            fill()
            self.line += 1
            self.b.emit(o.YieldOp(loc=SourceLoc(FILE, self.line)))
            blocks.append(self.b.pop())
        self.line += 1
        self.b.emit(WarpSpecializeOp(consumer_threads=consumer_threads,
                                     producer_threads=producer_threads, consumer=blocks[0],
                                     producer=blocks[1], loc=SourceLoc(FILE, self.line)))

    def for_(self, lower: Value, upper: Value, step: Value,
             body: Callable[[Value], None]) -> None:
        iv = self.b.fresh(lower.type, "iv")
        self.b.push()
        body(iv)
        self.line += 1
        self.b.emit(o.YieldOp(loc=SourceLoc(FILE, self.line)))
        block = self.b.pop((iv,))
        self.line += 1
        self.b.emit(o.ForOp(lower=lower, upper=upper, step=step, body=block,
                            loc=SourceLoc(FILE, self.line)))
