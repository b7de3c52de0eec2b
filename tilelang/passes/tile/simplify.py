"""simplify: fold constants and drop identities in the thread IR.

Contract. Input and output: verified modules (made for the thread IR, where
every value is a scalar; ops on tiles are left alone) computing exactly what
the input computes, under the semantics of ``docs/semantics.md`` that the
interpreter, the emulator and the NVIDIA code generator share. Only scalar ops
whose operands are integers or bools are folded or rewritten; float arithmetic
is never touched, so no rounding, signed zero or NaN can change.

* **Constants.** ``tl.binary``, ``tl.unary`` and ``tl.cast`` of constants
  become ``tl.constant`` (same result value): integers wrap to their dtype;
  ``floordiv``/``mod`` truncate toward zero and give 0 for a zero divisor (what
  the interpreter and the code generator both give); ``MIN // -1`` wraps;
  bool arithmetic computes on 0/1 and converts back with ``!= 0``; a shift is
  folded only when its count is in ``[0, bits)`` and an integer ``pow`` only
  for an exponent ``>= 0`` (elsewhere the result is undefined or an error); a
  cast folds from an integer or bool to an integer or bool, and to a float only
  when the value is exact there (float sources are left alone).
* **Identities** on integers and bools: ``x+0``, ``0+x``, ``x-0``, ``x*1``,
  ``1*x``, ``x//1``, ``x<<0``, ``x>>0``, ``x|0``, ``x^0``, ``x&-1`` (all ones)
  give ``x``; ``x*0``, ``x%1``, ``x&0`` give 0; ``x|-1`` gives all ones;
  comparing a value with itself gives a constant; ``where(true, a, b) = a``,
  ``where(false, a, b) = b`` and ``where(c, a, a) = a`` for any dtype.
* **Strength reduction**: ``x * 2**k`` becomes ``x << k`` (exact in two's
  complement), and for unsigned ``x``, ``x // 2**k`` becomes ``x >> k`` and
  ``x % 2**k`` becomes ``x & (2**k - 1)``: the code generator emits those
  directly, without the zero-divisor guards of its division.
* **Predicates.** An op with a ``pred`` operand has no effect where ``pred`` is
  false (the thread IR's rule). A constant-true ``pred`` is dropped
  (``pred = none``); with a constant-false one an op without results (a store,
  an atomic) is removed, and an op with an ``other`` operand (a load) is
  replaced by its ``other`` value, or zero.

New constants (shift counts, masks, zeros) are emitted right before their use;
constants and ops left unused are for ``eliminate-dead-code`` to remove.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tilelang.ir import ops as o
from tilelang.ir.ops import FieldKind, op_fields
from tilelang.ir.rewrite import map_operands, map_regions
from tilelang.ir.types import DType, ScalarType
from tilelang.ir.values import Block, Function, Module, Value

Const = int  # folded values: Python ints (bools as 0/1), wrapped to the dtype


def run(module: Module) -> Module:
    return Module(tuple(_Simplifier(f).function() for f in module.functions))


# -- integer semantics -------------------------------------------------------------------

def wrap(value: int, dt: DType) -> int:
    """``value`` reduced to ``dt``'s range (two's complement for signed; bool is 0/1)."""
    if dt.is_bool:
        return int(value != 0)
    v = value & ((1 << dt.bits) - 1)
    if dt.is_signed and v >= 1 << (dt.bits - 1):
        v -= 1 << dt.bits
    return v


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# Bool arithmetic is the interpreter's: computed on 0/1 in 8 bits, then != 0.
_BOOL_COMPUTE = DType("i8", 8, "int")


def fold_binary(fn: str, a: int, b: int, dt: DType) -> int | None:
    """``fn(a, b)`` in ``dt`` (operands already wrapped), or ``None`` where the result
    is undefined or an error; comparisons give 0/1."""
    if fn in o.COMPARE_FNS:
        return int({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
                    "eq": a == b, "ne": a != b}[fn])
    if dt.is_bool and fn not in ("and", "or", "xor"):
        r = fold_binary(fn, a, b, _BOOL_COMPUTE)
        return None if r is None else int(r != 0)
    if fn in ("shl", "shr"):
        if not 0 <= b < dt.bits:
            return None
        return wrap(a << b if fn == "shl" else a >> b, dt)  # Python >> is arithmetic
    if fn in ("floordiv", "mod"):
        if b == 0:
            return 0
        q = _trunc_div(a, b)
        return wrap(q if fn == "floordiv" else a - q * b, dt)
    if fn == "pow":
        return None if b < 0 else wrap(pow(a, b, 1 << dt.bits), dt)
    simple = {"add": a + b, "sub": a - b, "mul": a * b, "maximum": max(a, b),
              "minimum": min(a, b), "and": a & b, "or": a | b, "xor": a ^ b}
    return wrap(simple[fn], dt) if fn in simple else None


def fold_unary(fn: str, a: int, dt: DType) -> int | None:
    """``fn(a)`` in ``dt`` for an integer or bool ``a``; ``None`` for float-only fns."""
    if fn == "not":
        return int(a == 0)
    if fn == "invert":
        return int(not a) if dt.is_bool else wrap(~a, dt)
    if fn == "neg":
        return a if dt.is_bool else wrap(-a, dt)
    if fn == "abs":
        return wrap(abs(a), dt)
    return None


# Mantissa bits (with the implicit one), smallest normal and largest finite value.
_FLOATS: dict[str, tuple[int, float, float]] = {
    "f16": (11, 2.0 ** -14, 65504.0), "bf16": (8, 2.0 ** -126, 3.3895313892515355e38),
    "f32": (24, 2.0 ** -126, 3.4028234663852886e38),
    "f64": (53, 2.0 ** -1022, 1.7976931348623157e308),
    "f8e4m3": (4, 2.0 ** -6, 448.0), "f8e5m2": (3, 2.0 ** -14, 57344.0),
}


def exact_in_float(value: int, dt: DType) -> bool:
    """Whether the integer ``value`` is exactly representable in the float ``dt``."""
    if value == 0:
        return True
    spec = _FLOATS.get(dt.name)
    if spec is None or abs(value) >= 1 << 1000:
        return False
    bits, smallest, largest = spec
    x = abs(value)
    return smallest <= x <= largest and (x >> ((x & -x).bit_length() - 1)).bit_length() <= bits


def fold_cast(a: int, src: DType, dst: DType) -> int | float | None:
    if src.is_float:
        return None
    if dst.is_float:
        return float(a) if exact_in_float(a, dst) else None
    return wrap(a, dst)


def _foldable(dt: DType) -> bool:
    return dt.is_int or dt.is_bool


def _all_ones(dt: DType) -> int:
    return wrap(-1, dt)


def _log2(value: int) -> int | None:
    return value.bit_length() - 1 if value > 0 and value & (value - 1) == 0 else None


# -- the rewrite ---------------------------------------------------------------------------

class _Simplifier:
    """One forward walk of a function: constants known so far and replaced values."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.consts: dict[str, int | float] = {}
        self.subst: dict[str, Value] = {}
        self.names = {p.name for p in fn.params}
        self.probe: dict[str, int] = {}   # name prefix -> the first suffix not yet tried
        for op in o.walk(fn.body):
            self.names.update(r.name for r in op.results)
            for region in op.regions():
                self.names.update(a.name for a in region.args)
        self.out: list[o.Op] = []

    def function(self) -> Function:
        return replace(self.fn, body=self.block(self.fn.body))

    def block(self, block: Block) -> Block:
        saved, self.out = self.out, []
        for op in block.ops:
            op = map_operands(op, lambda v: self.subst.get(v.name, v))
            if op.regions():
                op = map_regions(op, self.block)
            else:
                op = self.simplify(op)
            if op is not None:
                if isinstance(op, o.ConstantOp):
                    self.consts[op.result.name] = op.value
                self.out.append(op)
        ops, self.out = tuple(self.out), saved
        return Block(block.args, ops)

    # -- helpers ---------------------------------------------------------------------
    def int_const(self, v: Value) -> int | None:
        """The value of ``v`` if it is a known integer or bool scalar constant."""
        c = self.consts.get(v.name)
        if c is None or not isinstance(v.type, ScalarType) or not _foldable(v.type.dtype):
            return None
        return wrap(int(c), v.type.dtype)

    def const_op(self, result: Value, value: int | float, loc: Any) -> o.ConstantOp:
        dt = result.type.dtype
        if dt.is_bool:
            value = bool(value)
        elif dt.is_float:
            value = float(value)
        return o.ConstantOp(results=(result,), loc=loc, value=value)

    def new_const(self, value: int, dt: DType, loc: Any) -> Value:
        """Emit a fresh constant (before the op being rewritten) and return it."""
        prefix = f"k{value}_{dt.name}_".replace("-", "m")
        # names are only ever added: the probe resumes where the last one for this
        # prefix stopped (restarting at 0 made hundreds of one constant quadratic)
        n = self.probe.get(prefix, 0)
        while f"{prefix}{n}" in self.names:
            n += 1
        self.probe[prefix] = n + 1
        v = Value(f"{prefix}{n}", ScalarType(dt))
        self.names.add(v.name)
        op = self.const_op(v, value, loc)
        self.consts[v.name] = op.value
        self.out.append(op)
        return v

    def forward(self, op: o.Op, value: Value) -> None:
        self.subst[op.result.name] = value

    # -- per op ------------------------------------------------------------------------
    def simplify(self, op: o.Op) -> o.Op | None:
        if any(kind is FieldKind.OPT_OPERAND and name == "pred"
               for name, kind in op_fields(type(op))):
            return self.predicated(op)
        if len(op.results) != 1 or not isinstance(op.result.type, ScalarType):
            return op
        if isinstance(op, o.BinaryOp):
            return self.binary(op)
        if isinstance(op, o.UnaryOp):
            a = self.int_const(op.value)
            r = None if a is None else fold_unary(op.fn, a, op.value.type.dtype)
            return op if r is None else self.const_op(op.result, r, op.loc)
        if isinstance(op, o.CastOp):
            if op.result.type.dtype.is_lowbit:   # a code, not a constant (lower-lowbit's)
                return op
            a = self.int_const(op.value)
            r = None if a is None else fold_cast(a, op.value.type.dtype, op.result.type.dtype)
            return op if r is None else self.const_op(op.result, r, op.loc)
        if isinstance(op, o.WhereOp):
            c = self.int_const(op.cond)
            if c is not None or op.x == op.y:
                self.forward(op, op.x if c is None or c else op.y)
                return None
        return op

    def binary(self, op: o.BinaryOp) -> o.Op | None:
        dt, fn = op.lhs.type.dtype, op.fn
        if not _foldable(dt):
            return op
        a, b = self.int_const(op.lhs), self.int_const(op.rhs)
        if a is not None and b is not None:
            r = fold_binary(fn, a, b, dt)
            return op if r is None else self.const_op(op.result, r, op.loc)
        if op.lhs == op.rhs and fn in o.COMPARE_FNS:
            return self.const_op(op.result, fn in ("eq", "le", "ge"), op.loc)
        zero, ones = 0, _all_ones(dt)
        one = 1
        # x op c, and c op x for the commutative fns.
        for x, c, right in ((op.lhs, b, True), (op.rhs, a, False)):
            if c is None:
                continue
            if fn in ("add", "or", "xor") and c == zero or fn == "mul" and c == one \
                    or fn == "and" and c == ones \
                    or right and fn in ("sub", "shl", "shr") and c == zero \
                    or right and fn == "floordiv" and c == one:
                self.forward(op, x)
                return None
            if fn == "mul" and c == zero or fn == "and" and c == zero \
                    or right and fn == "mod" and c == one:
                return self.const_op(op.result, 0, op.loc)
            if fn == "or" and c == ones:
                return self.const_op(op.result, ones, op.loc)
            if dt.is_int:
                reduced = self.strength(op, x, c, right)
                if reduced is not None:
                    return reduced
        return op

    def strength(self, op: o.BinaryOp, x: Value, c: int, right: bool) -> o.Op | None:
        dt, fn = op.lhs.type.dtype, op.fn
        k = _log2(c & ((1 << dt.bits) - 1))  # 2**(bits-1) is negative in a signed dtype
        if k is None or k == 0:
            return None
        if fn == "mul":
            new_fn, rhs = "shl", k
        elif right and not dt.is_signed and fn == "floordiv":
            new_fn, rhs = "shr", k
        elif right and not dt.is_signed and fn == "mod":
            new_fn, rhs = "and", c - 1
        else:
            return None
        return replace(op, fn=new_fn, lhs=x, rhs=self.new_const(rhs, dt, op.loc))

    def predicated(self, op: o.Op) -> o.Op | None:
        pred = self.int_const(op.pred) if op.pred is not None else None
        if pred is None:
            return op
        if pred:
            return replace(op, pred=None)
        if not op.results:
            return None                      # a store or atomic that no thread performs
        if not any(name == "other" for name, _ in op_fields(type(op))):
            return op
        other = op.other
        if other is None:
            first = op.results[0]
            self.out.append(self.const_op(first, 0, op.loc))
            self.consts[first.name] = 0
            other = first
            rest = op.results[1:]
        else:
            rest = op.results
        for r in rest:
            self.subst[r.name] = other
        return None


__all__ = ["exact_in_float", "fold_binary", "fold_cast", "fold_unary", "run", "wrap"]
