"""The divisibility analysis: concrete cases, and a property test against brute force.

The property test builds random integer expressions over constants, a program
id, a runtime argument, tensor dims and strides and a loop's induction
variable, evaluates them on many samples with the interpreter's own closures
(so wrap-around and C division are the IR's), and checks every divisor the
analysis claims.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilelang.ir import ops as o
from tilelang.ir.builder import Builder
from tilelang.ir.parser import parse_module
from tilelang.ir.types import DType, ScalarType, TensorType, bool_, f32, i32, i64
from tilelang.ir.values import Block, Function, Value
from tilelang.passes.tile.divisibility import Divisibility
from tilelang.interp import ops as interp_ops


def analyse(text: str) -> tuple[Divisibility, dict[str, Value]]:
    fn = parse_module(text).functions[0]
    values = {r.name: r for op in o.walk(fn.body) for r in op.results}
    values.update({a.name: a for op in o.walk(fn.body) for r in op.regions() for a in r.args})
    return Divisibility(fn), values


KERNEL = """module {
  func @k(%X: tensor<f32, 2, aligned, unit_stride, divisible>, %Y: tensor<f32, 2>, %n: i32) {
    %pid = tl.program_id() {axis = 0} : i32
    %c4 = tl.constant() {value = 4} : i32
    %c0 = tl.constant() {value = 0} : i32
    %c1 = tl.constant() {value = 1} : i32
    %c64 = tl.constant() {value = 64} : i32
    %c6 = tl.constant() {value = 6} : i32
    %m0 = tl.binary(lhs = %pid, rhs = %c4) {fn = "mul"} : i32
    %odd = tl.binary(lhs = %m0, rhs = %c1) {fn = "add"} : i32
    %wide = tl.cast(value = %m0) : i64
    %six = tl.binary(lhs = %c6, rhs = %c0) {fn = "add"} : i32
    %xd1 = tl.tensor_dim(tensor = %X) {dim = 1} : i32
    %xs0 = tl.tensor_stride(tensor = %X) {dim = 0} : i32
    %xd0 = tl.tensor_dim(tensor = %X) {dim = 0} : i32
    %ys0 = tl.tensor_stride(tensor = %Y) {dim = 0} : i32
    %row = tl.binary(lhs = %pid, rhs = %xs0) {fn = "mul"} : i32
    tl.for(lower = %c0, upper = %n, step = %c1, inits = []) {kind = "range"} (body: ^(%k: i32) {
      %c32 = tl.constant() {value = 32} : i32
      %kk = tl.binary(lhs = %k, rhs = %c32) {fn = "mul"} : i32
      %sum = tl.binary(lhs = %kk, rhs = %m0) {fn = "add"} : i32
      tl.yield(values = [])
    })
    tl.for(lower = %c0, upper = %n, step = %c64, inits = []) {kind = "pipeline", stages = 3} (body: ^(%j: i32) {
      tl.yield(values = [])
    })
    tl.return()
  }
}
"""


def test_program_id_times_a_constant_and_loop_induction_variables():
    d, v = analyse(KERNEL)
    assert d.divisor(v["m0"]) == 4 and d.is_multiple(v["m0"], 4)
    assert not d.is_multiple(v["m0"], 8) and not d.is_multiple(v["odd"], 2)
    assert d.divisor(v["wide"]) == 4
    assert d.divisor(v["k"]) == 1 and d.divisor(v["kk"]) == 32 and d.divisor(v["sum"]) == 4
    assert d.divisor(v["j"]) == 64            # lower 0, step 64
    assert d.is_multiple(v["c0"], 1 << 20) and d.divisor(v["c0"]) == 1 << 32


def test_constants_are_known_exactly_and_other_divisors_only_as_powers_of_two():
    d, v = analyse(KERNEL)
    # 6 + 0 is no constant op: only its factor 2 is tracked
    assert d.constant(v["six"]) is None and d.is_multiple(v["six"], 2)
    assert not d.is_multiple(v["six"], 3)
    assert d.is_multiple(v["c6"], 3) and not d.is_multiple(v["c6"], 4)
    assert not d.is_multiple(v["m0"], 12)


def test_tensor_dims_and_strides_follow_the_divisible_fact():
    d, v = analyse(KERNEL)
    assert d.divisor(v["xd1"]) == 4 and d.divisor(v["xs0"]) == 4   # 16 bytes of f32
    assert d.divisor(v["xd0"]) == 1 and d.divisor(v["ys0"]) == 1   # no fact there
    assert d.divisor(v["row"]) == 4


def test_long_chains_do_not_recurse_deeply():
    b = Builder()
    fn_ops: list[o.Op] = []
    c8 = b.fresh(ScalarType(i32))
    fn_ops.append(o.ConstantOp(results=(c8,), value=8))
    acc = c8
    for _ in range(5000):
        nxt = b.fresh(ScalarType(i32))
        fn_ops.append(o.BinaryOp(results=(nxt,), fn="add", lhs=acc, rhs=c8))
        acc = nxt
    fn = Function("chain", (), Block((), tuple(fn_ops) + (o.ReturnOp(),)))
    assert Divisibility(fn).divisor(acc) == 8


# -- property: every claimed divisor divides every sampled value ---------------

SAMPLES = 96
BINARY = ("add", "sub", "mul", "maximum", "minimum", "and", "or", "xor", "mod", "floordiv",
          "shl", "shr")


class _Expr:
    """A random expression being built: the ops, the values, the leaves' samples."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.b = Builder()
        self.ops: list[o.Op] = []
        self.vals: list[Value] = []
        self.leaves: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def emit(self, cls: type[o.Op], dtype: DType, **fields: Any) -> Value:
        r = self.b.fresh(ScalarType(dtype))
        self.ops.append(cls(results=(r,), **fields))
        if dtype.is_int:
            self.vals.append(r)
        return r

    def const(self, dtype: DType = i32) -> Value:
        if self.draw(st.booleans()):
            c = self.draw(st.integers(-70, 70)) << self.draw(st.integers(0, 12))
        else:
            c = self.draw(st.sampled_from([0, 1, -1, 2**31 - 1, -2**31, 1 << 30]))
        return self.emit(o.ConstantOp, dtype, value=c)

    def leaf(self, r: Value, samples: np.ndarray) -> Value:
        self.leaves[r.name] = samples
        self.vals.append(r)
        return r

    def pick(self, dtype: DType) -> Value:
        have = [v for v in self.vals if v.type.dtype == dtype]
        return self.draw(st.sampled_from(have)) if have else self.const(dtype)

    def step(self) -> None:
        kind = self.draw(st.sampled_from(["const", "binary", "binary", "binary", "unary",
                                          "where", "cast"]))
        dtype = self.draw(st.sampled_from([i32, i32, i64]))
        if kind == "const":
            self.const(dtype)
        elif kind == "binary":
            fn = self.draw(st.sampled_from(BINARY))
            lhs = self.pick(dtype)
            rhs = self.const(dtype) if fn in ("shl", "shr", "floordiv") and \
                self.draw(st.booleans()) else self.pick(dtype)
            self.emit(o.BinaryOp, dtype, fn=fn, lhs=lhs, rhs=rhs)
        elif kind == "unary":
            self.emit(o.UnaryOp, dtype, fn=self.draw(st.sampled_from(["neg", "abs"])),
                      value=self.pick(dtype))
        elif kind == "where":
            x, y = self.pick(dtype), self.pick(dtype)
            c = self.emit(o.BinaryOp, bool_, fn="lt", lhs=x, rhs=self.pick(dtype))
            self.emit(o.WhereOp, dtype, cond=c, x=x, y=y)
        else:
            src = self.pick(i64 if dtype == i32 else i32)
            self.emit(o.CastOp, dtype, value=src)


@st.composite
def expressions(draw: Any) -> tuple[Function, dict[str, np.ndarray], list[Value]]:
    e = _Expr(draw)
    X = e.b.fresh(TensorType(f32, 2, divisible=True), "X")
    n = e.b.fresh(ScalarType(i32), "n")
    rng = e.rng
    top: list[o.Op] = []
    pid = e.leaf(e.b.fresh(ScalarType(i32), "pid"), rng.integers(0, 1 << 16, SAMPLES))
    top.append(o.ProgramIdOp(results=(pid,), axis=0))
    e.leaf(n, rng.integers(-2**31, 2**31, SAMPLES))
    for cls, dim, div in ((o.TensorDimOp, 1, 4), (o.TensorStrideOp, 0, 4),
                          (o.TensorDimOp, 0, 1)):
        r = e.b.fresh(ScalarType(i32))
        top.append(cls(results=(r,), tensor=X, dim=dim))
        e.leaf(r, rng.integers(0, 1 << 20, SAMPLES) * div)
    lower, step = e.const(), e.const()
    top.extend(e.ops)
    e.ops.clear()
    iv = e.b.fresh(ScalarType(i32), "iv")
    lo, st_ = (next(op.value for op in top if op.results and op.results[0] == v)
               for v in (lower, step))
    k = rng.integers(0, 200, SAMPLES)
    e.leaf(iv, ((lo + k * st_ + 2**31) % 2**32 - 2**31))
    for _ in range(draw(st.integers(1, 14))):
        e.step()
    body = Block((iv,), tuple(e.ops) + (o.YieldOp(values=()),))
    loop = o.ForOp(lower=lower, upper=n, step=step, body=body)
    fn = Function("f", (X, n), Block((X, n), tuple(top) + (loop, o.ReturnOp())))
    return fn, e.leaves, [v for v in e.vals]


def evaluate(fn: Function, leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every int value of ``fn`` on the samples, computed by the interpreter's closures."""
    slots: dict[str, int] = {}

    def slot(v: Value) -> int:
        return slots.setdefault(v.name, len(slots) + 1)

    env: list[Any] = [None] * 4096
    for name, samples in leaves.items():  # every leaf is an i32
        env[slot(Value(name, ScalarType(i32)))] = samples.astype(np.int32)
    for op in o.walk(fn.body):
        if op.results and op.results[0].name in leaves:
            continue
        if isinstance(op, o.WhereOp):  # the scalar closure branches on one condition
            env[slot(op.result)] = np.where(env[slot(op.cond)], env[slot(op.x)],
                                            env[slot(op.y)])
        elif type(op) in (o.ConstantOp, o.BinaryOp, o.UnaryOp, o.CastOp):
            interp_ops.COMPILERS[type(op)](op, slot)(env)
    return {name: env[i] for name, i in slots.items() if env[i] is not None}


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_claimed_divisors_divide_every_sampled_value(case):
    fn, leaves, values = case
    with np.errstate(all="ignore"):
        got = evaluate(fn, leaves)
    d = Divisibility(fn)
    for v in values:
        x = np.broadcast_to(np.asarray(got[v.name]), (SAMPLES,))
        bits = v.type.dtype.bits
        u = x.astype(np.int64).astype(np.uint64) & np.uint64((1 << bits) - 1)
        div = d.divisor(v)
        assert div & (div - 1) == 0 and 1 <= div <= 1 << bits
        assert not np.any(u & np.uint64(div - 1)), (v, div, x[:8])
        for n in range(1, 17):
            if d.is_multiple(v, n):
                assert all(int(a) % n == 0 for a in x), (v, n, x[:8])
