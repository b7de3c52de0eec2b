"""The printer: types, attributes, the generic op form, functions and modules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from tilelang.errors import IRError, SourceLoc
from tilelang.ir import ops
from tilelang.ir.ops import Op, attr, operand, operands, opt_operand, region
from tilelang.ir.printer import print_attr, print_function, print_module, print_op, print_type
from tilelang.ir.types import (
    ScalarType, SharedType, TensorType, TileType, bf16, bool_, f8e4m3, f32, i32,
)
from tilelang.ir.values import Block, Function, Module, Value

I32 = ScalarType(i32)


def v(name: str, t=I32) -> Value:
    return Value(name, t)


@pytest.mark.parametrize("t, text", [
    (ScalarType(i32), "i32"),
    (ScalarType(bool_), "bool"),
    (TileType((64, 32), bf16), "tile<64x32xbf16>"),
    (TileType((4,), f8e4m3), "tile<4xf8e4m3>"),
    (SharedType((64, 32), bf16), "shared<64x32xbf16>"),
    (TensorType(bf16, 2), "tensor<bf16, 2>"),
    (TensorType(f32, 1, aligned=True, divisible=True), "tensor<f32, 1, aligned, divisible>"),
])
def test_print_type(t, text):
    assert print_type(t) == text


@pytest.mark.parametrize("t", [TileType((), f32), SharedType((), f32)])
def test_zero_d_tiles_have_no_text(t):
    with pytest.raises(IRError, match="0-d"):
        print_type(t)


@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"), (1, "1"), (0, "0"), (-7, "-7"), (10**30, str(10**30)),
    (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (1e16, "1e+16"), (2.5e-300, "2.5e-300"),
    (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"),
    (None, "none"), (bf16, "bf16"), ("bf16", '"bf16"'),
    ('a "q" \\ \n\t\r', r'"a \"q\" \\ \n\t\r"'), ("\x00\x7f\u2028", r'"\x00\x7f\u2028"'),
    ("héllo", '"héllo"'), ((), "[]"), ((1, (True, "x"), None), '[1, [true, "x"], none]'),
])
def test_print_attr(value, text):
    assert print_attr(value) == text


def test_unprintable_attr_is_an_error():
    with pytest.raises(IRError, match="no text form"):
        print_attr({"a": 1})


def test_simple_op():
    op = ops.ProgramIdOp(results=(v("pid"),), axis=0, loc=SourceLoc("matmul.py", 10, 4))
    assert print_op(op) == '%pid = tl.program_id() {axis = 0} : i32 loc("matmul.py":10:4)'


def test_op_without_results_attrs_or_loc():
    assert print_op(ops.ReturnOp()) == "tl.return()"
    assert print_op(ops.BarrierOp()) == "tl.barrier()"


def test_operand_kinds():
    a = v("A", TensorType(bf16, 2))
    t = v("t", TileType((64, 32), bf16))
    op = ops.LoadOp(results=(t,), tensor=a, offsets=(v("0"), v("1")),
                    other=v("z", ScalarType(bf16)))
    assert print_op(op) == ("%t = tl.load(tensor = %A, offsets = [%0, %1], mask = none, "
                            "other = %z) {vec = 1} : tile<64x32xbf16>")
    assert print_op(ops.YieldOp(values=())) == "tl.yield(values = [])"


def test_attr_fields_print_in_field_order_with_defaults():
    op = ops.ReduceOp(results=(v("s", ScalarType(f32)),), fn="sum", axis=0,
                      value=v("x", TileType((8,), f32)))
    assert print_op(op) == ('%s = tl.reduce(value = %x) {fn = "sum", axis = 0, keepdims = false}'
                            " : f32")


def test_names_that_are_not_identifiers_are_quoted():
    op = ops.UnaryOp(results=(v("a b"),), fn="neg", value=v('q"'))
    assert print_op(op) == r'%"a b" = tl.unary(value = %"q\"") {fn = "neg"} : i32'
    assert print_op(ops.UnaryOp(results=(v("x.1"),), fn="neg", value=v("é"))) == \
        '%x.1 = tl.unary(value = %é) {fn = "neg"} : i32'


def test_for_region():
    acc = TileType((64, 64), f32)
    body = Block((v("k"), v("a", acc)), (ops.YieldOp(values=(v("a", acc),)),))
    op = ops.ForOp(results=(v("acc", acc),), kind="pipeline", stages=3, lower=v("c0"),
                   upper=v("n"), step=v("c1"), inits=(v("z0", acc),), body=body,
                   loc=SourceLoc("m.py", 14, 4))
    assert print_op(op) == (
        "%acc = tl.for(lower = %c0, upper = %n, step = %c1, inits = [%z0]) "
        '{kind = "pipeline", stages = 3} : tile<64x64xf32> '
        "(body: ^(%k: i32, %a: tile<64x64xf32>) {\n"
        "  tl.yield(values = [%a])\n"
        '}) loc("m.py":14:4)')


def test_if_regions_nest_and_indent():
    inner = ops.IfOp(cond=v("c", ScalarType(bool_)), then=Block((), (ops.YieldOp(),)),
                     orelse=Block((), ()))
    op = ops.IfOp(results=(v("r"), v("s", ScalarType(f32))), cond=v("c", ScalarType(bool_)),
                  then=Block((), (inner, ops.YieldOp(values=(v("x"), v("y", ScalarType(f32)))))),
                  orelse=Block((), (ops.YieldOp(values=(v("x"), v("y", ScalarType(f32)))),)))
    assert print_op(op, indent=1) == (
        "  %r, %s = tl.if(cond = %c) : i32, f32 (then: {\n"
        "    tl.if(cond = %c) (then: {\n"
        "      tl.yield(values = [])\n"
        "    }, orelse: {\n"
        "    })\n"
        "    tl.yield(values = [%x, %y])\n"
        "  }, orelse: {\n"
        "    tl.yield(values = [%x, %y])\n"
        "  })")


def test_module():
    a = v("A", TensorType(f32, 1))
    n = v("n")
    pid = ops.ProgramIdOp(results=(v("pid"),), axis=0)
    fn = Function(name="copy", params=(a, n), body=Block((a, n), (pid, ops.ReturnOp())),
                  attrs=(("num_warps", 4), ("BM", 64), ("dt", bf16)),
                  loc=SourceLoc("k.py", 3, 0))
    assert print_module(Module((fn, Function("0", (), Block((), (ops.ReturnOp(),)))))) == (
        "module {\n"
        '  func @copy(%A: tensor<f32, 1>, %n: i32) attributes {num_warps = 4, BM = 64, '
        'dt = bf16} loc("k.py":3:0) {\n'
        "    %pid = tl.program_id() {axis = 0} : i32\n"
        "    tl.return()\n"
        "  }\n"
        "  func @0() {\n"
        "    tl.return()\n"
        "  }\n"
        "}\n")
    assert print_function(Function('a"b', (), Block((), ()), attrs=(("x y", 1),))) == \
        '  func @"a\\"b"() attributes {"x y" = 1} {\n  }'


def test_empty_module():
    assert print_module(Module(())) == "module {\n}\n"


@dataclass(frozen=True, kw_only=True)
class _NewOp(Op):
    """An op the printer has never heard of."""

    NAME: ClassVar[str] = "test.new"
    x: Value = operand()
    maybe: Value | None = opt_operand()
    xs: tuple[Value, ...] = operands()
    mode: str = attr("m")
    body: Block = region()


def test_a_new_op_class_prints_with_no_printer_change():
    op = _NewOp(results=(v("r"),), x=v("a"), xs=(v("b"),), body=Block((v("i"),), ()))
    assert print_op(op) == ('%r = test.new(x = %a, maybe = none, xs = [%b]) {mode = "m"} : i32 '
                            "(body: ^(%i: i32) {\n})")
