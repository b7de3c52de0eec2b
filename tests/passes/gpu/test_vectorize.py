"""Before/after IR-text tests of the vectorize pass, and its invariants on random modules."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from tests.ir.strategies import modules
from tilelang.ir import ops as o
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES, PIPELINES
from tilelang.passes.gpu.vectorize import tile_run
from tilelang.ir.types import TileType, f32

FACTS = "aligned, unit_stride, divisible"


def apply(text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES["vectorize"](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


def kernel(params: str, body: str, num_warps: int = 4) -> str:
    return f"""
    module {{
      func @k({params}) attributes {{num_warps = {num_warps}}} {{
        %pid = tl.program_id() {{axis = 0}} : i32
        %c0 = tl.constant() {{value = 0}} : i32
        %c4 = tl.constant() {{value = 4}} : i32
        %m0 = tl.binary(lhs = %pid, rhs = %c4) {{fn = "mul"}} : i32
{textwrap.indent(textwrap.dedent(body), " " * 8)}
        tl.return()
      }}
    }}"""


def test_softmax_rows_get_16_byte_loads_and_stores():
    before = kernel(f"%X: tensor<f32, 2, {FACTS}>, %Y: tensor<f32, 2, {FACTS}>", """
        %ninf = tl.constant() {value = -inf} : f32
        %x = tl.load(tensor = %X, offsets = [%m0, %c0], other = %ninf) : tile<4x1024xf32>
        tl.store(tensor = %Y, offsets = [%m0, %c0], value = %x)""")
    after = kernel(f"%X: tensor<f32, 2, {FACTS}>, %Y: tensor<f32, 2, {FACTS}>", """
        %ninf = tl.constant() {value = -inf} : f32
        %x = tl.load(tensor = %X, offsets = [%m0, %c0], other = %ninf) {vec = 4} : tile<4x1024xf32>
        tl.store(tensor = %Y, offsets = [%m0, %c0], value = %x) {vec = 4}""")
    assert apply(before) == norm(after)


def test_each_missing_fact_keeps_accesses_scalar():
    for facts in ("", ", aligned, unit_stride", ", aligned, divisible", ", unit_stride, divisible"):
        text = kernel(f"%X: tensor<f32, 2{facts}>", """
            %x = tl.load(tensor = %X, offsets = [%m0, %c0]) : tile<4x1024xf32>""")
        assert apply(text) == norm(text), facts


def test_the_last_offset_limits_the_width():
    before = kernel(f"%X: tensor<f32, 2, {FACTS}>, %n: i32", """
        %c2 = tl.constant() {value = 2} : i32
        %o2 = tl.binary(lhs = %pid, rhs = %c2) {fn = "mul"} : i32
        %a = tl.load(tensor = %X, offsets = [%c0, %o2]) : tile<4x1024xf32>
        %b = tl.load(tensor = %X, offsets = [%c0, %n]) : tile<4x1024xf32>
        %c = tl.load(tensor = %X, offsets = [%n, %m0]) : tile<4x1024xf32>""")
    out = apply(before)
    assert "offsets = [%c0, %o2], mask = none, other = none) {vec = 2}" in out      # 2 * pid: pairs
    assert "offsets = [%c0, %n], mask = none, other = none) {vec = 1}" in out       # a runtime column: unknown
    assert "offsets = [%n, %m0], mask = none, other = none) {vec = 4}" in out       # rows do not matter


def test_dtype_tile_shape_and_layout_limit_the_width():
    before = kernel(f"%H: tensor<bf16, 2, {FACTS}>, %D: tensor<f64, 1, {FACTS}>", """
        %a = tl.load(tensor = %H, offsets = [%m0, %c0]) : tile<64x64xbf16>
        %b = tl.load(tensor = %H, offsets = [%m0, %c0]) : tile<256x4xbf16>
        %c = tl.load(tensor = %H, offsets = [%m0, %c0]) : tile<1x128xbf16>
        %d = tl.load(tensor = %D, offsets = [%c0]) : tile<1024xf64>""")
    out = apply(before)
    assert ": tile<64x64xbf16>" in out and "{vec = 8} : tile<64x64xbf16>" in out
    assert "{vec = 4} : tile<256x4xbf16>" in out         # a row holds 4 elements
    assert "{vec = 1} : tile<1x128xbf16>" in out         # 128 threads, one element each
    assert "{vec = 2} : tile<1024xf64>" in out           # 16 bytes of f64


def test_masks_uniform_along_rows_allow_vectors_others_do_not():
    before = kernel(f"%X: tensor<f32, 2, {FACTS}>, %n: i32", """
        %rows = tl.arange() {start = 0, stop = 4} : tile<4xi32>
        %r2 = tl.reshape(value = %rows) : tile<4x1xi32>
        %ns = tl.splat(value = %n) : tile<4x1xi32>
        %ok = tl.binary(lhs = %r2, rhs = %ns) {fn = "lt"} : tile<4x1xbool>
        %rowmask = tl.broadcast(value = %ok) : tile<4x1024xbool>
        %a = tl.load(tensor = %X, offsets = [%m0, %c0], mask = %rowmask) : tile<4x1024xf32>
        %cols = tl.arange() {start = 0, stop = 1024} : tile<1024xi32>
        %c2 = tl.reshape(value = %cols) : tile<1x1024xi32>
        %nc = tl.splat(value = %n) : tile<1x1024xi32>
        %okc = tl.binary(lhs = %c2, rhs = %nc) {fn = "lt"} : tile<1x1024xbool>
        %colmask = tl.broadcast(value = %okc) : tile<4x1024xbool>
        %b = tl.load(tensor = %X, offsets = [%m0, %c0], mask = %colmask) : tile<4x1024xf32>
        tl.store(tensor = %X, offsets = [%m0, %c0], value = %a, mask = %rowmask)""")
    out = apply(before)
    assert "mask = %rowmask, other = none) {vec = 4}" in out
    assert "mask = %colmask, other = none) {vec = 1}" in out
    assert "value = %a, mask = %rowmask) {vec = 4}" in out


def test_copies_and_loads_in_loops_use_the_induction_variable():
    before = kernel(f"%A: tensor<f16, 2, {FACTS}>, %n: i32", """
        %c1 = tl.constant() {value = 1} : i32
        %s = tl.alloc_shared() : shared<64x32xf16>
        tl.for(lower = %c0, upper = %n, step = %c1, inits = []) {kind = "pipeline", stages = 3} (body: ^(%k: i32) {
          %c32 = tl.constant() {value = 32} : i32
          %k0 = tl.binary(lhs = %k, rhs = %c32) {fn = "mul"} : i32
          tl.copy(tensor = %A, offsets = [%m0, %k0], dst = %s)
          %k1 = tl.binary(lhs = %k0, rhs = %c1) {fn = "add"} : i32
          tl.copy(tensor = %A, offsets = [%m0, %k1], dst = %s)
          tl.yield(values = [])
        })""")
    out = apply(before)
    assert "offsets = [%m0, %k0], dst = %s) {is_async = false, vec = 8}" in out
    assert "offsets = [%m0, %k1], dst = %s) {is_async = false, vec = 1}" in out


def test_atomics_and_bool_tensors_stay_scalar():
    text = kernel(f"%X: tensor<f32, 1, {FACTS}>, %B: tensor<bool, 1, {FACTS}>", """
        %t = tl.load(tensor = %B, offsets = [%c0]) : tile<1024xbool>
        %z = tl.constant() {value = 0.0} : f32
        %zs = tl.splat(value = %z) : tile<1024xf32>
        tl.atomic_add(tensor = %X, offsets = [%c0], value = %zs)""")
    assert apply(text) == norm(text)


@pytest.mark.parametrize("dtype, offset, vec", [
    ("i4", "%c0", 8), ("u3", "%c0", 8), ("u1", "%c0", 8), ("f6e3m2", "%c0", 8),
    ("u3", "%x", 1),            # an offset not known to be a multiple of 8
])
def test_packed_lowbit_windows_move_whole_bytes_of_each_plane(dtype, offset, vec):
    # a group of v elements is v * w / 8 whole bytes of each plane (lower_packed.py)
    text = kernel(f"%Q: tensor<{dtype}, 1, {FACTS}>, %x: i32", f"""
        %q = tl.load(tensor = %Q, offsets = [{offset}]) : tile<1024xu8>""")
    assert f"{{vec = {vec}}}" in apply(text) or (vec == 1 and "vec" not in apply(text))


def test_tile_run_of_blocked_and_assigned_layouts():
    assert tile_run(TileType((4, 1024), f32), 128) == 8
    assert tile_run(TileType((128,), f32), 128) == 1
    # each thread's 8 columns are consecutive / strided by 32 threads
    assert tile_run(TileType((4, 256), f32, "spatial(4, 32) * local(1, 8)"), 128) == 8
    assert tile_run(TileType((4, 256), f32, "local(1, 8) * spatial(4, 32)"), 128) == 1


def test_vectorize_is_in_the_nvidia_pipeline_before_lowering():
    nvidia = PIPELINES["gpu"]
    assert nvidia.index("vectorize") < nvidia.index("lower-to-threads")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(modules())
def test_random_modules_change_only_vec_and_stay_valid(m):
    out = PASSES["vectorize"](m)
    verify_module(out)
    assert PASSES["vectorize"](out) == out

    before = [op for f in m.functions for op in o.walk(f.body)]
    after = [op for f in out.functions for op in o.walk(f.body)]
    assert len(before) == len(after)
    for a, b in zip(before, after):
        if isinstance(a, (o.LoadOp, o.StoreOp, o.CopyOp)):
            assert replace(b, vec=a.vec) == a
        elif not a.regions():
            assert a == b
