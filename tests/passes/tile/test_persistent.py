"""Before/after IR-text tests of persistent-tiles, and its tile map as a property."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tilelang as tl
from tilelang.errors import IRError
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES, PIPELINES


def kernel_text(params: str = "", attrs: str = "") -> str:
    return KERNEL.replace("PARAMS", params).replace("ATTRS", attrs)


def apply(text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES["persistent-tiles"](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


KERNEL = """
module {
  func @k(%X: tensor<f32, 2>PARAMS) attributes {num_warps = 4ATTRS} {
    %a = tl.constant() {value = 16} : i32
    %pm = tl.program_id() {axis = 0} : i32
    %pn = tl.program_id() {axis = 1} : i32
    %m0 = tl.binary(lhs = %pm, rhs = %a) {fn = "mul"} : i32
    %n0 = tl.binary(lhs = %pn, rhs = %a) {fn = "mul"} : i32
    %t = tl.load(tensor = %X, offsets = [%m0, %n0]) : tile<16x16xf32>
    tl.store(tensor = %X, offsets = [%m0, %n0], value = %t)
    tl.return()
  }
}"""


def test_without_options_nothing_changes():
    text = kernel_text()
    assert apply(text) == norm(text)


def test_group_m_maps_the_linear_program_id_in_grouped_order():
    after = """
    module {
      func @k(%X: tensor<f32, 2>) attributes {num_warps = 4, group_m = 8} {
        %pid_x = tl.program_id() {axis = 0} : i32
        %pid_y = tl.program_id() {axis = 1} : i32
        %programs_x = tl.num_programs() {axis = 0} : i32
        %programs_y = tl.num_programs() {axis = 1} : i32
        %0 = tl.binary(lhs = %pid_y, rhs = %programs_x) {fn = "mul"} : i32
        %linear_id = tl.binary(lhs = %pid_x, rhs = %0) {fn = "add"} : i32
        %1 = tl.constant() {value = 8} : i32
        %tiles_per_group = tl.binary(lhs = %1, rhs = %programs_y) {fn = "mul"} : i32
        %group_id = tl.binary(lhs = %linear_id, rhs = %tiles_per_group) {fn = "floordiv"} : i32
        %first_m = tl.binary(lhs = %group_id, rhs = %1) {fn = "mul"} : i32
        %2 = tl.binary(lhs = %programs_x, rhs = %first_m) {fn = "sub"} : i32
        %group_rows = tl.binary(lhs = %2, rhs = %1) {fn = "minimum"} : i32
        %in_group = tl.binary(lhs = %linear_id, rhs = %tiles_per_group) {fn = "mod"} : i32
        %3 = tl.binary(lhs = %in_group, rhs = %group_rows) {fn = "mod"} : i32
        %pid_m = tl.binary(lhs = %first_m, rhs = %3) {fn = "add"} : i32
        %pid_n = tl.binary(lhs = %in_group, rhs = %group_rows) {fn = "floordiv"} : i32
        %a = tl.constant() {value = 16} : i32
        %m0 = tl.binary(lhs = %pid_m, rhs = %a) {fn = "mul"} : i32
        %n0 = tl.binary(lhs = %pid_n, rhs = %a) {fn = "mul"} : i32
        %t = tl.load(tensor = %X, offsets = [%m0, %n0]) : tile<16x16xf32>
        tl.store(tensor = %X, offsets = [%m0, %n0], value = %t)
        tl.return()
      }
    }"""
    assert apply(kernel_text(attrs=", group_m = 8")) == norm(after)


def test_persistent_loops_over_the_tiles_of_the_logical_grid():
    params = ", %tl_tiles_x: i32, %tl_tiles_y: i32"
    after = """
    module {
      func @k(%X: tensor<f32, 2>, %tl_tiles_x: i32, %tl_tiles_y: i32)
          attributes {num_warps = 4, persistent = true} {
        %a = tl.constant() {value = 16} : i32
        %first_tile = tl.program_id() {axis = 0} : i32
        %programs = tl.num_programs() {axis = 0} : i32
        %num_tiles = tl.binary(lhs = %tl_tiles_x, rhs = %tl_tiles_y) {fn = "mul"} : i32
        tl.for(lower = %first_tile, upper = %num_tiles, step = %programs, inits = [])
            {kind = "range", stages = 1} (body: ^(%tile: i32) {
          %pid_m = tl.binary(lhs = %tile, rhs = %tl_tiles_x) {fn = "mod"} : i32
          %pid_n = tl.binary(lhs = %tile, rhs = %tl_tiles_x) {fn = "floordiv"} : i32
          %0 = tl.constant() {value = 0} : i32
          %1 = tl.constant() {value = 1} : i32
          %m0 = tl.binary(lhs = %pid_m, rhs = %a) {fn = "mul"} : i32
          %n0 = tl.binary(lhs = %pid_n, rhs = %a) {fn = "mul"} : i32
          %t = tl.load(tensor = %X, offsets = [%m0, %n0]) : tile<16x16xf32>
          tl.store(tensor = %X, offsets = [%m0, %n0], value = %t)
          tl.yield()
        })
        tl.return()
      }
    }"""
    assert apply(kernel_text(params, ", persistent = true")) == norm(after)


def test_persistent_needs_the_grid_parameters():
    with pytest.raises(IRError, match="tl_tiles_x"):
        apply(kernel_text(attrs=", persistent = true"))


def test_the_pass_runs_first_in_every_pipeline():
    for name, passes in PIPELINES.items():
        assert passes[0] == "persistent-tiles", name


# -- the tile map, run by the interpreter ---------------------------------------------

def visits(Count: tl.Tensor):
    """Adds 1 at each (program_id(0), program_id(1)) the kernel sees."""
    one = tl.full((1, 1), 1, tl.i32)
    tl.atomic_add(Count, (tl.program_id(0), tl.program_id(1)), one)


@settings(deadline=None, max_examples=25)
@given(nx=st.integers(1, 9), ny=st.integers(1, 7), group=st.integers(1, 5),
       persistent=st.sampled_from([False, 1, 3, True]))
def test_every_tile_is_visited_exactly_once(nx, ny, group, persistent):
    k = tl.kernel(visits, group_m=group, persistent=persistent)
    count = np.zeros((nx, ny), np.int32)
    k[(nx, ny)](count, target="interp")
    np.testing.assert_array_equal(count, np.ones((nx, ny), np.int32))
