"""simplify: constant folding, identities, strength reduction and predicates, checked as
IR text and against the interpreter's scalar semantics."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilelang.ir.ops import PrintOp
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import DTYPES_BY_NAME
from tilelang.ir.values import Function
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES
from tilelang.passes.tile.simplify import exact_in_float
from tilelang.interp.ops import COMPILERS, make_scalar


def apply(text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES["simplify"](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


def kernel(body: str, params: str = "%x: i32, %y: i32") -> str:
    return f"module {{\n  func @k({params}) {{\n{textwrap.dedent(body)}  tl.return()\n  }}\n}}\n"


def test_integer_constants_fold_with_wrap_around_and_c_division():
    before = kernel("""
    %a = tl.constant() {value = 2147483647} : i32
    %b = tl.constant() {value = 1} : i32
    %m = tl.constant() {value = -7} : i32
    %two = tl.constant() {value = 2} : i32
    %zero = tl.constant() {value = 0} : i32
    %s = tl.binary(lhs = %a, rhs = %b) {fn = "add"} : i32
    %q = tl.binary(lhs = %m, rhs = %two) {fn = "floordiv"} : i32
    %r = tl.binary(lhs = %m, rhs = %two) {fn = "mod"} : i32
    %z = tl.binary(lhs = %m, rhs = %zero) {fn = "floordiv"} : i32
    %c = tl.binary(lhs = %q, rhs = %r) {fn = "lt"} : bool
    %w = tl.cast(value = %s) : i8
    %n = tl.unary(value = %w) {fn = "neg"} : i8
    tl.print(values = [%s, %q, %r, %z, %c, %w, %n])
    """)
    after = kernel("""
    %a = tl.constant() {value = 2147483647} : i32
    %b = tl.constant() {value = 1} : i32
    %m = tl.constant() {value = -7} : i32
    %two = tl.constant() {value = 2} : i32
    %zero = tl.constant() {value = 0} : i32
    %s = tl.constant() {value = -2147483648} : i32
    %q = tl.constant() {value = -3} : i32
    %r = tl.constant() {value = -1} : i32
    %z = tl.constant() {value = 0} : i32
    %c = tl.constant() {value = true} : bool
    %w = tl.constant() {value = 0} : i8
    %n = tl.constant() {value = 0} : i8
    tl.print(values = [%s, %q, %r, %z, %c, %w, %n])
    """)
    assert apply(before) == norm(after)


def test_identities_forward_the_operand_or_give_a_constant():
    before = kernel("""
    %zero = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %ones = tl.constant() {value = -1} : i32
    %t = tl.constant() {value = true} : bool
    %a = tl.binary(lhs = %x, rhs = %zero) {fn = "add"} : i32
    %b = tl.binary(lhs = %one, rhs = %a) {fn = "mul"} : i32
    %c = tl.binary(lhs = %b, rhs = %one) {fn = "floordiv"} : i32
    %d = tl.binary(lhs = %c, rhs = %ones) {fn = "and"} : i32
    %e = tl.binary(lhs = %d, rhs = %zero) {fn = "shl"} : i32
    %f = tl.binary(lhs = %y, rhs = %zero) {fn = "mul"} : i32
    %g = tl.binary(lhs = %y, rhs = %one) {fn = "mod"} : i32
    %h = tl.binary(lhs = %y, rhs = %ones) {fn = "or"} : i32
    %i = tl.where(cond = %t, x = %e, y = %y) : i32
    %p = tl.binary(lhs = %x, rhs = %y) {fn = "lt"} : bool
    %j = tl.where(cond = %p, x = %i, y = %i) : i32
    %k = tl.binary(lhs = %x, rhs = %x) {fn = "le"} : bool
    tl.print(values = [%j, %f, %g, %h, %k])
    """)
    after = kernel("""
    %zero = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %ones = tl.constant() {value = -1} : i32
    %t = tl.constant() {value = true} : bool
    %f = tl.constant() {value = 0} : i32
    %g = tl.constant() {value = 0} : i32
    %h = tl.constant() {value = -1} : i32
    %p = tl.binary(lhs = %x, rhs = %y) {fn = "lt"} : bool
    %k = tl.constant() {value = true} : bool
    tl.print(values = [%x, %f, %g, %h, %k])
    """)
    assert apply(before) == norm(after)


def test_powers_of_two_become_shifts_and_unsigned_division_a_shift_and_a_mask():
    before = kernel("""
    %eight = tl.constant() {value = 8} : i32
    %u8 = tl.constant() {value = 8} : u32
    %a = tl.binary(lhs = %eight, rhs = %x) {fn = "mul"} : i32
    %b = tl.binary(lhs = %x, rhs = %eight) {fn = "floordiv"} : i32
    %c = tl.binary(lhs = %u, rhs = %u8) {fn = "floordiv"} : u32
    %d = tl.binary(lhs = %u, rhs = %u8) {fn = "mod"} : u32
    tl.print(values = [%a, %b, %c, %d])
    """, params="%x: i32, %u: u32")
    after = kernel("""
    %eight = tl.constant() {value = 8} : i32
    %u8 = tl.constant() {value = 8} : u32
    %k3_i32_0 = tl.constant() {value = 3} : i32
    %a = tl.binary(lhs = %x, rhs = %k3_i32_0) {fn = "shl"} : i32
    %b = tl.binary(lhs = %x, rhs = %eight) {fn = "floordiv"} : i32
    %k3_u32_0 = tl.constant() {value = 3} : u32
    %c = tl.binary(lhs = %u, rhs = %k3_u32_0) {fn = "shr"} : u32
    %k7_u32_0 = tl.constant() {value = 7} : u32
    %d = tl.binary(lhs = %u, rhs = %k7_u32_0) {fn = "and"} : u32
    tl.print(values = [%a, %b, %c, %d])
    """, params="%x: i32, %u: u32")
    # signed // 8 truncates toward zero, an arithmetic shift rounds down: it stays
    assert apply(before) == norm(after)


def test_undefined_results_and_float_arithmetic_are_left_alone():
    text = kernel("""
    %one = tl.constant() {value = 1} : i32
    %big = tl.constant() {value = 32} : i32
    %neg = tl.constant() {value = -1} : i32
    %s = tl.binary(lhs = %one, rhs = %big) {fn = "shl"} : i32
    %p = tl.binary(lhs = %big, rhs = %neg) {fn = "pow"} : i32
    %fz = tl.constant() {value = 0.0} : f32
    %f1 = tl.constant() {value = 1.0} : f32
    %f3 = tl.constant() {value = 3.0} : f32
    %a = tl.binary(lhs = %f, rhs = %fz) {fn = "add"} : f32
    %b = tl.binary(lhs = %f, rhs = %f1) {fn = "mul"} : f32
    %c = tl.binary(lhs = %f3, rhs = %f3) {fn = "mul"} : f32
    %odd = tl.constant() {value = 2049} : i32
    %h = tl.cast(value = %odd) : f16
    %e = tl.cast(value = %f3) : i32
    tl.print(values = [%s, %p, %a, %b, %c, %h, %e])
    """, params="%f: f32")
    # 1 << 32 is undefined, an integer to a negative power an error, x + 0.0 is not x
    # for x = -0.0, and 2049 is not an f16
    assert apply(text) == norm(text)


def test_exact_casts_to_float_fold():
    before = kernel("""
    %i = tl.constant() {value = 2048} : i32
    %t = tl.constant() {value = true} : bool
    %h = tl.cast(value = %i) : f16
    %g = tl.cast(value = %t) : f32
    %b = tl.cast(value = %i) : bool
    tl.print(values = [%h, %g, %b])
    """)
    after = kernel("""
    %i = tl.constant() {value = 2048} : i32
    %t = tl.constant() {value = true} : bool
    %h = tl.constant() {value = 2048.0} : f16
    %g = tl.constant() {value = 1.0} : f32
    %b = tl.constant() {value = true} : bool
    tl.print(values = [%h, %g, %b])
    """)
    assert apply(before) == norm(after)


def test_constant_predicates_are_dropped_or_remove_the_access():
    before = kernel("""
    %t = tl.constant() {value = true} : bool
    %f = tl.constant() {value = false} : bool
    %zero = tl.constant() {value = 0} : i32
    %ptr = th.tensor_ptr(tensor = %X) : i64
    %v = th.ld_global(addr = %ptr, pred = %t, other = none) {dtype = f32, vec = 1} : f32
    %w0, %w1 = th.ld_global(addr = %ptr, pred = %f, other = none) {dtype = f32, vec = 2} : f32, f32
    %o = tl.constant() {value = 5.0} : f32
    %u = th.ld_global(addr = %ptr, pred = %f, other = %o) {dtype = f32, vec = 1} : f32
    th.st_global(addr = %ptr, values = [%v, %w1, %u], pred = %t)
    th.st_global(addr = %ptr, values = [%v], pred = %f)
    th.st_shared(addr = %zero, values = [%v], pred = %f)
    th.atomic_add_global(addr = %ptr, value = %v, pred = %f)
    """, params="%X: tensor<f32, 1>")
    after = kernel("""
    %t = tl.constant() {value = true} : bool
    %f = tl.constant() {value = false} : bool
    %zero = tl.constant() {value = 0} : i32
    %ptr = th.tensor_ptr(tensor = %X) : i64
    %v = th.ld_global(addr = %ptr, pred = none, other = none) {dtype = f32, vec = 1} : f32
    %w0 = tl.constant() {value = 0.0} : f32
    %o = tl.constant() {value = 5.0} : f32
    th.st_global(addr = %ptr, values = [%v, %w0, %o], pred = none)
    """, params="%X: tensor<f32, 1>")
    assert apply(before) == norm(after)


def test_folding_reaches_into_regions():
    before = kernel("""
    %c0 = tl.constant() {value = 0} : i32
    %c4 = tl.constant() {value = 4} : i32
    tl.for(lower = %c0, upper = %x, step = %c4) (body: ^(%i: i32) {
      %a = tl.binary(lhs = %c4, rhs = %c4) {fn = "mul"} : i32
      %b = tl.binary(lhs = %i, rhs = %c0) {fn = "add"} : i32
      tl.print(values = [%a, %b])
      tl.yield()
    })
    """, params="%x: i32")
    after = kernel("""
    %c0 = tl.constant() {value = 0} : i32
    %c4 = tl.constant() {value = 4} : i32
    tl.for(lower = %c0, upper = %x, step = %c4) (body: ^(%i: i32) {
      %a = tl.constant() {value = 16} : i32
      tl.print(values = [%a, %i])
      tl.yield()
    })
    """, params="%x: i32")
    assert apply(before) == norm(after)


def test_an_integer_is_exact_in_a_float_within_its_mantissa_and_range():
    f = DTYPES_BY_NAME
    assert exact_in_float(2048, f["f16"]) and not exact_in_float(2049, f["f16"])
    assert exact_in_float(65504, f["f16"]) and not exact_in_float(65536, f["f16"])
    assert exact_in_float(-256, f["bf16"]) and not exact_in_float(257, f["bf16"])
    assert exact_in_float(1 << 24, f["f32"]) and not exact_in_float((1 << 24) + 1, f["f32"])
    assert exact_in_float(448, f["f8e4m3"]) and not exact_in_float(512, f["f8e4m3"])
    assert exact_in_float((1 << 53) - 1, f["f64"]) and not exact_in_float((1 << 53) + 1, f["f64"])


# -- property: simplifying never changes a value ----------------------------------------------

INT_DTYPES = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bool"]
BINARY = ["add", "sub", "mul", "floordiv", "mod", "maximum", "minimum", "pow",
          "and", "or", "xor", "shl", "shr"]
COMPARE = ["lt", "le", "gt", "ge", "eq", "ne"]


def _interesting(dt: str) -> st.SearchStrategy[int]:
    d = DTYPES_BY_NAME[dt]
    if d.is_bool:
        return st.sampled_from([0, 1])
    lo, hi = (-(1 << (d.bits - 1)), (1 << (d.bits - 1)) - 1) if d.is_signed else \
        (0, (1 << d.bits) - 1)
    # identities and folds live at 0, 1, all ones, powers of two and the ends of the range
    edges = [0, 1, 2, 3, 4, 8, 16, d.bits - 1, d.bits, lo, hi, -1, -2, lo + 1]
    return st.one_of(st.sampled_from([e for e in (0, 1, -1) if lo <= e <= hi]),
                     st.sampled_from([e for e in edges if lo <= e <= hi]),
                     st.integers(lo, hi))


class _Tree:
    """Random straight-line scalar code, written as IR text."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw, self.lines, self.params, self.n = draw, [], {}, 0

    def fresh(self) -> str:
        self.n += 1
        return f"%v{self.n}"

    def leaf(self, dt: str) -> str:
        if self.draw(st.booleans()):
            name = f"%p{len(self.params)}"
            self.params[name] = (dt, self.draw(_interesting(dt)))
            return name
        return self.const(dt, self.draw(_interesting(dt)))

    def const(self, dt: str, value: int) -> str:
        r = self.fresh()
        text = ("true" if value else "false") if dt == "bool" else str(value)
        self.lines.append(f"{r} = tl.constant() {{value = {text}}} : {dt}")
        return r

    def expr(self, dt: str, depth: int) -> str:
        kind = self.draw(st.sampled_from(["leaf", "binary", "binary", "unary", "cast",
                                          "compare", "where"]) if depth else st.just("leaf"))
        if kind == "leaf" or kind == "compare" and dt != "bool":
            return self.leaf(dt)
        r = self.fresh()
        if kind == "binary":
            fn = self.draw(st.sampled_from(BINARY))
            a = self.expr(dt, depth - 1)
            # interpreter: an integer to a negative power is an error, not a value
            b = self.const(dt, self.draw(st.integers(0, 6))) if fn == "pow" else \
                self.expr(dt, depth - 1)
            self.lines.append(f'{r} = tl.binary(lhs = {a}, rhs = {b}) {{fn = "{fn}"}} : {dt}')
        elif kind == "unary":
            fn = self.draw(st.sampled_from(["neg", "not", "invert", "abs"]))
            a = self.expr(dt, depth - 1)
            self.lines.append(f'{r} = tl.unary(value = {a}) {{fn = "{fn}"}} : {dt}')
        elif kind == "cast":
            a = self.expr(self.draw(st.sampled_from(INT_DTYPES)), depth - 1)
            self.lines.append(f"{r} = tl.cast(value = {a}) : {dt}")
        elif kind == "compare":
            src = self.draw(st.sampled_from(INT_DTYPES))
            a, b = self.expr(src, depth - 1), self.expr(src, depth - 1)
            fn = self.draw(st.sampled_from(COMPARE))
            self.lines.append(f'{r} = tl.binary(lhs = {a}, rhs = {b}) {{fn = "{fn}"}} : bool')
        else:
            c = self.expr("bool", depth - 1)
            a = self.expr(dt, depth - 1)
            b = a if self.draw(st.booleans()) else self.expr(dt, depth - 1)
            self.lines.append(f"{r} = tl.where(cond = {c}, x = {a}, y = {b}) : {dt}")
        return r


@st.composite
def trees(draw: st.DrawFn) -> tuple[str, dict[str, tuple[str, int]]]:
    t = _Tree(draw)
    results = [t.expr(draw(st.sampled_from(INT_DTYPES)), draw(st.integers(1, 4)))
               for _ in range(draw(st.integers(1, 3)))]
    params = ", ".join(f"{name}: {dt}" for name, (dt, _) in t.params.items())
    body = "\n".join(t.lines + [f"tl.print(values = [{', '.join(results)}])"])
    text = f"module {{\n  func @k({params}) {{\n{body}\ntl.return()\n  }}\n}}\n"
    return text, t.params


def evaluate(fn: Function, args: dict[str, tuple[str, int]]) -> list[Any]:
    """The values the function's ``tl.print`` prints, computed op by op with the
    interpreter's closures (its scalar semantics are the oracle)."""
    slots: dict[str, int] = {}

    def slot(v: Any) -> int:
        return slots.setdefault(v.name, len(slots) + 1)

    for p in fn.params:
        slot(p)
    closures, printed = [], None
    for op in fn.body.ops:
        if isinstance(op, PrintOp):
            printed = [slot(v) for v in op.values]
        elif type(op) in COMPILERS:
            closures.append(COMPILERS[type(op)](op, slot))
    env: list[Any] = [None] * (len(slots) + 1)
    for p in fn.params:
        dt, value = args[f"%{p.name}"]
        env[slots[p.name]] = make_scalar(value, DTYPES_BY_NAME[dt])
    with np.errstate(all="ignore"):
        for run in closures:
            run(env)
    return [(env[s].dtype, env[s].item()) for s in printed]


@settings(max_examples=600, deadline=None)
@given(trees())
def test_simplified_code_computes_what_the_original_computes(case):
    text, args = case
    module = parse_module(text)
    verify_module(module)
    simplified = PASSES["simplify"](module)
    verify_module(simplified)
    want = evaluate(module.functions[0], args)
    got = evaluate(simplified.functions[0], args)
    assert got == want, print_module(simplified)


# -- every op, dtype and interesting constant, against every interesting runtime value ------------

def _values(dt: str) -> list[int]:
    d = DTYPES_BY_NAME[dt]
    if d.is_bool:
        return [0, 1]
    lo, hi = (-(1 << (d.bits - 1)), (1 << (d.bits - 1)) - 1) if d.is_signed else \
        (0, (1 << d.bits) - 1)
    # ... and integers just wider than a float's mantissa or past its largest value
    vals = {0, 1, 2, 3, 4, 5, 7, 8, 16, d.bits - 1, d.bits, lo, hi, lo + 1, hi - 1,
            -1, -2, -3, -7, -8, 1 << (d.bits - 2), 17, 257, -257, 2049, 4096, 65504, 65536,
            (1 << 24) + 1, 1 << 40, (1 << 53) + 1}
    return sorted(v for v in vals if lo <= v <= hi)


def _run_vectorized(text: str, x: np.ndarray) -> np.ndarray:
    """Evaluate ``text`` (one parameter ``%x``, one printed value) with ``x`` holding many
    runtime values at once: the interpreter's closures are elementwise."""
    fn = parse_module(text).functions[0]
    slots: dict[str, int] = {}

    def slot(v: Any) -> int:
        return slots.setdefault(v.name, len(slots) + 1)

    slot(fn.params[0])
    closures = [COMPILERS[type(op)](op, slot) for op in fn.body.ops if type(op) in COMPILERS]
    out = slot(next(op for op in fn.body.ops if isinstance(op, PrintOp)).values[0])
    env: list[Any] = [None] * (len(slots) + 1)
    env[slots[fn.params[0].name]] = x
    with np.errstate(all="ignore"):
        for run in closures:
            run(env)
    return np.broadcast_to(np.asarray(env[out]), x.shape)


def _same(text: str, dt: str) -> None:
    d = DTYPES_BY_NAME[dt]
    x = np.array([make_scalar(v, d) for v in _values(dt)])
    simplified = print_module(PASSES["simplify"](parse_module(text)))
    want, got = _run_vectorized(text, x), _run_vectorized(simplified, x)
    # bit for bit: a fold must not even change a NaN
    assert want.dtype == got.dtype and np.ascontiguousarray(want).tobytes() == \
        np.ascontiguousarray(got).tobytes(), (text, simplified, x)


def _literal(value: int, dt: str) -> str:
    return ("true" if value else "false") if dt == "bool" else str(value)


@pytest.mark.parametrize("dt", INT_DTYPES)
def test_every_binary_op_with_one_constant_operand(dt):
    for fn in BINARY + COMPARE:
        rt = "bool" if fn in COMPARE else dt
        for c in _values(dt):
            if fn == "pow" and c < 0:
                continue                     # an error in the interpreter
            for lhs, rhs in (("%x", "%c"), ("%c", "%x")):
                if fn == "pow" and rhs == "%x":
                    continue                 # runtime exponents include negative ones
                _same(kernel(f"""
                %c = tl.constant() {{value = {_literal(c, dt)}}} : {dt}
                %r = tl.binary(lhs = {lhs}, rhs = {rhs}) {{fn = "{fn}"}} : {rt}
                tl.print(values = [%r])
                """, params=f"%x: {dt}"), dt)


@pytest.mark.parametrize("dt", INT_DTYPES)
def test_every_unary_op_and_cast_of_a_constant(dt):
    for c in _values(dt):
        for fn in ("neg", "not", "invert", "abs"):
            _same(kernel(f"""
            %c = tl.constant() {{value = {_literal(c, dt)}}} : {dt}
            %r = tl.unary(value = %c) {{fn = "{fn}"}} : {dt}
            %s = tl.binary(lhs = %r, rhs = %x) {{fn = "eq"}} : bool
            tl.print(values = [%r])
            """, params=f"%x: {dt}"), dt)
        for dst in INT_DTYPES + ["f16", "bf16", "f32", "f64", "f8e4m3"]:
            _same(kernel(f"""
            %c = tl.constant() {{value = {_literal(c, dt)}}} : {dt}
            %r = tl.cast(value = %c) : {dst}
            tl.print(values = [%r])
            """, params=f"%x: {dt}"), dt)


def test_new_constants_take_the_first_free_name_of_their_value():
    # %k3_i32_1 exists: the shifts get k3_i32_0, then k3_i32_2 and k3_i32_3
    before = kernel("""
    %k3_i32_1 = tl.constant() {value = 5} : i32
    %eight = tl.constant() {value = 8} : i32
    %a = tl.binary(lhs = %x, rhs = %eight) {fn = "mul"} : i32
    %b = tl.binary(lhs = %y, rhs = %eight) {fn = "mul"} : i32
    %c = tl.binary(lhs = %k3_i32_1, rhs = %x) {fn = "mul"} : i32
    %d = tl.binary(lhs = %c, rhs = %eight) {fn = "mul"} : i32
    tl.print(values = [%a, %b, %d])
    """)
    out = apply(before)
    shifts = [line.split("rhs = %")[1].split(")")[0] for line in out.splitlines()
              if '{fn = "shl"}' in line]
    assert shifts == ["k3_i32_0", "k3_i32_2", "k3_i32_3"]
