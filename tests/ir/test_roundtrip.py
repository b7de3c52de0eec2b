"""``parse_module(print_module(m)) == m`` for random well-typed modules, and more.

Dataclass equality cannot tell ``True`` from ``1`` or ``1.0``, so every round
trip also checks that printing the parsed module gives the same text and
that attribute values keep their Python types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ir.strategies import ATTRS, GENERATORS, KEYS, LOCS, modules
from tilelang.ir import ops, verify_module
from tilelang.ir.ops import Op, attr, operand, operands, opt_operand, region, walk
from tilelang.ir.parser import parse_module, parse_type
from tilelang.ir.printer import print_module, print_op, print_type
from tilelang.ir.types import (
    ALL_DTYPES, ScalarType, SharedType, TensorType, TileType, i32,
)
from tilelang.ir.values import Block, Function, Module, Value

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.data_too_large])


def _types_of(a: Any) -> Any:
    """``a`` with every leaf replaced by ``(type, leaf)``, so that 1 != True != 1.0."""
    if isinstance(a, tuple):
        return tuple(_types_of(x) for x in a)
    return (type(a), a)


def _attr_types(m: Module) -> list[Any]:
    out: list[Any] = []
    for fn in m.functions:
        out.append(_types_of(fn.attrs))
        for op in walk(fn.body):
            out.append(_types_of(tuple(op.attributes().values())))
    return out


def assert_round_trip(m: Module) -> None:
    text = print_module(m)
    back = parse_module(text)
    assert back == m
    assert print_module(back) == text
    assert _attr_types(back) == _attr_types(m)


@settings(SETTINGS, max_examples=100)
@given(modules())
def test_random_modules_round_trip(m):
    verify_module(m)  # the strategies make well-formed modules only
    assert_round_trip(m)


@pytest.mark.parametrize("cls", ops.ALL_OPS, ids=lambda c: c.NAME)
@settings(SETTINGS, max_examples=4)
@given(data=st.data())
def test_every_op_round_trips(cls, data):
    m = data.draw(modules(focus=cls, max_functions=1))
    verify_module(m)
    assert any(isinstance(op, cls) for op in walk(m.functions[0].body))
    assert_round_trip(m)


def test_strategies_generate_every_op_class():
    assert set(GENERATORS) == set(ops.ALL_OPS)


TYPES = st.one_of(
    st.builds(ScalarType, st.sampled_from(ALL_DTYPES)),
    st.builds(TileType, st.lists(st.integers(0, 4096), min_size=1, max_size=4).map(tuple),
              st.sampled_from(ALL_DTYPES)),
    st.builds(SharedType, st.lists(st.integers(0, 4096), min_size=1, max_size=4).map(tuple),
              st.sampled_from(ALL_DTYPES)),
    st.builds(TensorType, st.sampled_from(ALL_DTYPES), st.integers(0, 8)),
)


@SETTINGS
@given(TYPES)
def test_types_round_trip(t):
    assert parse_type(print_type(t)) == t


def _function(params: tuple[Value, ...] = (), ops_: tuple[Op, ...] = (), **kw: Any) -> Function:
    return Function(name=kw.pop("name", "f"), params=params,
                    body=Block(params, ops_ + (ops.ReturnOp(),)), **kw)


@SETTINGS
@given(st.lists(st.tuples(KEYS, ATTRS), max_size=6), LOCS)
def test_function_attributes_keep_order_types_and_loc(attrs, loc):
    assert_round_trip(Module((_function(attrs=tuple(attrs), loc=loc),)))


@SETTINGS
@given(st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True), st.text(max_size=5))
def test_any_names_round_trip(names, fn_name):
    params = tuple(Value(n, ScalarType(i32)) for n in names)
    use = ops.PrintOp(values=params, prefix=fn_name)
    assert_round_trip(Module((_function(params, (use,), name=fn_name),)))


@dataclass(frozen=True, kw_only=True)
class _NewOp(Op):
    """An op neither printer nor parser has code for, with fields of every kind."""

    NAME: ClassVar[str] = "test.new_op"
    x: Value = operand()
    maybe: Value | None = opt_operand()
    xs: tuple[Value, ...] = operands()
    mode: Any = attr("m")
    extra: Any = attr(None)
    body: Block = region()
    other: Block = region()


@pytest.fixture(autouse=True)
def _register_new_op(monkeypatch):
    # What adding the class to ALL_OPS does for the parser: the name resolves.
    monkeypatch.setitem(ops.OPS_BY_NAME, _NewOp.NAME, _NewOp)


def _new_op_module(mode: Any = "m", extra: Any = None) -> Module:
    a = Value("a", ScalarType(i32))
    r = Value("r", TileType((4, 2), i32))
    inner = Value("i", ScalarType(i32))
    op = _NewOp(results=(r, Value("s", ScalarType(i32))), x=a, maybe=None, xs=(a, a),
                mode=mode, extra=extra,
                body=Block((inner,), (ops.YieldOp(values=(inner, a)),)),
                other=Block((), ()))
    return Module((_function((a,), (op, ops.PrintOp(values=(r,)))),))


@SETTINGS
@given(ATTRS, ATTRS)
def test_attribute_values_of_any_kind_in_op_fields(a, b):
    assert_round_trip(_new_op_module(a, b))


def test_a_new_op_class_round_trips_with_no_printer_or_parser_change():
    m = _new_op_module(mode=(1, True, 1.0, "1", None), extra=i32)
    text = print_module(m)
    assert "%r, %s = test.new_op(x = %a, maybe = none, xs = [%a, %a]) " \
           '{mode = [1, true, 1.0, "1", none], extra = i32} : tile<4x2xi32>, i32 ' \
           "(body: ^(%i: i32) {" in text
    assert_round_trip(m)


def test_print_op_matches_the_module_text():
    m = parse_module(print_module(_new_op_module()))
    text = print_module(m)
    for op in m.functions[0].body.ops:
        assert print_op(op, indent=2) in text
