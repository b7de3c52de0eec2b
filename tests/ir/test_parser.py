"""The parser: hand-written IR text, scoping, defaults, and errors for malformed text."""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tilelang.errors import IRError, SourceLoc
from tilelang.ir import ops, verify_module
from tilelang.ir.parser import IRParseError, parse_module, parse_type
from tilelang.ir.printer import print_module
from tilelang.ir.types import (
    ScalarType, SharedType, TensorType, TileType, bf16, bool_, f32, i32, u4,
)
from tilelang.ir.values import Value

MATMUL = """
// a comment, ignored
module {
  func @matmul(%A: tensor<bf16, 2>, %B: tensor<bf16, 2>, %C: tensor<f32, 2>, %alpha: f32)
      attributes {BM = 64, num_warps = 4} loc("matmul.py":5:0) {
    %pid = tl.program_id() {axis = 0} : i32 loc("matmul.py":10:4)
    %c0 = tl.constant() {value = 0} : i32
    %c1 = tl.constant() {value = 1} : i32
    %n = tl.tensor_dim(tensor = %A) {dim = 1} : i32
    %z = tl.constant() {value = 0.0} : f32
    %z0 = tl.splat(value = %z) : tile<64x64xf32>
    %acc = tl.for(lower = %c0, upper = %n, step = %c1, inits = [%z0]) {kind = "pipeline", stages = 3} : tile<64x64xf32> (body: ^(%k: i32, %a: tile<64x64xf32>) {
      %ta = tl.load(tensor = %A, offsets = [%pid, %k], mask = none, other = none) : tile<64x32xbf16> loc("matmul.py":12:8)
      %tb = tl.load(tensor = %B, offsets = [%k, %c0]) : tile<32x64xbf16>
      %a2 = tl.dot(a = %ta, b = %tb, acc = %a) : tile<64x64xf32>
      tl.yield(values = [%a2])
    })
    tl.store(tensor = %C, offsets = [%pid, %c0], value = %acc, mask = none)
    tl.return()
  }
}
"""


def test_matmul():
    m = parse_module(MATMUL)
    verify_module(m)
    fn = m.function("matmul")
    assert [p.name for p in fn.params] == ["A", "B", "C", "alpha"]
    assert fn.params[0].type == TensorType(bf16, 2) and fn.params[3].type == ScalarType(f32)
    assert fn.body.args == fn.params
    assert fn.attrs == (("BM", 64), ("num_warps", 4))
    assert fn.loc == SourceLoc("matmul.py", 5, 0)
    pid = fn.body.ops[0]
    assert pid == ops.ProgramIdOp(results=(Value("pid", ScalarType(i32)),), axis=0,
                                  loc=SourceLoc("matmul.py", 10, 4))
    loop = fn.body.ops[6]
    assert isinstance(loop, ops.ForOp) and loop.kind == "pipeline" and loop.stages == 3
    assert loop.inits == (Value("z0", TileType((64, 64), f32)),)
    assert [a.name for a in loop.body.args] == ["k", "a"]
    load = loop.body.ops[0]
    assert load.offsets == (Value("pid", ScalarType(i32)), Value("k", ScalarType(i32)))
    assert load.mask is None and load.other is None and load.loc.line == 12
    # an operand is the very value its definition made, type included
    assert loop.body.ops[2].acc is loop.body.args[1]
    assert fn.body.ops[7].value == loop.results[0]


def test_omitted_fields_take_their_defaults():
    m = parse_module(MATMUL)
    tb = m.functions[0].body.ops[6].body.ops[1]
    assert tb.mask is None and tb.other is None
    text = """module { func @f(%x: tile<8xf32>) {
      %r = tl.reduce(value = %x) {fn = "sum", axis = 0} : f32
      tl.print(values = [%r])
      tl.yield()
      tl.return()
    } }"""
    body = parse_module(text).functions[0].body
    assert body.ops[0].keepdims is False
    assert body.ops[1].prefix == ""
    assert body.ops[2].values == ()


def test_free_form_layout_and_empty_forms():
    a = parse_module("module{func @f(){tl.return()}}")
    b = parse_module("module {\n func @f()\n attributes {}\n {\n  tl.return(\n)\n }\n}\n")
    assert a == b
    assert parse_module("module {}").functions == ()
    c = parse_module("""module { func @f(%c: bool) {
      tl.if(cond = %c) (then: ^() { tl.yield() }, orelse: { tl.yield(values = []) })
      tl.return() } }""")
    then, orelse = c.functions[0].body.ops[0].regions()
    assert then.args == () and then == orelse


def test_quoted_names_keys_and_keyword_keys():
    m = parse_module(r'''module { func @"my kernel"(%"a b": i32, %é: i32)
        attributes {tensor = 1, loc = none, "x y" = "q\"\n", d = bf16, s = "bf16"} {
      %"r\n" = tl.binary("lhs" = %"a b", rhs = %é) {"fn" = "add"} : i32
      tl.return() } }''')
    fn = m.functions[0]
    assert fn.name == "my kernel"
    assert [p.name for p in fn.params] == ["a b", "é"]
    assert fn.attrs == (("tensor", 1), ("loc", None), ("x y", 'q"\n'), ("d", bf16), ("s", "bf16"))
    assert fn.body.ops[0].results[0].name == "r\n"


def test_attribute_value_types_are_exact():
    m = parse_module("module { func @f() attributes {a = 1, b = 1.0, c = true, d = 1e+16, "
                     "e = -inf, f = inf, g = nan, h = [1, [false], []], i = -0.0, j = 7e-05} "
                     "{ tl.return() } }")
    got = dict(m.functions[0].attrs)
    assert type(got["a"]) is int and type(got["b"]) is float and got["c"] is True
    assert got["d"] == 1e16 and got["e"] == -math.inf and got["f"] == math.inf
    assert math.isnan(got["g"])
    assert got["h"] == (1, (False,), ()) and type(got["h"][1][0]) is bool
    assert math.copysign(1, got["i"]) == -1 and got["j"] == 7e-05


@pytest.mark.parametrize("text, t", [
    ("i32", ScalarType(i32)), ("bool", ScalarType(bool_)),
    ("tile<64x32xbf16>", TileType((64, 32), bf16)), ("tile<1xu4>", TileType((1,), u4)),
    ("shared<16x16x2xf32>", SharedType((16, 16, 2), f32)), ("tensor<bf16, 2>", TensorType(bf16, 2)),
    ("  tensor < f32 , 0 >  ", TensorType(f32, 0)),
    ("tensor<f32, 2, aligned, unit_stride, divisible>",
     TensorType(f32, 2, aligned=True, unit_stride=True, divisible=True)),
    ("tensor<bf16, 1, unit_stride>", TensorType(bf16, 1, unit_stride=True)),
])
def test_parse_type(text, t):
    assert parse_type(text) == t


def test_loc_column_may_be_left_out():
    m = parse_module('module { func @f() loc("k.py":3) { tl.return() loc("k.py":4:2) } }')
    assert m.functions[0].loc == SourceLoc("k.py", 3, 0)
    assert m.functions[0].body.ops[0].loc == SourceLoc("k.py", 4, 2)


def test_crlf_line_endings():
    text = MATMUL.replace("\n", "\r\n")
    assert parse_module(text) == parse_module(MATMUL)
    e = _error("module {\r\n  func @f() {\r\n    tl.bogus()\r\n  }\r\n}")
    assert (e.line, e.column) == (3, 5) and str(e).endswith("\n        tl.bogus()\n        ^")


def test_parse_does_not_verify():
    # A malformed op parses (so that verifier and pass tests can be IR text).
    m = parse_module("module { func @f(%a: i32) { %b = tl.program_id() {axis = 7} : f32 } }")
    with pytest.raises(IRError):
        verify_module(m)


def _error(text: str) -> IRParseError:
    with pytest.raises(IRError) as info:
        parse_module(text)
    assert isinstance(info.value, IRParseError)
    return info.value


# (text, the text at which the error points or None for its end, message regex)
@pytest.mark.parametrize("text, at, message", [
    # syntax: what was found and what was expected
    ("module {\n  func @f() {\n    tl.return(\n  }\n}", "}\n}",
     r"unexpected '\}'; expected '\)', a name, a string"),
    ("module { func @f() {", None, "unexpected end of text; expected '}', a name, a value"),
    ("module { func @f() { tl.return() # } }", "#", "unexpected character '#'"),
    ('module { func @f() { %x = tl.unary(fn = "neg") : i32 } }', '"neg"',
     "unexpected '\"neg\"'; expected '\\[', 'none', a value"),
    ("func @f() {}", "func", "unexpected 'func'; expected 'module'"),
    ("module { func @f() {} } trailing", "trailing", "expected end of text"),
    # names
    ('module { func @f() {\n  %x = tl.unary(value = %y) {fn = "neg"} : i32 } }', "%y",
     "undefined value %y"),
    ("module { func @f() { tl.bogus() } }", "tl.bogus", "unknown op 'tl.bogus'"),
    ("module { func @f(%a: i33) {} }", "i33", "unknown dtype 'i33'"),
    ("module { func @f() attributes {d = f31} {} }", "f31", "unknown dtype 'f31'"),
    ("module { func @f(%a: tile<4xf31>) {} }", "f31", "unknown dtype 'f31'"),
    # fields
    ("module { func @f(%a: i32) { tl.yield(vals = [%a]) } }", "vals",
     "tl.yield has no operand field 'vals'; its operand fields are values"),
    ("module { func @f(%a: i32) { tl.yield(values = %a) } }", "values",
     r"field 'values' of tl.yield takes a list of operands"),
    ("module { func @f(%a: tensor<f32, 1>) { tl.store(tensor = none) } }", "tensor =",
     "field 'tensor' of tl.store takes an operand"),
    ("module { func @f(%a: i32) { tl.yield(values = [%a], values = []) } }", "values = []",
     "field 'values' of tl.yield is given twice"),
    ("module { func @f(%a: i32) { %b = tl.program_id() {axis = 0, axes = 1} : i32 } }", "axes",
     "tl.program_id has no attribute field 'axes'; its attribute fields are axis"),
    ("module { func @f(%a: i32) { %b = tl.program_id(axis = %a) : i32 } }", "axis",
     "tl.program_id has no operand field 'axis'; its operand fields are \\(none\\)"),
    ("module { func @f(%c: bool) { tl.if(cond = %c) (then: {}, else: {}) } }", "else",
     "tl.if has no region field 'else'; its region fields are then, orelse"),
    ("module { func @f() { %b = tl.program_id() : i32 } }", "tl.",
     "tl.program_id needs field\\(s\\) axis"),
    ("module { func @f(%c: bool) { tl.if(cond = %c) } }", "tl.",
     "tl.if needs field\\(s\\) orelse, then"),
    # results, types, literals
    ("module { func @f() { %a, %b = tl.program_id() {axis = 0} : i32 } }", "tl.",
     "defines 2 result\\(s\\) but gives 1 type\\(s\\)"),
    ("module { func @f(%a: tile<f32>) {} }", "f32", "0-d tiles do not exist"),
    ("module { func @f(%a: tensor<f32, 1.5>) {} }", "1.5", "tensor rank must be an integer"),
    ("module { func @f(%a: tensor<f32, 1, fast>) {} }", "fast", "unknown tensor fact 'fast'"),
    ("module { func @f(%a: tensor<f32, 1, divisible, aligned>) {} }", "divisible",
     "facts must be distinct and in the order aligned, unit_stride, divisible"),
    ('module { func @f() loc("a":1.5:0) {} }', "1.5", "line must be an integer, got 1.5"),
    ('module { func @f() attributes {s = "\\q"} {} }', '"', r"unknown escape \\q"),
])
def test_errors_name_line_column_and_what_was_expected(text, at, message):
    before = text if at is None else text[:text.index(at)]  # None: the end of the text
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    e = _error(text)
    assert (e.line, e.column) == (line, col), str(e)
    assert f"line {line}, column {col}: " in str(e)
    assert re.search(message, str(e)), str(e)


def test_error_shows_the_line_with_a_caret():
    e = _error("module {\n  func @f() {\n    %x = tl.bogus()\n  }\n}")
    assert str(e).endswith("\n        %x = tl.bogus()\n             ^")


@pytest.mark.parametrize("body", [
    # a region's values are invisible after it
    """tl.if(cond = %c) (then: { %x = tl.constant() {value = 1} : i32 tl.yield() },
                        orelse: { tl.yield() })
       tl.print(values = [%x])""",
    # and in the sibling region
    """tl.if(cond = %c) (then: { %x = tl.constant() {value = 1} : i32 tl.yield() },
                        orelse: { tl.print(values = [%x]) tl.yield() })""",
    # an op's results are not defined inside its own regions
    """%x = tl.if(cond = %c) : bool (then: { tl.yield(values = [%x]) },
                                  orelse: { tl.yield(values = [%c]) })""",
    # nor before the op
    """tl.print(values = [%x])
       %x = tl.constant() {value = 1} : i32""",
])
def test_scoping(body):
    e = _error(f"module {{ func @f(%c: bool) {{ {body} tl.return() }} }}")
    assert "undefined value %x" in str(e)


def test_functions_do_not_share_names():
    e = _error("module { func @f(%a: i32) { tl.return() } func @g() { tl.print(values = [%a]) } }")
    assert "undefined value %a" in str(e)


def test_a_name_defined_again_refers_to_the_latest_definition():
    # Not well-formed (the verifier rejects it) but the parser must not guess.
    m = parse_module("""module { func @f() {
      %x = tl.constant() {value = 1} : i32
      %x = tl.constant() {value = 1.5} : f32
      tl.print(values = [%x]) } }""")
    assert m.functions[0].body.ops[2].values[0].type == ScalarType(f32)


def _big_module(n: int) -> str:
    lines = ["module {", "  func @f(%A: tensor<f32, 2>) {",
             "    %c0 = tl.constant() {value = 0} : i32"]
    for i in range(n):
        lines.append(f"    %x{i} = tl.load(tensor = %A, offsets = [%c0, %c0], mask = none, "
                     f'other = none) : tile<64x32xf32> loc("m.py":{i}:4)')
    lines += ["    tl.return()", "  }", "}"]
    return "\n".join(lines)


def test_a_300_op_module_parses_quickly():
    text = _big_module(300)
    parse_module(text)  # builds the parser once
    start = time.perf_counter()
    m = parse_module(text)
    assert time.perf_counter() - start < 0.5
    assert len(m.functions[0].body.ops) == 302


def test_threads_parse_independently():
    texts = [_big_module(n) for n in range(20, 36)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(parse_module, texts))
    assert [len(m.functions[0].body.ops) for m in got] == [n + 2 for n in range(20, 36)]
    assert all(print_module(m) == print_module(parse_module(t)) for m, t in zip(got, texts))
