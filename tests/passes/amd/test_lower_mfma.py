"""The AMD (wave64, MFMA) lowering: the same passes driven by the target facts.

IR-text checks on the examples compiled for ``emulate:gfx90a`` / ``emulate:gfx942``
(th.mfma present, no cp.async / ldmatrix / mma, 64-lane shuffles, 16-byte LDS and
global accesses), the instruction choice, the bank-conflict freedom of the MFMA
operand reads under the staging swizzle, and the LDS-budgeted pipeline stages.
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tilelang as tl
from tilelang import f32 as F32

from tests.examples.test_examples import check, load_example
from tests.examples.test_examples_lowered import SIGNATURES
from tilelang.ir.fragment_layouts import MFMA_FRAGMENTS
from tilelang.ir.printer import print_module
from tilelang.ir.shared_layouts import bank_conflicts, parse_swizzle, row_major, swizzled
from tilelang.ir.types import TileType, bf16, f16, f32
from tilelang.passes.gpu.dot_instr import DotUnit

AMD = ["emulate:gfx90a", "emulate:gfx942"]
NVIDIA_ONLY = ("th.cp_async", "th.cp_async_commit", "th.cp_async_wait", "th.ldmatrix",
               "th.mma(")


def _compiled(name: str, index: int, target: str):
    _, kernel, sig, constexprs = [s for s in SIGNATURES if s[0] == name][index]
    return getattr(load_example(name), kernel).compile(sig, target=target, **constexprs)


def _after(ck, stage: str) -> str:
    """The IR text after one pass (printing every stage would dominate the test)."""
    return print_module(dict(ck.stages)[stage])


def _ops(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for op in re.findall(r"\b(th\.[a-z_]+)\(", text):
        out[op] = out.get(op, 0) + 1
    return out


@pytest.mark.parametrize("target", AMD)
@pytest.mark.parametrize("name, index", [("matmul", 0), ("flash_attention", 0),
                                         ("flash_attention", 1)])
def test_dots_lower_to_mfma_without_nvidia_ops(name, index, target):
    ck = _compiled(name, index, target)
    text = print_module(ck.module)
    fn = ck.function
    assert fn.attr("warp_size") == 64 and fn.attr("num_threads") == fn.attr("num_warps") * 64
    assert fn.attr("shared_bytes") <= 64 * 1024
    ops = _ops(text)
    assert ops.get("th.mfma", 0) > 0
    assert not [op for op in NVIDIA_ONLY if op in text], "NVIDIA-only ops on AMD"
    # operand rows come out of LDS 16 bytes at a time, never through ldmatrix
    assert re.search(r"th\.ld_shared\(.*\{dtype = bf16, vec = 8\}", text)
    # tile loads are 16-byte global accesses (8 bf16)
    assert re.search(r"th\.ld_global\(.*\{dtype = bf16, vec = 8\}", text)
    for lane in re.findall(r"th\.shfl\(lane = %(\w+)", text):
        value = re.search(rf"%{lane} = tl\.constant\(\) \{{value = (\d+)\}}", text)
        assert value is None or int(value.group(1)) < 64


def test_matmul_default_tile_uses_32x32x8_and_attention_rows_use_16x16x16():
    mm = print_module(_compiled("matmul", 0, "emulate:gfx90a").module)
    assert 'shape = "32x32x8"' in mm and 'shape = "16x16x16"' not in mm
    fa = print_module(_compiled("flash_attention", 0, "emulate:gfx90a").module)
    # BM = 64 rows over 4 wavefronts: 16-row tiles keep each row in one wavefront, so
    # the softmax row statistics are shuffles (no exchange through LDS)
    assert 'shape = "16x16x16"' in fa and 'shape = "32x32x8"' not in fa
    assert "th.shfl" in fa


def test_nvidia_lowering_is_unchanged_by_the_target_facts():
    text = print_module(_compiled("matmul", 0, "emulate:sm_80").module)
    assert "th.mma(" in text and "th.ldmatrix" in text and "th.cp_async" in text
    assert "th.mfma" not in text


@pytest.mark.slow
@pytest.mark.parametrize("target", AMD)
def test_matmul_on_32x32x8_tiles_in_the_emulator(target):
    """A 128x128 tile over 8 wavefronts takes the 32x32x8 path (the example's own run
    uses 64x64 tiles, 16x16x16); ragged sizes exercise the masked edges."""
    check(load_example("matmul").run(target=target, M=130, N=140, K=72, BM=128, BN=128,
                                     BK=32), 1e-2)


def test_instruction_choice():
    unit = DotUnit(4, 64, ("32x32x8", "16x16x16"))
    t = lambda *s, d=bf16: TileType(s, d)  # noqa: E731
    assert unit.select(t(64, 32), t(32, 64), t(64, 64, d=f32)).shape == "32x32x8"
    assert unit.select(t(64, 32), t(32, 64), t(64, 64, d=f32), rows=True).shape == "16x16x16"
    assert unit.select(t(16, 16), t(16, 64), t(16, 64, d=f32)).shape == "16x16x16"
    assert unit.select(t(16, 8), t(8, 64), t(16, 64, d=f32)) is None      # K < 16
    assert unit.select(t(64, 32, d=f32), t(32, 64, d=f32), t(64, 64, d=f32)) is None
    assert unit.select(t(64, 32, d=f16), t(32, 64, d=bf16), t(64, 64, d=f32)) is None
    ins = unit.select(t(128, 32), t(32, 128), t(128, 128, d=f32))
    assert ins.warp_grid(128, 128, 4) == (2, 2)
    lay = ins.tiled("c", (128, 128), (2, 2))
    assert unit.accumulator(lay, 128, 128) == (ins, (2, 2))
    assert DotUnit(4).select(t(64, 32), t(32, 64), t(64, 64, d=f32)).shape == "m16n8k16"


@pytest.mark.parametrize("shape", sorted(MFMA_FRAGMENTS))
@pytest.mark.parametrize("rows, cols", [(64, 32), (128, 32), (64, 64), (128, 128)])
def test_mfma_operand_reads_are_conflict_free_under_the_staging_swizzle(shape, rows, cols):
    """Lane ``l`` reads 8 bf16 (16 bytes) of row ``l % M`` at k ``8 (l // M)`` of a chunk;
    eight lanes form one LDS phase. Under the swizzle stage-through-shared picks, no
    phase of any chunk has a bank conflict (without it, some do)."""
    from tilelang.passes.gpu.stage_through_shared import operand_swizzle
    m = MFMA_FRAGMENTS[shape]["a"]().shape[0]
    g = 64 // m
    text = operand_swizzle(TileType((rows, cols), bf16))
    lay = swizzled(row_major(rows, cols), parse_swizzle(text)) if text else row_major(rows, cols)
    plain = row_major(rows, cols)

    def conflicts(layout) -> int:
        offs = layout.byte_offsets(16)
        total = 0
        for r0 in range(0, rows, m):
            for k0 in range(0, cols, 8 * g):
                lane = np.arange(64)
                addr = offs[r0 + lane % m, k0 + 8 * (lane // m)]
                total += bank_conflicts([addr[i:i + 8] for i in range(0, 64, 8)], 16)
        return total

    assert conflicts(lay) == 0
    if cols * 2 > 128:
        assert conflicts(plain) > 0


def test_pipeline_stages_shrink_to_the_lds_budget_without_cp_async():
    # attention at head dim 128: Q plus two-stage K and V rings would need 80 KiB of
    # LDS, so the loop keeps one stage (no ring); NVIDIA keeps its two-stage ring
    fa = _after(_compiled("flash_attention", 1, "emulate:gfx90a"), "pipeline")
    assert "stages = 1" in fa and "tl.shared_slice" not in fa
    nv = _after(_compiled("flash_attention", 1, "emulate:sm_80"), "pipeline")
    assert "shared<2x1x1x64x128xbf16" in nv and "tl.async_wait" in nv
    # head dim 64 and the 128x128x32 matmul fit with all their stages
    assert "shared<2x1x1x64x64xbf16" in _after(_compiled("flash_attention", 0,
                                                         "emulate:gfx90a"), "pipeline")
    mm = _compiled("matmul", 0, "emulate:gfx90a")
    assert "shared<3x128x32xbf16" in _after(mm, "pipeline")
    # the copies are synchronous: no cp.async groups in the thread IR
    assert "th.cp_async" not in print_module(mm.module)


# -- every path of lower_mfma, run by the emulator against numpy ------------------------


@tl.kernel(num_warps=1)
def _dot_tile(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, BM: tl.constexpr, BN: tl.constexpr,
              BK: tl.constexpr, TRANS_B: tl.constexpr = False):
    a = tl.load(A, (0, 0), (BM, BK))
    if TRANS_B:   # B given as N x K: read 16 bytes at a time like A
        b = tl.trans(tl.load(B, (0, 0), (BN, BK)))
    else:
        b = tl.load(B, (0, 0), (BK, BN))
    acc = tl.dot(a, b, tl.full((BM, BN), 0.5, F32))
    tl.store(C, (0, 0), acc)


@pytest.mark.parametrize("bm, bn, bk, warps, shape", [
    (32, 32, 8, 1, "32x32x8"),      # one K step: 8-byte reads
    (32, 64, 48, 1, "32x32x8"),     # paired steps (16-byte reads); K not a power of two
    (16, 16, 16, 1, "16x16x16"),    # one K step
    (16, 32, 64, 1, "16x16x16"),    # paired 16x16x16 steps
    (64, 64, 32, 4, "32x32x8"),     # four wavefronts in a 2x2 grid
    (32, 128, 16, 2, "32x32x8"),    # two wavefronts side by side, two tiles each
])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_every_mfma_path_matches_numpy(bm, bn, bk, warps, shape, trans_b, dtype):
    npdt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16
    rng = np.random.default_rng(bm * 7 + bn + bk)
    a = rng.standard_normal((bm, bk)).astype(npdt)
    b = rng.standard_normal((bk, bn)).astype(npdt)
    c = np.full((bm, bn), np.nan, np.float32)
    bt = np.ascontiguousarray(b.T) if trans_b else b
    sig = {"bfloat16": "bf16", "float16": "f16"}[dtype]
    ck = _dot_tile.compile(f"A={sig}[2]:16,B={sig}[2]:16,C=f32[2]:16", target="emulate:gfx90a",
                           num_warps=warps, BM=bm, BN=bn, BK=bk, TRANS_B=trans_b)
    text = print_module(ck.module)
    assert f'shape = "{shape}"' in text and "th.ldmatrix" not in text
    _dot_tile[(1,)](a, bt, c, BM=bm, BN=bn, BK=bk, TRANS_B=trans_b, num_warps=warps,
                    target="emulate:gfx90a")
    want = a.astype(np.float64) @ b.astype(np.float64) + 0.5
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([16, 32, 48, 64, 128]), st.sampled_from([16, 32, 64, 96, 128]),
       st.sampled_from([8, 16, 32, 64]), st.sampled_from([1, 2, 4, 8]), st.booleans())
def test_selected_instruction_tiles_the_accumulator(m, n, k, warps, rows):
    """Whatever select() picks, its accumulator layout is a bijection over
    ``warps * 64`` threads, is recognized as that instruction's, and the A and B
    tiles of the same grid divide by the fragments (instruction selection's test)."""
    from tilelang.ir.layouts import divide
    unit = DotUnit(warps, 64, ("32x32x8", "16x16x16"))
    ins = unit.select(TileType((m, k), bf16), TileType((k, n), bf16), TileType((m, n), f32),
                      rows=rows)
    if ins is None:
        assert all(k % i.k or i.warp_grid(m, n, warps) is None for i in unit.instructions())
        return
    grid = ins.warp_grid(m, n, warps)
    c = ins.tiled("c", (m, n), grid)
    assert c.num_threads == warps * 64 and c.is_injective() and c.covers()
    assert unit.accumulator(c, m, n) == (ins, grid)
    for op, shape in (("a", (m, k)), ("b", (k, n))):
        assert divide(ins.tiled(op, shape, grid), ins.fragment(op)) is not None
