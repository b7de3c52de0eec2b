"""The AMD (wave64, MFMA) lowering: the same passes driven by the target facts.

IR-text checks on the examples compiled for ``emulate:gfx90a`` / ``emulate:gfx942``
(th.mfma present, no cp.async / ldmatrix / mma, 64-lane shuffles, 16-byte LDS and
global accesses), the instruction choice, the bank-conflict freedom of the MFMA
operand reads under the staging swizzle, and the LDS-budgeted pipeline stages.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.examples.test_examples import check, load_example
from tests.examples.test_examples_lowered import SIGNATURES
from tilelang.ir.layouts import MFMA_FRAGMENTS
from tilelang.ir.printer import print_module
from tilelang.ir.shared_layouts import bank_conflicts, parse_swizzle, row_major, swizzled
from tilelang.ir.types import TileType, bf16, f16, f32
from tilelang.passes.dot_instr import DotUnit

AMD = ["emulate:gfx90a", "emulate:gfx942"]
NVIDIA_ONLY = ("th.cp_async", "th.cp_async_commit", "th.cp_async_wait", "th.ldmatrix",
               "th.mma(")


def _compiled(name: str, index: int, target: str):
    _, kernel, sig, constexprs = [s for s in SIGNATURES if s[0] == name][index]
    return getattr(load_example(name), kernel).compile(sig, target=target, **constexprs)


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
    from tilelang.passes.stage_through_shared import operand_swizzle
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
    fa = _compiled("flash_attention", 1, "emulate:gfx90a").ir["pipeline"]
    assert "stages = 1" in fa and "tl.shared_slice" not in fa
    nv = _compiled("flash_attention", 1, "emulate:sm_80").ir["pipeline"]
    assert "shared<2x1x1x64x128xbf16" in nv and "tl.async_wait" in nv
    # head dim 64 and the 128x128x32 matmul fit with all their stages
    assert "shared<2x1x1x64x64xbf16" in _compiled("flash_attention", 0, "emulate:gfx90a"
                                                  ).ir["pipeline"]
    mm = _compiled("matmul", 0, "emulate:gfx90a")
    assert "shared<3x128x32xbf16" in mm.ir["pipeline"]
    # the copies are synchronous: no cp.async groups in the thread IR
    assert "th.cp_async" not in print_module(mm.module)
