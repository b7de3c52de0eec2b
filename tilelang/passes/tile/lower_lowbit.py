"""lower-lowbit: low-bit values become their codes, conversions become bit tricks.

Contract. Input: a verified tile-IR module. Output: a verified module in which no
tile or scalar has a low-bit dtype (``DType.is_lowbit``; tensor parameters keep
theirs). Every such value is replaced by its code (``tilelang.ir.lowbit``) in a
``u8`` of the same shape:

* ``tl.load`` / ``tl.store`` of a low-bit tensor read and write ``u8`` code tiles
  (lower-to-threads addresses the packed planes; see ``lower_memory``);
* ``tl.cast`` from a low-bit dtype decodes with shifts, masks, selects and exact
  power-of-two products in f32 (f64 when that is the destination; an integer
  destination saturates, NaN giving 0, as the interpreter's casts do); a cast to one
  encodes: sign, exponent field by comparison against each binade, rounding to
  nearest even by the ``(t + 2**23) - 2**23`` idiom, then the format's saturation
  and NaN rules; integers wrap (from integers) or saturate (from floats);
* ``tl.dot`` of low-bit operands converts them first, exactly: float formats to
  f16 (bf16 when the exponent has 6 bits), integers to i8;
* reshapes, broadcasts, transposes, selects, splats, layout conversions and the
  values carried by loops and branches move codes as they are.

Any other op that touches a low-bit value (a sort, a scan, an atomic, a gather)
is refused with a ``CompileError`` naming it; ``check`` (in the interpreter's
pipeline) refuses the same ops there, so every tier accepts the same kernels.
The decode and encode agree bit for bit with ``lowbit.decode``/``encode`` (the
interpreter's), except that a NaN's sign is not kept (GPU code cannot read it
without a bitcast): ``encode`` drops it too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tilelang.errors import CompileError
from tilelang.ir import lowbit
from tilelang.ir import ops as o
from tilelang.ir.control_ops import ForOp, IfOp, YieldOp
from tilelang.ir.ops import Op
from tilelang.ir.rewrite import map_operands, map_regions
from tilelang.ir.types import (
    DType, ScalarType, TileType, bf16, bool_, f16, f32, f64, i8, i32, u8,
)
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.ir.while_ops import WhileOp
from tilelang.passes.tile.names import Namer

# ops that move codes unchanged (their low-bit operands and results just become u8)
_MOVES = (o.ReshapeOp, o.BroadcastOp, o.TransOp, o.WhereOp, o.SplatOp, o.ConvertLayoutOp,
          o.LoadOp, o.StoreOp, o.TensorDimOp, o.TensorStrideOp, ForOp, IfOp, YieldOp, WhileOp)


def run(module: Module) -> Module:
    return Module(tuple(_Lower(f).function() for f in module.functions))


def check(module: Module) -> Module:
    """Refuse, as ``run`` does, the ops that cannot take low-bit values; change nothing."""
    for fn in module.functions:
        _check_params(fn)
        for op in o.walk(fn.body):
            if not isinstance(op, _MOVES + (o.CastOp, o.DotOp)):
                _refuse(fn, op)
    return module


def _check_params(fn: Function) -> None:
    for p in fn.params:
        if isinstance(p.type, ScalarType) and p.type.dtype.is_lowbit:
            raise CompileError(
                f"parameter '{p.name}' is a {p.type.dtype} scalar: scalar parameters of "
                "low-bit formats are not supported", kernel=fn.name, loc=fn.loc,
                hint=f"pass it as f32 or i32 and convert in the kernel: "
                     f"x.to(tl.{p.type.dtype.name})")


def _lowbit_in(op: Op) -> DType | None:
    for v in tuple(op.operand_values()) + tuple(op.results):
        dt = getattr(v.type, "dtype", None)
        if dt is not None and dt.is_lowbit:
            return dt
    return None


def _refuse(fn: Function, op: Op) -> None:
    dt = _lowbit_in(op)
    if dt is not None:
        raise CompileError(
            f"{op.NAME} on {dt} values is not supported: low-bit formats are storage types",
            kernel=fn.name, loc=op.loc,
            hint=f"convert first, e.g. x.to(tl.{'f32' if dt.is_float else 'i32'})")


def _codes(t: Any) -> Any:
    """``t`` with a low-bit dtype replaced by ``u8`` (tensors keep theirs)."""
    if isinstance(t, TileType) and t.dtype.is_lowbit:
        return TileType(t.shape, u8, t.layout)
    if isinstance(t, ScalarType) and t.dtype.is_lowbit:
        return ScalarType(u8)
    return t


class _Lower:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.names = Namer(fn)
        self.map: dict[str, Value] = {}
        self.out: list[Op] = []
        self.loc: Any = None

    def function(self) -> Function:
        _check_params(self.fn)
        if not any(_lowbit_in(op) for op in o.walk(self.fn.body)):
            return self.fn
        return replace(self.fn, body=self.block(self.fn.body))

    # -- walking ------------------------------------------------------------------
    def retyped(self, v: Value) -> Value:
        t = _codes(v.type)
        if t is v.type:
            return v
        new = Value(v.name, t)
        self.map[v.name] = new
        return new

    def val(self, v: Value) -> Value:
        return self.map.get(v.name, v)

    def block(self, block: Block) -> Block:
        args = tuple(self.retyped(a) for a in block.args)
        saved, self.out = self.out, []
        for op in block.ops:
            self.op(op)
        ops, self.out = tuple(self.out), saved
        return Block(args, ops)

    def op(self, op: Op) -> None:
        self.loc = op.loc
        if isinstance(op, o.CastOp) and (op.value.type.dtype.is_lowbit or
                                         op.result.type.dtype.is_lowbit):
            self.map[op.result.name] = self.cast(self.val(op.value), op.value.type.dtype,
                                                 op.result.type.dtype)
            return
        if isinstance(op, o.DotOp) and op.a.type.dtype.is_lowbit:
            wide = _dot_dtype(op.a.type.dtype)
            a = self.cast(self.val(op.a), op.a.type.dtype, wide)
            b = self.cast(self.val(op.b), op.b.type.dtype, wide)
            self.out.append(replace(op, a=a, b=b, acc=self.val(op.acc)))
            return
        if _lowbit_in(op) and not isinstance(op, _MOVES):
            _refuse(self.fn, op)
        new = map_operands(op, self.val)
        if op.regions():
            new = map_regions(new, self.block)
        results = tuple(self.retyped(r) for r in op.results)
        if any(a is not b for a, b in zip(results, op.results)):   # some were retyped
            new = replace(new, results=results)
        self.out.append(new)

    # -- emitting -------------------------------------------------------------------
    def emit(self, cls: type, t: Any, **fields: Any) -> Value:
        r = self.names.fresh(t, "lb")
        self.out.append(cls(results=(r,), loc=self.loc, **fields))
        return r

    def const(self, value: Any, dt: DType, like: Value) -> Value:
        c = self.emit(o.ConstantOp, ScalarType(dt), value=value)
        shape = getattr(like.type, "shape", ())
        return self.emit(o.SplatOp, TileType(shape, dt), value=c) if \
            isinstance(like.type, TileType) else c

    def typed(self, like: Value, dt: DType) -> Any:
        return TileType(like.type.shape, dt) if isinstance(like.type, TileType) \
            else ScalarType(dt)

    def bin(self, fn: str, a: Value, b: Any) -> Value:
        if not isinstance(b, Value):
            b = self.const(b, a.type.dtype, a)
        dt = bool_ if fn in o.COMPARE_FNS else a.type.dtype
        return self.emit(o.BinaryOp, self.typed(a, dt), fn=fn, lhs=a, rhs=b)

    def to(self, x: Value, dt: DType) -> Value:
        if x.type.dtype == dt:
            return x
        return self.emit(o.CastOp, self.typed(x, dt), value=x)

    def where(self, c: Value, x: Any, y: Any, dt: DType | None = None) -> Value:
        like = x if isinstance(x, Value) else y
        dt = dt or like.type.dtype
        x = x if isinstance(x, Value) else self.const(x, dt, c)
        y = y if isinstance(y, Value) else self.const(y, dt, c)
        return self.emit(o.WhereOp, x.type, cond=c, x=x, y=y)

    # -- conversions ----------------------------------------------------------------
    def cast(self, x: Value, src: DType, dst: DType) -> Value:
        """``x`` (codes when ``src`` is low-bit) converted to ``dst`` (codes when low-bit)."""
        if src == dst:
            return x
        if src.is_lowbit:
            mid = (f64 if dst == f64 else f32) if src.is_float else i32
            value = self.decode(x, src, mid)
            if dst.is_lowbit:
                return self.cast(value, mid, dst)
            if src.is_float and dst.is_int:
                return self.saturating_int(value, dst)
            return self.to(value, dst)
        if dst.is_float:
            return self.encode_float(self.to(x, f64 if src == f64 else f32), dst)
        return self.encode_int(x, src, dst)

    def decode(self, c: Value, dt: DType, to: DType) -> Value:
        if dt.is_int:
            if not dt.is_signed:
                return self.to(c, to)
            s = self.to(c, i8)
            s = self.bin("shr", self.bin("shl", s, 8 - dt.bits), 8 - dt.bits)
            return self.to(s, to)
        e, m = dt.exp, dt.man
        ci = self.to(c, i32)
        E = self.bin("and", self.bin("shr", ci, m), (1 << e) - 1)
        M = self.bin("and", ci, (1 << m) - 1)
        normal = self.bin("ne", E, 0)
        mant = self.to(self.where(normal, self.bin("or", M, 1 << m), M), to)
        # 2**(max(E, 1) - 1), one exact product per exponent bit
        e1 = self.bin("sub", self.bin("maximum", E, 1), 1)
        scale = self.const(2.0 ** (1 - lowbit.bias(dt) - m), to, c)
        for i in range(e):
            bit = self.bin("ne", self.bin("and", e1, 1 << i), 0)
            scale = self.where(bit, self.bin("mul", scale, 2.0 ** (1 << i)), scale)
        v = self.bin("mul", mant, scale)
        rules = lowbit.float_rules(dt)
        if rules == "ieee":
            top = self.bin("eq", E, (1 << e) - 1)
            special = self.where(self.bin("eq", M, 0), float("inf"), self.const(
                float("nan"), to, c))
            v = self.where(top, special, v)
        elif rules == "fn":
            v = self.where(self.bin("eq", self.bin("and", ci, (1 << (e + m)) - 1),
                                    (1 << (e + m)) - 1), float("nan"), v)
        neg = self.bin("ne", self.bin("shr", ci, e + m), 0)
        return self.where(neg, self.emit(o.UnaryOp, v.type, fn="neg", value=v), v)

    def saturating_int(self, x: Value, dt: DType) -> Value:
        """Float ``x`` to the integer ``dt`` as the interpreter's low-bit casts do:
        truncated, saturated, NaN giving 0 (inf and NaN codes included, on every tier)."""
        bits = dt.bits - 1 if dt.is_signed else dt.bits
        lo, top = (-2.0 ** bits if dt.is_signed else 0.0), 2.0 ** bits    # exact in f32
        below, above = self.bin("lt", x, lo), self.bin("ge", x, top)
        out = self.bin("or", self.bin("or", below, above), self.bin("ne", x, x))
        v = self.to(self.where(out, 0.0, x), dt)
        v = self.where(above, (1 << bits) - 1, v)
        return self.where(below, -(1 << bits) if dt.is_signed else 0, v)

    def encode_float(self, x: Value, dt: DType) -> Value:
        ft = x.type.dtype
        e, m, rules = dt.exp, dt.man, lowbit.float_rules(dt)
        b = lowbit.bias(dt)
        nan = self.bin("ne", x, x)
        zero = self.bin("eq", x, 0.0)
        neg = self.bin("or", self.bin("lt", x, 0.0),
                       self.bin("and", zero, self.bin("lt", self.bin("div", self.const(
                           1.0, ft, x), x), 0.0)))
        neg = self.bin("and", neg, self.emit(o.UnaryOp, nan.type, fn="not", value=nan))
        a = self.where(nan, 0.0, self.emit(o.UnaryOp, x.type, fn="abs", value=x))
        top = (1 << e) - 2 if rules == "ieee" else (1 << e) - 1
        a = self.bin("minimum", a, 2.0 ** (top - b + 1))
        E = self.const(0, i32, x)
        inv_q = self.const(2.0 ** -(1 - b - m), ft, x)
        for j in range(1, top + 1):
            ge = self.bin("ge", a, 2.0 ** (j - b))
            E = self.where(ge, j, E)
            inv_q = self.where(ge, 2.0 ** -(j - b - m), inv_q)
        t = self.bin("mul", a, inv_q)
        magic = 2.0 ** (23 if ft == f32 else 52)
        n = self.to(self.bin("sub", self.bin("add", t, magic), magic), i32)
        mag = self.bin("add", self.bin("shl", self.bin("maximum", self.bin("sub", E, 1), 0),
                                       m), n)
        if rules == "finite":
            mag = self.where(nan, 0, self.bin("minimum", mag, lowbit.max_code(dt)))
        elif rules == "fn":
            nan_code = lowbit.max_code(dt) + 1
            mag = self.where(nan, nan_code, self.bin("minimum", mag, nan_code))
        else:
            inf_code = ((1 << e) - 1) << m
            mag = self.where(nan, inf_code | (1 << (m - 1)), self.bin("minimum", mag, inf_code))
        code = self.bin("or", mag, self.where(neg, 1 << (e + m), 0, i32))
        return self.to(code, u8)

    def encode_int(self, x: Value, src: DType, dt: DType) -> Value:
        if src.is_float:     # NaN -> 0, clamped in the float domain, then truncated
            lo, hi = lowbit.int_range(dt)
            x = self.where(self.bin("ne", x, x), 0.0, x)
            v = self.to(self.bin("minimum", self.bin("maximum", x, float(lo)), float(hi)), i32)
        else:
            v = self.to(x, i32) if src.is_bool else x
        return self.bin("and", self.to(v, u8), (1 << dt.bits) - 1)


def _dot_dtype(dt: DType) -> DType:
    """The wide dtype a low-bit dot operand converts to exactly."""
    if dt.is_int:
        return i8
    return f16 if dt.exp <= 5 else bf16


__all__ = ["check", "run"]
