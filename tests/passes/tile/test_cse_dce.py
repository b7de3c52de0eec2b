"""Before/after IR-text tests of eliminate-common-subexpressions and eliminate-dead-code."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings

from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES
from tests.ir.strategies import modules


def apply(pass_name: str, text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES[pass_name](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


def test_cse_merges_identical_constants_and_arithmetic():
    before = """
    module {
      func @k(%X: tensor<f32, 1>) {
        %a = tl.constant() {value = 64} : i32
        %b = tl.constant() {value = 64} : i32
        %c = tl.constant() {value = 64.0} : f32
        %pid = tl.program_id() {axis = 0} : i32
        %m1 = tl.binary(lhs = %pid, rhs = %a) {fn = "mul"} : i32
        %m2 = tl.binary(lhs = %pid, rhs = %b) {fn = "mul"} : i32
        %t = tl.load(tensor = %X, offsets = [%m1]) : tile<4xf32>
        %u = tl.load(tensor = %X, offsets = [%m2]) : tile<4xf32>
        tl.store(tensor = %X, offsets = [%m2], value = %u)
        tl.return()
      }
    }"""
    after = """
    module {
      func @k(%X: tensor<f32, 1>) {
        %a = tl.constant() {value = 64} : i32
        %c = tl.constant() {value = 64.0} : f32
        %pid = tl.program_id() {axis = 0} : i32
        %m1 = tl.binary(lhs = %pid, rhs = %a) {fn = "mul"} : i32
        %t = tl.load(tensor = %X, offsets = [%m1]) : tile<4xf32>
        %u = tl.load(tensor = %X, offsets = [%m1]) : tile<4xf32>
        tl.store(tensor = %X, offsets = [%m1], value = %u)
        tl.return()
      }
    }"""
    # the int 64 and the float 64.0 stay apart; loads (memory reads) are never merged
    assert apply("eliminate-common-subexpressions", before) == norm(after)


def test_cse_reuses_outer_values_inside_regions_but_not_the_reverse():
    before = """
    module {
      func @k(%X: tensor<f32, 1>, %n: i32) {
        %c0 = tl.constant() {value = 0} : i32
        %c1 = tl.constant() {value = 1} : i32
        tl.for(lower = %c0, upper = %n, step = %c1) (body: ^(%i: i32) {
          %d1 = tl.constant() {value = 1} : i32
          %e = tl.constant() {value = 7} : i32
          %s = tl.binary(lhs = %i, rhs = %d1) {fn = "add"} : i32
          tl.yield()
        })
        %e2 = tl.constant() {value = 7} : i32
        tl.return()
      }
    }"""
    after = """
    module {
      func @k(%X: tensor<f32, 1>, %n: i32) {
        %c0 = tl.constant() {value = 0} : i32
        %c1 = tl.constant() {value = 1} : i32
        tl.for(lower = %c0, upper = %n, step = %c1) (body: ^(%i: i32) {
          %e = tl.constant() {value = 7} : i32
          %s = tl.binary(lhs = %i, rhs = %c1) {fn = "add"} : i32
          tl.yield()
        })
        %e2 = tl.constant() {value = 7} : i32
        tl.return()
      }
    }"""
    assert apply("eliminate-common-subexpressions", before) == norm(after)


def test_dce_removes_unused_pure_ops_transitively_and_keeps_effects():
    before = """
    module {
      func @k(%X: tensor<f32, 1>) {
        %a = tl.constant() {value = 2} : i32
        %b = tl.binary(lhs = %a, rhs = %a) {fn = "mul"} : i32
        %c = tl.constant() {value = 0} : i32
        %t = tl.load(tensor = %X, offsets = [%c]) : tile<4xf32>
        tl.store(tensor = %X, offsets = [%c], value = %t)
        tl.return()
      }
    }"""
    after = """
    module {
      func @k(%X: tensor<f32, 1>) {
        %c = tl.constant() {value = 0} : i32
        %t = tl.load(tensor = %X, offsets = [%c]) : tile<4xf32>
        tl.store(tensor = %X, offsets = [%c], value = %t)
        tl.return()
      }
    }"""
    assert apply("eliminate-dead-code", before) == norm(after)


@settings(max_examples=40, deadline=None)
@given(modules())
def test_passes_keep_random_modules_valid(module):
    for name in ("eliminate-common-subexpressions", "eliminate-dead-code"):
        module = PASSES[name](module)
        verify_module(module)
