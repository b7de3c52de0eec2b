"""``tl.fma`` (``ir/math_ops.py``): verification and the text format, in the tile IR
(tiles) and after lowering to the thread IR (scalars)."""

from __future__ import annotations

import pytest

import tilelang as tl
from tilelang.errors import IRError
from tilelang.frontend.kernel_def import ParamSpec
from tilelang.ir import ops
from tilelang.ir.builder import Builder
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import ScalarType, TileType, f32, i32
from tilelang.ir.verifier import verify_module


@tl.kernel(num_warps=1)
def fma_ir(A, B, Out, N: tl.constexpr = 32):
    a = tl.load(A, (0,), (N,))
    tl.store(Out, (0,), tl.fma(a, tl.load(B, (0,), (N,)), 0.5))


def test_tile_and_thread_ir_round_trip():
    m = fma_ir.trace(fma_ir.make_specialization(
        (ParamSpec("A", tl.f32, 1), ParamSpec("B", tl.f32, 1), ParamSpec("Out", tl.f32, 1)),
        {}))
    verify_module(m)
    text = print_module(m)
    assert "tl.fma(a = %" in text and ": tile<32xf32>" in text
    assert parse_module(text) == m
    lowered = fma_ir.compile("A=f32[1],B=f32[1],Out=f32[1]", target="emulate:sm_80")
    final = lowered.module
    thread_text = print_module(final)
    assert thread_text.count("tl.fma(") >= 1 and "tile<" not in thread_text.split(
        "tl.fma(")[1].split("\n")[0]
    assert parse_module(thread_text) == final


def _fma(types):
    b = Builder()
    a, x, c = (b.fresh(t) for t in types)
    return FmaOp(results=(b.fresh(types[0]),), a=a, b=x, c=c)


@pytest.mark.parametrize("types, message", [
    ((ScalarType(i32),) * 3, "fma needs float operands"),
    ((ScalarType(f32), ScalarType(f32), TileType((4,), f32)), "one type"),
])
def test_verify_rejects_bad_operands(types, message):
    with pytest.raises(IRError, match=message):
        _fma(types).verify()


def test_registered_by_name():
    assert ops.OPS_BY_NAME["tl.fma"] is FmaOp
