"""assign-layouts: which layouts tiles get, where conversions go, and that the
emulated lowering of layout-assigned tiles equals the interpreter."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tilelang import f32
from tilelang.ir import ops
from tilelang.ir.layouts import parse_layout, reduce
from tilelang.ir.fragment_layouts import warp_tiled
from tilelang.ir.printer import print_module
from tilelang.passes import PASSES

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
import flash_attention, matmul  # noqa: E402


def assign(kernel, sig, **constexprs):
    module = kernel.compile(sig, target="interp", **constexprs).module
    return PASSES["assign-layouts"](module).functions[0]


def loop_of(fn):
    return next(op for op in fn.body.ops if isinstance(op, ops.ForOp))


def test_matmul_accumulator_lives_in_the_mma_layout_across_the_loop():
    fn = assign(matmul.matmul, "A=bf16[2],B=bf16[2],C=bf16[2]", BM=64, BN=64)
    want = str(warp_tiled("c", (64, 64), (2, 4)))   # warp_grid's choice for 8 warps
    loop = loop_of(fn)
    dot = next(op for op in loop.body.ops if isinstance(op, ops.DotOp))
    assert dot.result.type.layout == want
    assert loop.body.args[1].type.layout == want and loop.results[0].type.layout == want
    # the zeros the loop starts from are built in that layout, not converted
    init = next(op for op in fn.body.ops if loop.inits[0] in op.results)
    assert isinstance(init, ops.SplatOp)
    # operands of the dot stay blocked; the store gets a blocked tile back
    assert dot.a.type.layout == "" and dot.b.type.layout == ""
    # the IR text shows the layouts: one conversion, before the store
    text = print_module(PASSES["assign-layouts"](
        matmul.matmul.compile("A=bf16[2],B=bf16[2],C=bf16[2]", target="interp", BM=64,
                              BN=64).module))
    assert f'tile<64x64xf32, layout = "{want}">' in text
    assert text.count("tl.convert_layout") == 1
    assert text.index("tl.convert_layout") < text.index("tl.store")


def test_attention_row_statistics_stay_in_registers():
    fn = assign(flash_attention.flash_attention,
                "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", HEAD_DIM=64)
    s_layout = str(warp_tiled("c", (64, 64), (4, 1)))   # rows inside one warp: reductions shuffle
    loop = loop_of(fn)
    body = list(ops.walk(loop.body))
    dots = [op for op in body if isinstance(op, ops.DotOp)]
    assert [d.result.type.layout for d in dots] == [s_layout, s_layout]
    reductions = [op for op in body if isinstance(op, ops.ReduceOp)]
    row = reduce(parse_layout(s_layout), 1).layout   # (64, 1), lanes of a quad replicate
    for r in reductions:
        assert parse_layout(r.result.type.layout).same_as(
            parse_layout(r.result.type.layout)) and r.result.type.shape == (64,)
        assert parse_layout(r.result.type.layout).num_slots == row.num_slots
    # broadcasting m and alpha back over the tile needs no exchange, and P feeds
    # P @ V from registers: nothing in the loop moves between threads
    assert not [op for op in body if isinstance(op, ops.ConvertLayoutOp)]
    assert dots[1].a.type.layout == s_layout
    # the one conversion left is the output tile's, to the blocked layout of the store
    converts = [op for op in ops.walk(fn.body) if isinstance(op, ops.ConvertLayoutOp)]
    assert [c.result.type.shape for c in converts] == [(1, 1, 64, 64)]


def test_every_op_sees_operands_in_the_layout_it_needs():
    fn = assign(flash_attention.flash_attention,
                "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", HEAD_DIM=128,
                CAUSAL=True)
    for op in ops.walk(fn.body):
        tiles = [v for v in (getattr(op, n) for n, k in ops.op_fields(type(op))
                             if k is ops.FieldKind.OPERAND) if hasattr(v.type, "layout")]
        if isinstance(op, (ops.BinaryOp, ops.WhereOp, ops.CastOp, ops.UnaryOp)) and tiles:
            assert {v.type.layout for v in tiles} <= {op.result.type.layout}
        if isinstance(op, (ops.StoreOp, ops.LoadOp, ops.TransOp, ops.SharedStoreOp)):
            assert all(v.type.layout == "" for v in tiles)


@tl.kernel(num_warps=4)
def dot_then(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, R: tl.Tensor, MODE: tl.constexpr,
             BM: tl.constexpr = 32, BN: tl.constexpr = 32):
    a = tl.load(A, (0, 0), (BM, 32))
    b = tl.load(B, (0, 0), (32, BN))
    s = tl.dot(a, b, tl.zeros((BM, BN), f32))
    if MODE == 1:
        tl.store(R, (0,), tl.max(s, 1))
    if MODE == 2:
        s = s - tl.max(s, 1)[:, None]
    if MODE == 4:
        tl.store(R, (0,), tl.sum(s, 1))
    if MODE == 3:
        cols = tl.arange(BN)
        s = tl.where(cols[None, :] < 20, s, 0.0)
    tl.store(C, (0, 0), s)


@pytest.mark.parametrize("BM", [32, 64])      # 32 rows: a 2x2 warp grid, reductions cross warps
@pytest.mark.parametrize("mode", [0, 1, 2, 3, 4])
def test_emulated_layouts_equal_the_interpreter(mode, BM):
    rng = np.random.default_rng(mode)
    a = rng.standard_normal((BM, 32)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((32, 32)).astype(ml_dtypes.bfloat16)
    outs = []
    for target in ("interp", "emulate:sm_80"):
        c, r = np.zeros((BM, 32), np.float32), np.zeros((BM,), np.float32)
        dot_then[(1,)](a, b, c, r, MODE=mode, BM=BM, target=target)
        outs.append((c, r))
    # The dot and the row sums add f32 terms in another order than numpy: a result
    # may differ by about (number of terms) * eps * sum |terms|, no more.
    s = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    bound = 64 * np.finfo(np.float32).eps
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=0, atol=bound * s.max())
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=0,
                               atol=bound * 32 * s.sum(1).max())


BEFORE = """\
    module {
      func @k(%A: tensor<bf16, 2>, %B: tensor<bf16, 2>, %C: tensor<f32, 2>, %R: tensor<f32, 1>) attributes {num_warps = 1} {
        %i0 = tl.constant() {value = 0} : i32
        %a = tl.load(tensor = %A, offsets = [%i0, %i0], mask = none, other = none) {vec = 1} : tile<16x16xbf16>
        %b = tl.load(tensor = %B, offsets = [%i0, %i0], mask = none, other = none) {vec = 1} : tile<16x8xbf16>
        %f0 = tl.constant() {value = 0.0} : f32
        %z = tl.splat(value = %f0) : tile<16x8xf32>
        %d = tl.dot(a = %a, b = %b, acc = %z) : tile<16x8xf32>
        %m = tl.reduce(value = %d) {fn = "max", axis = 1, keepdims = false} : tile<16xf32>
        %m2 = tl.reshape(value = %m) : tile<16x1xf32>
        %mb = tl.broadcast(value = %m2) : tile<16x8xf32>
        %e = tl.binary(lhs = %d, rhs = %mb) {fn = "sub"} : tile<16x8xf32>
        tl.store(tensor = %C, offsets = [%i0, %i0], value = %e, mask = none) {vec = 1}
        tl.store(tensor = %R, offsets = [%i0], value = %m, mask = none) {vec = 1}
        tl.return()
      }
    }
"""

AFTER = """\
    module {
      func @k(%A: tensor<bf16, 2>, %B: tensor<bf16, 2>, %C: tensor<f32, 2>, %R: tensor<f32, 1>) attributes {num_warps = 1} {
        %i0 = tl.constant() {value = 0} : i32
        %a = tl.load(tensor = %A, offsets = [%i0, %i0], mask = none, other = none) {vec = 1} : tile<16x16xbf16>
        %b = tl.load(tensor = %B, offsets = [%i0, %i0], mask = none, other = none) {vec = 1} : tile<16x8xbf16>
        %f0 = tl.constant() {value = 0.0} : f32
        %z = tl.splat(value = %f0) : tile<16x8xf32>
        %z_l0 = tl.splat(value = %f0) : tile<16x8xf32, layout = "local(2, 1) * spatial(8, 4) * local(1, 2)">
        %d = tl.dot(a = %a, b = %b, acc = %z_l0) : tile<16x8xf32, layout = "local(2, 1) * spatial(8, 4) * local(1, 2)">
        %m = tl.reduce(value = %d) {fn = "max", axis = 1, keepdims = false} : tile<16xf32, layout = "local(2) * spatial(8) * replicate(4, 1)">
        %m2 = tl.reshape(value = %m) : tile<16x1xf32, layout = "local(2, 1) * spatial(8, 1) * replicate(4, 2)">
        %mb = tl.broadcast(value = %m2) : tile<16x8xf32, layout = "local(2, 1) * spatial(8, 4) * local(1, 2)">
        %e = tl.binary(lhs = %d, rhs = %mb) {fn = "sub"} : tile<16x8xf32, layout = "local(2, 1) * spatial(8, 4) * local(1, 2)">
        %e_l0 = tl.convert_layout(value = %e) : tile<16x8xf32>
        tl.store(tensor = %C, offsets = [%i0, %i0], value = %e_l0, mask = none) {vec = 1}
        %m_l0 = tl.convert_layout(value = %m) : tile<16xf32>
        tl.store(tensor = %R, offsets = [%i0], value = %m_l0, mask = none) {vec = 1}
        tl.return()
      }
    }
"""


def test_ir_text_before_and_after():
    """One warp, one m16n8k16 dot: the accumulator's zeros are rebuilt in the mma
    layout, the row maximum is reduced in it (four lanes of a quad share a row) and
    broadcast back without moving, and only the stores get blocked tiles."""
    from tilelang.ir.parser import parse_module
    after = print_module(PASSES["assign-layouts"](parse_module(textwrap.dedent(BEFORE))))
    assert after == textwrap.dedent(AFTER)
