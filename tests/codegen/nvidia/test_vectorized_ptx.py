"""16-byte global accesses in the PTX of kernels specialized for aligned tensors."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.codegen.nvidia.test_ptxas import needs_ptxas
from tests.codegen.nvidia.test_sass import require_tools
from tilelang.codegen.nvidia import sass
from tilelang.codegen.nvidia.ptxas import assemble

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
import softmax, vector_add  # noqa: E402


def count(pattern: str, ptx: str) -> int:
    return len(re.findall(pattern, ptx))


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_softmax_with_an_aligned_signature_loads_and_stores_128_bits(arch):
    ptx = softmax.softmax.compile("X=f32[2]:16,Y=f32[2]:16", target=arch).ptx
    # 4 x 1024 floats over 128 threads: 8 vectors of 4 each way, no scalar access left
    assert count(r"ld\.global\.v4\.b32", ptx) == 8 == count(r"ld\.global", ptx)
    assert count(r"st\.global\.v4\.b32", ptx) == 8 == count(r"st\.global", ptx)


def test_bf16_rows_are_8_elements_per_access():
    ptx = softmax.softmax.compile("X=bf16[2]:16,Y=bf16[2]:16", target="sm_80").ptx
    assert count(r"ld\.global\.v4\.b32", ptx) == 4 == count(r"ld\.global", ptx)


def test_without_facts_every_access_is_one_element():
    ptx = softmax.softmax.compile("X=f32[2],Y=f32[2]", target="sm_80").ptx
    assert count(r"\.global\.v\d", ptx) == 0 and count(r"ld\.global", ptx) == 32


def test_facts_of_one_tensor_vectorize_only_its_accesses():
    ptx = vector_add.vector_add.compile("X=f32[1]:16,Y=f32[1],Z=f32[1]:16",
                                        target="sm_80").ptx
    assert count(r"ld\.global\.v4", ptx) == 2         # X: 1024 floats, 8 per thread
    assert count(r"st\.global\.v4", ptx) == 2
    assert count(r"ld\.global\.(b|f|u)32", ptx) == 8  # Y, one element at a time


@needs_ptxas
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_vectorized_softmax_assembles(arch):
    ptx = softmax.softmax.compile("X=f32[2]:16,Y=f32[2]:16", target=arch).ptx
    assert assemble(ptx, arch).cubin[:4] == b"\x7fELF"


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_softmax_sass_has_128_bit_global_loads_only_when_aligned(arch):
    require_tools()
    widths = {}
    for sig in ("X=f32[2]:16,Y=f32[2]:16", "X=f32[2],Y=f32[2]"):
        ptx = softmax.softmax.compile(sig, target=arch).ptx
        text = sass.disassemble(assemble(ptx, arch).cubin)
        widths[sig] = (sass.access_widths(text, "LDG"), sass.access_widths(text, "STG"))
    loads, stores = widths["X=f32[2]:16,Y=f32[2]:16"]
    assert set(loads) == {128} and set(stores) == {128}        # LDG.E.128 / STG.E.128
    assert 128 not in widths["X=f32[2],Y=f32[2]"][0]
