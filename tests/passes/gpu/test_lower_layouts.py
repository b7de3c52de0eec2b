"""Lowering helpers for assigned layouts and swizzled buffers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from tilelang.ir.layouts import reduce
from tilelang.ir.fragment_layouts import warp_tiled
from tilelang.ir.shared_layouts import Swizzle, choose_swizzle
from tilelang.passes.gpu.lower_layouts import broadcast_slots, split_constant


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([(16, 16), (32, 16), (64, 32), (32, 64), (64, 128), (128, 64)]),
       st.integers(0, 1 << 16), st.integers(0, 1 << 16))
def test_a_swizzle_splits_over_disjoint_bits(shape, lane, const):
    swz = choose_swizzle(shape, 16, ("ldmatrix", "vec16"))
    const &= ~lane                        # the condition SwizzledOffsets relies on
    key, rest = split_constant(swz, const)
    assert swz.apply(lane + const) == (swz.apply(lane) ^ key) + rest


def test_the_split_needs_disjoint_bits():
    swz = Swizzle(2, 3, 3)
    lane, const = 8, 8                    # 8 + 8 carries into the chunk bits
    key, rest = split_constant(swz, const)
    assert swz.apply(lane + const) != (swz.apply(lane) ^ key) + rest


def test_a_row_statistic_broadcasts_back_over_its_tile_without_moving():
    tile = warp_tiled("c", (64, 64), (4, 1))
    rows = reduce(tile, 1).layout
    pick = broadcast_slots(rows, tile)
    assert pick is not None
    want = tile.table().copy()
    want[..., 1] = 0
    np.testing.assert_array_equal(rows.table()[:, pick], want)
    # across a 2 x 2 warp grid a row's columns are in other warps' registers too
    # (after a reduction every warp column holds the row: still free)
    assert broadcast_slots(reduce(warp_tiled("c", (64, 64), (2, 2)), 1).layout,
                           warp_tiled("c", (64, 64), (2, 2))) is not None
    assert broadcast_slots(rows, warp_tiled("c", (64, 64), (2, 2))) is None
