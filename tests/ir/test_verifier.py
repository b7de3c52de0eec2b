"""The module verifier: one test per broken invariant, each checking the message.

Module-level invariants (SSA, dominance, terminators) are built as objects
where the text form cannot even express them (the parser rejects a use of an
undefined name); every op's ``verify()`` is exercised through IR text.
"""

from __future__ import annotations

import re

import pytest

from tilelang.errors import IRError, SourceLoc
from tilelang.ir import ops, verify_module
from tilelang.ir.parser import parse_module
from tilelang.ir.types import ScalarType, bool_, i32
from tilelang.ir.values import Block, Function, Module, Value

I = Value("i", ScalarType(i32))
B = Value("b", ScalarType(bool_))


def _fn(ops_: tuple, params: tuple[Value, ...] = (I,), name: str = "f") -> Function:
    return Function(name=name, params=params, body=Block(params, ops_))


def _const(name: str, loc: SourceLoc | None = None) -> ops.ConstantOp:
    return ops.ConstantOp(results=(Value(name, ScalarType(i32)),), value=1, loc=loc)


def _fails(m: Module, message: str) -> None:
    with pytest.raises(IRError, match=re.escape(message)):
        verify_module(m)


def test_a_well_formed_module_passes():
    verify_module(Module((_fn((_const("x"), ops.ReturnOp())), _fn((ops.ReturnOp(),), name="g"))))


def test_duplicate_function_names():
    _fails(Module((_fn((ops.ReturnOp(),)), _fn((ops.ReturnOp(),)))),
           "duplicate function names in module: ['f', 'f']")


def test_parameter_defined_twice():
    _fails(Module((_fn((ops.ReturnOp(),), params=(I, I)),)), "function f: %i is defined twice")


def test_result_redefines_a_value():
    _fails(Module((_fn((_const("i"), ops.ReturnOp())),)), "function f: %i is defined twice")


def test_a_name_is_defined_once_even_in_sibling_regions():
    then = Block((), (_const("x"), ops.YieldOp()))
    orelse = Block((), (_const("x"), ops.YieldOp()))
    if_ = ops.IfOp(cond=B, then=then, orelse=orelse)
    _fails(Module((_fn((if_, ops.ReturnOp()), params=(B,)),)), "function f: %x is defined twice")


def test_body_arguments_must_be_the_parameters():
    fn = Function(name="f", params=(I,), body=Block((), (ops.ReturnOp(),)))
    _fails(Module((fn,)), "function f: body arguments must be the parameters")


def test_use_before_definition():
    x = Value("x", ScalarType(i32))
    use = ops.PrintOp(values=(x,), loc=SourceLoc("k.py", 7, 2))
    _fails(Module((_fn((use, _const("x"), ops.ReturnOp())),)),
           "function f: tl.print at k.py:7 uses %x before it is defined")


def test_a_region_value_is_not_visible_after_the_region():
    x = Value("x", ScalarType(i32))
    if_ = ops.IfOp(cond=B, then=Block((), (_const("x"), ops.YieldOp())),
                   orelse=Block((), (ops.YieldOp(),)))
    use = ops.PrintOp(values=(x,))
    _fails(Module((_fn((if_, use, ops.ReturnOp()), params=(B,)),)),
           "function f: tl.print uses %x before it is defined")


def test_terminator_must_be_last():
    _fails(Module((_fn((ops.ReturnOp(), _const("x"), ops.ReturnOp())),)),
           "function f: tl.return must be the last op of its block")


def test_yield_outside_a_region():
    _fails(Module((_fn((ops.YieldOp(),)),)), "function f: tl.yield outside a region")


@pytest.mark.parametrize("body", [(), (_const("x"),)], ids=["empty", "no-terminator"])
def test_body_must_end_with_return(body):
    _fails(Module((_fn(body),)), "function f: body must end with tl.return")


def test_op_verify_runs_inside_regions():
    bad = ops.ProgramIdOp(results=(Value("p", ScalarType(i32)),), axis=5,
                          loc=SourceLoc("k.py", 3, 0))
    if_ = ops.IfOp(cond=B, then=Block((), (bad, ops.YieldOp())), orelse=Block((), (ops.YieldOp(),)))
    _fails(Module((_fn((if_, ops.ReturnOp()), params=(B,)),)),
           "tl.program_id at k.py:3: axis must be 0, 1 or 2, got 5")


# ---------------------------------------------------------------------------
# every op's verify(), through IR text
# ---------------------------------------------------------------------------

PARAMS = ("%A: tensor<f32, 2>, %H: tensor<f16, 2>, %i: i32, %j: i64, %b: bool, %f: f32, "
          "%t: tile<4x8xf32>, %u: tile<8x4xf32>, %w: tile<4x8xi32>, %m: tile<4x8xbool>, "
          "%v: tile<4xf32>, %s: shared<4x8xf32>")


def _module(body: str) -> Module:
    return parse_module(f"module {{ func @f({PARAMS}) {{\n{body}\ntl.return() }} }}")


OP_CASES = [
    # tl.constant
    ("tl.constant() {value = 1}", "tl.constant: expected 1 result(s), got 0"),
    ("%x = tl.constant() {value = 1} : tile<4xi32>", "result must be a scalar"),
    ("%x = tl.constant() {value = 1.5} : i32", "float constant with a non-float dtype"),
    # program ids and tensor queries
    ("%x = tl.program_id() {axis = 3} : i32", "axis must be 0, 1 or 2, got 3"),
    ("%x = tl.num_programs() {axis = 0} : i64", "tl.num_programs: result must be i32"),
    ("%x = tl.tensor_dim(tensor = %i) {dim = 0} : i32", "operand must be a tensor"),
    ("%x = tl.tensor_dim(tensor = %A) {dim = 2} : i32", "dim 2 out of range for rank 2"),
    ("%x = tl.tensor_stride(tensor = %A) {dim = 0} : f32", "tl.tensor_stride: result must be i32"),
    # construction and shapes
    ("%x = tl.splat(value = %v) : tile<4x8xf32>", "splat takes a scalar and gives a tile"),
    ("%x = tl.splat(value = %i) : tile<4xf32>", "splat must not change the dtype"),
    ("%x = tl.arange() {start = 4, stop = 4} : tile<1xi32>", "stop must be greater than start"),
    ("%x = tl.arange() {start = 0, stop = 4} : tile<8xi32>", "result must be tile<4xi32>"),
    ("%x = tl.broadcast(value = %f) : tile<4xf32>", "broadcast takes and gives tiles"),
    ("%x = tl.broadcast(value = %v) : tile<4x8xf32>", "broadcast keeps dtype and rank"),
    ("%x = tl.broadcast(value = %t) : tile<4x16xf32>",
     "cannot broadcast tile<4x8xf32> to tile<4x16xf32>"),
    ("%x = tl.reshape(value = %f) : tile<1xf32>", "reshape takes and gives tiles"),
    ("%x = tl.reshape(value = %t) : tile<16xf32>",
     "cannot reshape tile<4x8xf32> to tile<16xf32>"),
    ("%x = tl.convert_layout(value = %t) : tile<4x4xf32>",
     "convert_layout keeps the tile's shape and dtype"),
    ('%x = tl.convert_layout(value = %t) : tile<4x8xf32, layout = "spatial(4,4)">',
     "layout spatial(4,4) is for shape (4, 4), not (4, 8)"),
    ('%x = tl.convert_layout(value = %t) : tile<4x8xf32, layout = "blocky(4,8)">',
     "unknown name 'blocky'"),
    ("%x = tl.trans(value = %v) : tile<4xf32>", "trans takes a 2-D tile"),
    ("%x = tl.trans(value = %t) : tile<4x8xf32>", "result of trans must be tile<8x4xf32>"),
    # elementwise
    ('%x = tl.binary(lhs = %i, rhs = %i) {fn = "avg"} : i32', "unknown binary fn 'avg'"),
    ('%x = tl.binary(lhs = %i, rhs = %j) {fn = "add"} : i32',
     "operands must have one type, got i32 and i64"),
    ('%x = tl.binary(lhs = %i, rhs = %i) {fn = "div"} : i32', "div needs float operands"),
    ('%x = tl.binary(lhs = %f, rhs = %f) {fn = "xor"} : f32', "xor needs integer or bool operands"),
    ('%x = tl.binary(lhs = %t, rhs = %t) {fn = "lt"} : tile<4x8xf32>',
     "result type tile<4x8xf32> does not match operands tile<4x8xf32>"),
    ('%x = tl.unary(value = %f) {fn = "cube"} : f32', "unknown unary fn 'cube'"),
    ('%x = tl.unary(value = %f) {fn = "neg"} : i32', "unary keeps its operand's type"),
    ('%x = tl.unary(value = %i) {fn = "exp"} : i32', "exp needs a float operand"),
    ('%x = tl.unary(value = %f) {fn = "invert"} : f32', "invert needs an integer or bool operand"),
    ("%x = tl.where(cond = %m, x = %t, y = %w) : tile<4x8xf32>",
     "x, y and result must have one type"),
    ("%x = tl.where(cond = %w, x = %t, y = %t) : tile<4x8xf32>", "cond must be bool"),
    ("%x = tl.where(cond = %b, x = %t, y = %t) : tile<4x8xf32>",
     "cond must have the shape of x and y"),
    ("%x = tl.cast(value = %f) : tile<1xf32>", "cast keeps the kind of value"),
    ("%x = tl.cast(value = %t) : tile<8x4xi32>", "cast keeps the shape"),
    # reductions and dot
    ('%x = tl.reduce(value = %v) {fn = "prod", axis = 0} : f32', "unknown reduce fn 'prod'"),
    ('%x = tl.reduce(value = %v) {fn = "sum", axis = 1} : f32',
     "axis 1 out of range for tile<4xf32>"),
    ('%x = tl.reduce(value = %t) {fn = "max", axis = 1, keepdims = true} : tile<4xf32>',
     "result must be tile<4x1xf32>, got tile<4xf32>"),
    ("%x = tl.dot(a = %v, b = %u, acc = %t) : tile<4x8xf32>", "dot takes 2-D tiles"),
    ("%x = tl.dot(a = %t, b = %t, acc = %t) : tile<4x8xf32>",
     "inner dimensions differ: tile<4x8xf32> @ tile<4x8xf32>"),
    ("%x = tl.dot(a = %t, b = %u, acc = %t) : tile<4x8xf32>",
     "accumulator tile<4x8xf32> does not match tile<4x8xf32> @ tile<8x4xf32>"),
    ("%x = tl.dot(a = %w, b = %u, acc = %x0) : tile<4x4xf32>", "a and b must have one dtype"),
    ("%x = tl.dot(a = %t, b = %u, acc = %x0) : tile<4x4xf16>",
     "result must have the accumulator's type"),
    # global memory
    ("%x = tl.load(tensor = %A, offsets = [%i, %i]) : f32", "tl.load: result must be a tile"),
    ("%x = tl.load(tensor = %i, offsets = [%i, %i]) : tile<4x8xf32>",
     "first operand must be a tensor"),
    ("%x = tl.load(tensor = %A, offsets = [%i]) : tile<4x8xf32>",
     "a 2-D tensor needs 2 offsets and a 2-D tile"),
    ("%x = tl.load(tensor = %A, offsets = [%i, %f]) : tile<4x8xf32>",
     "offsets must be integer scalars"),
    ("%x = tl.load(tensor = %H, offsets = [%i, %i]) : tile<4x8xf32>",
     "result dtype must be the tensor's"),
    ("%x = tl.load(tensor = %A, offsets = [%i, %i], mask = %w) : tile<4x8xf32>",
     "mask must be tile<4x8xbool>, got tile<4x8xi32>"),
    ("%x = tl.load(tensor = %A, offsets = [%i, %i], other = %i) : tile<4x8xf32>",
     "other must be a f32 scalar"),
    ("tl.store(tensor = %A, offsets = [%i, %i], value = %f)", "value must be a tile"),
    ("tl.store(tensor = %H, offsets = [%i, %i], value = %t)",
     "stored dtype f32 differs from the tensor's f16"),
    ("tl.store(tensor = %A, offsets = [%i, %i], value = %t, mask = %b)",
     "mask must be tile<4x8xbool>, got bool"),
    ("%x = tl.store(tensor = %A, offsets = [%i, %i], value = %t) : i32",
     "tl.store: expected 0 result(s), got 1"),
    ("tl.atomic_add(tensor = %A, offsets = [%i], value = %t)",
     "tl.atomic_add: a 2-D tensor needs 2 offsets"),
    # shared memory
    ("%x = tl.alloc_shared() : tile<4xf32>", "result must be a shared buffer"),
    ("tl.copy(tensor = %A, offsets = [%i, %i], dst = %t)", "dst must be a shared buffer"),
    ("tl.copy(tensor = %H, offsets = [%i, %i], dst = %s)", "dst dtype must be the tensor's"),
    ("tl.copy(tensor = %A, offsets = [%i, %j, %i], dst = %s)",
     "a 2-D tensor needs 2 offsets and a 2-D tile"),
    ("%x = tl.shared_load(src = %s) : tile<8x4xf32>",
     "shared_load gives a tile of the buffer's shape and dtype"),
    ("tl.shared_store(dst = %s, value = %u)",
     "shared_store writes a tile of the buffer's shape and dtype"),
    ("%x = tl.barrier() : i32", "tl.barrier: expected 0 result(s), got 1"),
    # debugging
    ("%x = tl.print(values = [%i]) : i32", "tl.print: expected 0 result(s), got 1"),
    ("tl.device_assert(cond = %i)", "condition must be bool"),
    # control flow
    ('tl.for(lower = %i, upper = %i, step = %i) {kind = "while"} (body: ^(%k: i32) '
     "{ tl.yield() })", "unknown loop kind 'while'"),
    ("tl.for(lower = %i, upper = %i, step = %i) {stages = 0} (body: ^(%k: i32) "
     "{ tl.yield() })", "stages must be at least 1"),
    ("tl.for(lower = %i, upper = %j, step = %i) (body: ^(%k: i32) { tl.yield() })",
     "bounds must be integer scalars of one type"),
    ("tl.for(lower = %f, upper = %f, step = %f) (body: ^(%k: f32) { tl.yield() })",
     "bounds must be integer scalars of one type"),
    ("tl.for(lower = %i, upper = %i, step = %i) (body: { tl.yield() })",
     "body arguments must be (iv, *carried)"),
    ("%r = tl.for(lower = %i, upper = %i, step = %i, inits = [%f]) : f32 "
     "(body: ^(%k: i32, %a: i32) { tl.yield(values = [%f]) })",
     "body arguments must have the types of the initial values"),
    ("%r = tl.for(lower = %i, upper = %i, step = %i, inits = [%f]) : i32 "
     "(body: ^(%k: i32, %a: f32) { tl.yield(values = [%a]) })",
     "results must have the types of the initial values"),
    ("tl.for(lower = %i, upper = %i, step = %i) (body: ^(%k: i32) { tl.barrier() })",
     "tl.for: region must end with tl.yield"),
    ("%r = tl.for(lower = %i, upper = %i, step = %i, inits = [%f]) : f32 "
     "(body: ^(%k: i32, %a: f32) { tl.yield(values = [%k]) })",
     "region yields (i32), expected (f32)"),
    ("tl.if(cond = %i) (then: { tl.yield() }, orelse: { tl.yield() })",
     "condition must be a bool scalar"),
    ("tl.if(cond = %b) (then: ^(%k: i32) { tl.yield() }, orelse: { tl.yield() })",
     "if regions take no arguments"),
    ("%r = tl.if(cond = %b) : f32 (then: { tl.yield(values = [%f]) }, orelse: { tl.yield() })",
     "tl.if: region yields (), expected (f32)"),
    ("tl.if(cond = %b) (then: { tl.yield() }, orelse: { })", "region must end with tl.yield"),
    ("tl.if(cond = %b) (then: { %x = tl.yield() : i32 }, orelse: { tl.yield() })",
     "tl.yield: expected 0 result(s), got 1"),
    ("%x = tl.return() : i32", "tl.return must be the last op of its block"),
]


@pytest.mark.parametrize("body, message", OP_CASES, ids=[m for _, m in OP_CASES])
def test_op_verify(body, message):
    # %x0 is a 4x4 f32 accumulator for the dot cases.
    m = _module(f"%x0 = tl.splat(value = %f) : tile<4x4xf32>\n{body}")
    _fails(m, message)


def test_every_op_class_has_a_verify_case():
    named = {name for body, _ in OP_CASES for name in re.findall(r"(tl\.\w+)\(", body)}
    assert named == {cls.NAME for cls in ops.ALL_OPS}


def test_op_errors_name_the_source_line():
    m = _module('%x = tl.program_id() {axis = 9} : i32 loc("kern.py":42:8)')
    _fails(m, "tl.program_id at kern.py:42: axis must be 0, 1 or 2, got 9")
