"""tma-store: which stores become TMA box stores (IR text), the buffer layouts they
go through, and the lowered epilogue running exactly in the emulator -- edge tiles
clipped, a missing barrier before the store reported."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import tilelang as tl
from tilelang.ir import ops
from tilelang.ir.memory_ops import BarrierOp
from tilelang.ir.tma_ops import TmaStoreOp
from tilelang.ir.types import TileType, bf16, f32
from tilelang.ir.values import Block
from tilelang.passes.nvidia.tma_store import store_buffer_type
from tests.passes.gpu.staging_kit import apply, norm, random_bf16
from tests.passes.nvidia.test_pipeline_tma import SIG, mm

FACTS = "tensor<bf16, 2, aligned, unit_stride, divisible>"
STORE = f"""
module {{
  func @k(%C: {FACTS}, %x: f32) attributes {{num_warps = 4, tma = true}} {{
    %z = tl.constant() {{value = 0}} : i32
    %v = tl.splat(value = %x) : tile<64x64xf32>
    %b = tl.cast(value = %v) : tile<64x64xbf16, layout = "LAYOUT">
    %c = tl.convert_layout(value = %b) : tile<64x64xbf16>
    tl.store(tensor = %C, offsets = [%z, %z], value = %c, mask = none)
    tl.return()
  }}
}}
"""
LAYOUT = "spatial(4, 1) * local(1, 8) * local(2, 1) * spatial(8, 4) * local(1, 2)"


def test_an_unmasked_store_becomes_a_tma_store_of_the_unconverted_tile():
    text = STORE.replace("LAYOUT", LAYOUT)
    want = text.replace('''    %c = tl.convert_layout(value = %b) : tile<64x64xbf16>
    tl.store(tensor = %C, offsets = [%z, %z], value = %c, mask = none)''',
                        '''    %c = tl.convert_layout(value = %b) : tile<64x64xbf16>
    tl.tma_store(tensor = %C, offsets = [%z, %z], value = %b)''')
    assert apply("tma-store", text) == norm(want)


@pytest.mark.parametrize("why, old, new", [
    ("a mask", "mask = none", "mask = %m"),
    ("no alignment facts", f"%C: {FACTS}", "%C: tensor<bf16, 2>"),
    ("no TMA on the target", "tma = true", "tma = false"),
    ("the kernel option", "tma = true", "tma = true, use_tma = false"),
])
def test_stores_tma_cannot_make_are_left_alone(why, old, new):
    text = STORE.replace("LAYOUT", LAYOUT).replace(old, new)
    if why == "a mask":
        text = text.replace("    tl.store(", "    %m = tl.splat(value = %t) : tile<64x64xbool>\n"
                                              "    tl.store(").replace(
            "%x: f32)", "%x: f32, %t: bool)")
    assert apply("tma-store", text) == norm(text), why


@pytest.mark.parametrize("shape, dtype, swizzle", [
    ((64, 64), bf16, "Swizzle(3, 3, 3)"),                      # 128-byte rows
    ((128, 32), bf16, "Swizzle(2, 3, 3)"),                     # 64-byte rows
    ((64, 32), f32, "Swizzle(3, 2, 3)"),                       # 128-byte rows of f32
    ((128, 128), bf16, "BlockSwizzle(128, 128, 64, Swizzle(3, 3, 3))"),
    ((1, 1, 64, 128), bf16, "BlockSwizzle(64, 128, 64, Swizzle(3, 3, 3))"),
    ((48, 8), bf16, ""),                                       # 16-byte rows: unswizzled
])
def test_store_buffers_take_a_tma_layout(shape, dtype, swizzle):
    buf = store_buffer_type(TileType(shape, dtype))
    assert buf is not None and buf.swizzle == swizzle and buf.shape == shape


def test_rows_tma_cannot_box_have_no_store_buffer():
    assert store_buffer_type(TileType((64, 4), bf16)) is None      # 8-byte rows
    assert store_buffer_type(TileType((300, 64), bf16)) is None    # a box over 256 rows


def _store_ops(fn) -> list:
    return [op for op in ops.walk(fn.body) if isinstance(op, TmaStoreOp)]


@pytest.mark.parametrize("M, N, K, warps", [(100, 72, 64, 4), (130, 200, 96, 8),
                                            (64, 64, 32, 4)])
def test_tma_stored_tiles_run_exactly_and_clip_at_the_edges(M, N, K, warps):
    # C bf16; edge tiles cover rows and columns past M and N, which the TMA store skips
    kern = tl.kernel(mm.fn, num_warps=warps)
    sig = SIG.replace("C=f32[2]:16", "C=bf16[2]:16")
    BM = 64 if warps == 4 else 128
    c = kern.compile(sig, target="emulate:sm_90a", BM=BM)
    assert _store_ops(c.function)
    rng = np.random.default_rng(M + N)
    a, b = random_bf16(rng, (M, K)), random_bf16(rng, (K, N))
    outs = []
    for target in ("emulate:sm_90a", "interp"):
        out = np.full((M + 3, N), 7.0, a.dtype)[:M]          # rows past M hold 7s
        kern[(-(-M // BM), -(-N // 64))](a, b, out, BM=BM, target=target)
        outs.append(out.astype(np.float32))
    np.testing.assert_allclose(outs[0], outs[1], rtol=2 ** -7, atol=1e-6)
    launched = [x for (t, _), x in kern._compiled.items() if t.startswith("emulate")]
    assert all(_store_ops(x.function) for x in launched)


def test_a_store_without_its_barrier_is_a_reported_race():
    # thread 0 would store the box while other threads' writes of it may be pending
    kern = tl.kernel(mm.fn, num_warps=4)
    sig = SIG.replace("C=f32[2]:16", "C=bf16[2]:16")
    fn = kern.compile(sig, target="emulate:sm_90a", BM=64).function

    from tilelang.ir.rewrite import map_regions

    def strip(block: Block) -> Block:
        out = []
        body = list(block.ops)
        for i, op in enumerate(body):
            nxt = next((x for x in body[i + 1:] if not isinstance(x, ops.ConstantOp) and
                        x.NAME != "tl.binary"), None)
            if isinstance(op, BarrierOp) and isinstance(nxt, TmaStoreOp):
                continue
            out.append(map_regions(op, strip))
        return Block(block.args, tuple(out))

    bad = replace(fn, body=strip(fn.body))
    assert sum(isinstance(op, BarrierOp) for op in ops.walk(bad.body)) < \
        sum(isinstance(op, BarrierOp) for op in ops.walk(fn.body))
    from tilelang.emulator.emulator import prepare_threads
    rng = np.random.default_rng(0)
    a, b = random_bf16(rng, (64, 64)), random_bf16(rng, (64, 64))
    with pytest.raises(tl.KernelError, match="shared memory race: thread 0 .* reads .* wrote"):
        prepare_threads(bad).run((1, 1), [a, b, np.zeros((64, 64), a.dtype)])
