"""CDNA MFMA fragment layouts: the ISA's register tables, bijectivity, division."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tilelang.ir.layouts import divide, local, parse_layout, spatial
from tilelang.ir.fragment_layouts import (
    MFMA_FRAGMENTS, mfma_16x16x16_a, mfma_16x16x16_b, mfma_16x16x16_c, mfma_32x32x8_a, mfma_32x32x8_b, mfma_32x32x8_c,
)

# The AMD CDNA ISA's register order for v_mfma_f32_{32x32x8,16x16x16}{f16,bf16_1k}
# (lane l in [0, 64), register i), written out independently of the layout algebra.
ISA = {
    (mfma_32x32x8_a, (32, 8), 4): lambda l, i: (l % 32, 4 * (l // 32) + i),
    (mfma_32x32x8_b, (8, 32), 4): lambda l, i: (4 * (l // 32) + i, l % 32),
    (mfma_32x32x8_c, (32, 32), 16): lambda l, i: (8 * (i // 4) + 4 * (l // 32) + i % 4, l % 32),
    (mfma_16x16x16_a, (16, 16), 4): lambda l, i: (l % 16, 4 * (l // 16) + i),
    (mfma_16x16x16_b, (16, 16), 4): lambda l, i: (4 * (l // 16) + i, l % 16),
    (mfma_16x16x16_c, (16, 16), 4): lambda l, i: (4 * (l // 16) + i, l % 16),
}


@pytest.mark.parametrize("key", list(ISA), ids=lambda k: k[0].__name__)
def test_mfma_fragments_match_the_isa(key):
    make, shape, slots = key
    lay = make()
    assert lay.shape == shape and lay.num_threads == 64 and lay.num_slots == slots
    want = np.array([[ISA[key](l, i) for i in range(slots)] for l in range(64)])
    assert np.array_equal(lay.table(), want)


@pytest.mark.parametrize("make", [k[0] for k in ISA], ids=lambda f: f.__name__)
def test_mfma_fragments_are_bijections_and_parse_back(make):
    lay = make()
    assert lay.is_injective() and lay.covers() and lay.replication() == 1
    assert parse_layout(str(lay)) == lay


def test_mfma_a_and_b_registers_share_k():
    """Register i of lane l holds the same k in A and in B (the hardware multiplies
    them pairwise), and the A rows / B columns a lane holds are C's row block and
    column: the fragments agree with each other, not only with their own tables."""
    for shape, frags in MFMA_FRAGMENTS.items():
        ta, tb, tc = (frags[x]().table() for x in "abc")
        assert np.array_equal(ta[..., 1], tb[..., 0]), shape
        assert np.array_equal(tb[:, 0, 1], tc[:, 0, 1]), shape   # lane's C column = B column


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(MFMA_FRAGMENTS)), st.sampled_from("abc"),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2))
def test_mfma_fragment_divides_warp_tiles(shape, op, lm, ln, wm, wn):
    """A wave-tiled block (warps outside, a grid of fragments per warp) divides by
    the fragment and gives back the outer part, as instruction selection needs."""
    frag = MFMA_FRAGMENTS[shape][op]()
    outer = spatial(wm, wn) * local(lm, ln)
    block = outer * frag
    got = divide(block, frag)
    assert got is not None and (got * frag).same_as(block)
    assert block.num_threads == 64 * wm * wn


def test_mfma_fragments_are_named_on_the_command_line():
    from tilelang.ir.layout_table import describe, resolve_layout
    for shape, frags in MFMA_FRAGMENTS.items():
        for op, make in frags.items():
            assert resolve_layout(f"mfma_{shape}_{op}").same_as(make())
    tiled = resolve_layout("spatial(2, 2) * mfma_32x32x8_c()")
    assert tiled.shape == (64, 64) and tiled.num_threads == 256
    text = describe(resolve_layout("mfma_16x16x16_c"))
    assert "threads: 64" in text and "T16:R0" in text
