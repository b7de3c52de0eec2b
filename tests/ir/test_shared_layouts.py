"""Shared layouts: swizzles, the text form, bank conflicts, chosen swizzles, pictures.

The access patterns are rebuilt here from the instructions' own lane rules
(ldmatrix: lane ``8j + r`` addresses row ``r`` of matrix ``j``; cp.async: thread
``t`` copies 16-byte chunk ``t``), independently of ``pattern_phases``.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import assume, given, settings, strategies as st

from tilelang.ir.layouts import LayoutError
from tilelang.ir.shared_layouts import (
    PATTERNS, Swizzle, bank_conflicts, choose_swizzle, lanes_per_phase, parse_shared_layout,
    pattern_phases, row_major, swizzled, warp_phases,
)

SIZES = (16, 32, 64, 128)   # BK or BN in 16-bit elements


# ---------------------------------------------------------------------------
# swizzles and layouts
# ---------------------------------------------------------------------------

def cute_swizzle(offset: int, b: int, m: int, s: int) -> int:
    """CuTe's Swizzle<B, M, S>::apply, written from its definition."""
    yyy = ((1 << b) - 1) << (m + s)
    return offset ^ ((offset & yyy) >> s)


def test_swizzle_matches_cute():
    swz = Swizzle(3, 3, 3)
    for off in range(4096):
        assert swz.apply(off) == cute_swizzle(off, 3, 3, 3)
    # the row bits (6..8) pick which 16-byte chunk of the 128-byte line moves where
    assert [swz.apply(64 * r) for r in range(8)] == [64 * r + 8 * r for r in range(8)]


def test_row_major_offsets():
    lay = row_major(4, 8)
    assert lay.offset(2, 3) == 19 and lay.offsets().shape == (4, 8)
    assert row_major((4, 8)) == lay and str(lay) == "row_major(4, 8)"
    assert lay.byte_offsets(16)[1, 0] == 16


swizzles = st.builds(lambda b, m, extra: Swizzle(b, m, b + extra),
                     st.integers(0, 3), st.integers(0, 4), st.integers(0, 3))


@st.composite
def swizzled_layouts(draw):
    swz = draw(swizzles)
    rows = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    cols = draw(st.sampled_from([8, 16, 32, 64, 128]))
    stages = draw(st.sampled_from([1, 2, 3]))
    assume((rows * cols) % swz.period == 0)
    shape = (stages, rows, cols) if stages > 1 else (rows, cols)
    return swizzled(row_major(*shape), swz)


@settings(max_examples=150, deadline=None)
@given(swizzled_layouts())
def test_swizzles_are_bijections_on_the_buffer(lay):
    assert lay.is_bijective()


@settings(max_examples=150, deadline=None)
@given(swizzled_layouts())
def test_shared_str_parses_back(lay):
    assert parse_shared_layout(str(lay)) == lay


@settings(max_examples=100, deadline=None)
@given(swizzles, st.integers(0, 1 << 16))
def test_swizzle_is_an_involution(swz, off):
    assert swz.apply(swz.apply(off)) == off


def test_bad_swizzles_and_layouts():
    with pytest.raises(LayoutError):
        Swizzle(3, 3, 2)                      # source and target bits overlap
    with pytest.raises(LayoutError):
        swizzled(row_major(4, 4), Swizzle(3, 3, 3))   # 16 elements, blocks of 64
    with pytest.raises(LayoutError):
        row_major(0, 4)
    for text in ("row_major(4, 4) * row_major(2)", "Swizzle(3, 3, 3)", "swizzled(row_major(64))",
                 "local(4)"):
        with pytest.raises(LayoutError):
            parse_shared_layout(text)
    assert swizzled(row_major(8, 8), Swizzle(0, 3, 0)) == row_major(8, 8)


# ---------------------------------------------------------------------------
# bank conflicts
# ---------------------------------------------------------------------------

def test_bank_conflict_counting():
    assert bank_conflicts([range(0, 128, 4)], 4) == 0              # 32 lanes, 32 banks
    assert bank_conflicts([[0] * 32], 4) == 0                      # broadcast
    assert bank_conflicts([[0, 128, 256, 384]], 4) == 3            # one bank, four words
    assert bank_conflicts([[8 * i for i in range(32)]], 4) == 1     # stride 2 words: 2-way
    assert bank_conflicts([range(0, 128, 16)], 16) == 0            # eight 16-byte chunks
    assert bank_conflicts([range(0, 1024, 128)], 16) == 7          # eight rows of 128 bytes
    assert bank_conflicts([range(0, 512, 64)], 16) == 3            # rows of 64 bytes
    assert bank_conflicts([range(0, 128, 16), range(0, 1024, 128)], 16) == 7
    # 256 bytes in one phase need two wavefronts: the minimum, so no conflict
    assert bank_conflicts([range(0, 256, 8)], 8) == 0
    assert bank_conflicts([range(0, 512, 16)], 8) == 2             # 4 words a bank, 2 at least
    assert bank_conflicts([], 16) == 0


def test_warp_phases():
    assert lanes_per_phase(4) == 32 and lanes_per_phase(8) == 16 and lanes_per_phase(16) == 8
    phases = warp_phases(list(range(0, 512, 16)), 16)
    assert len(phases) == 4 and phases[1][0] == 128
    assert bank_conflicts(warp_phases([16 * i for i in range(32)], 16), 16) == 0
    assert bank_conflicts(warp_phases([8 * i for i in range(32)], 8), 8) == 0
    with pytest.raises(LayoutError):
        lanes_per_phase(12)


def ldmatrix_x4_addresses(lay, m0: int, k0: int, elem_bytes: int = 2) -> list[int]:
    """Per-lane byte addresses of one ldmatrix.x4 (A: matrices (0,0),(8,0),(0,8),(8,8))."""
    byte = lay.byte_offsets(8 * elem_bytes)
    return [int(byte[m0 + (lane % 8) + 8 * (lane // 8 % 2), k0 + 8 * (lane // 16)])
            for lane in range(32)]


def cp_async_addresses(lay, elem_bits: int, threads: int = 128) -> list[list[int]]:
    """One warp-instruction's addresses per warp for a 16-byte-per-thread copy loop."""
    rows, cols = lay.shape
    chunk = 128 // elem_bits
    per_row = cols // chunk
    byte = lay.byte_offsets(elem_bits)
    total = rows * per_row
    warps = []
    for start in range(0, total, 32):
        warps.append([int(byte[q // per_row, q % per_row * chunk])
                      for q in range(start, min(start + 32, total))])
    return warps


def ldmatrix_conflicts(lay) -> int:
    rows, cols = lay.shape
    return sum(bank_conflicts(warp_phases(ldmatrix_x4_addresses(lay, m, k), 16), 16)
               for m in range(0, rows, 16) for k in range(0, cols, 16))


def cp_async_conflicts(lay, elem_bits: int = 16) -> int:
    return sum(bank_conflicts(warp_phases(w, 16), 16) for w in cp_async_addresses(lay, elem_bits))


EXPECTED = {16: Swizzle(1, 3, 3), 32: Swizzle(2, 3, 3), 64: Swizzle(3, 3, 3),
            128: Swizzle(3, 3, 4)}
UNSWIZZLED_LDMATRIX = {16: 1, 32: 3, 64: 7}   # extra wavefronts per phase of 8 rows


@pytest.mark.parametrize("cols", SIZES)
@pytest.mark.parametrize("rows", [16, 64, 128])
def test_chosen_swizzles_are_conflict_free(rows, cols):
    # A tiles are BM x BK and B tiles BK x BN, both row-major: rows x cols covers both.
    swz = choose_swizzle((rows, cols), 16, ("ldmatrix", "vec16"))
    assert swz == EXPECTED[cols]
    lay = swizzled(row_major(rows, cols), swz)
    assert lay.is_bijective()
    assert ldmatrix_conflicts(lay) == 0 and cp_async_conflicts(lay) == 0
    for p in PATTERNS:
        assert bank_conflicts(pattern_phases(lay, 16, p), 16) == 0
    plain = row_major(rows, cols)
    assert cp_async_conflicts(plain) == 0             # plain rows are fine for cp.async...
    phases = (rows // 8) * (cols // 8)                  # ...but not for ldmatrix
    expected = UNSWIZZLED_LDMATRIX.get(min(cols, 64), 0) * phases
    assert ldmatrix_conflicts(plain) == expected > 0
    assert bank_conflicts(pattern_phases(plain, 16, "ldmatrix"), 16) == expected


def test_choose_swizzle_more_cases():
    assert choose_swizzle((64, 8), 16).is_identity                 # 16-byte rows: no conflicts
    assert choose_swizzle((64, 64), 16, "vec16").is_identity       # cp.async alone needs none
    assert choose_swizzle((64, 32), 32) == Swizzle(3, 2, 3)         # f32: 4 elements a chunk
    staged = choose_swizzle((3, 64, 64), 16)                        # pipeline stages
    lay = swizzled(row_major(3, 64, 64), staged)
    assert all(bank_conflicts(pattern_phases(lay, 16, p), 16) == 0 for p in PATTERNS)
    with pytest.raises(LayoutError):
        choose_swizzle((64, 64), 16, "gather")
    with pytest.raises(LayoutError):
        choose_swizzle((64, 12), 16)                                # not whole 16-byte chunks
    with pytest.raises(LayoutError):
        choose_swizzle((64, 64), 12)


# ---------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------

def test_render_shared_layout(tmp_path):
    pytest.importorskip("matplotlib")
    from tilelang.ir.layout_render import render_layout
    out = render_layout(swizzled(row_major(8, 64), Swizzle(3, 3, 3)), tmp_path / "swz.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    assert 1000 <= w <= 6000 and 200 <= h <= 2000
    with pytest.raises(LayoutError):
        render_layout(row_major(256, 256), tmp_path / "big.png")


# ---------------------------------------------------------------------------
# column blocks (BlockSwizzle): rows wider than one 128-byte swizzle atom
# ---------------------------------------------------------------------------

from tilelang.ir.shared_layouts import BlockSwizzle, block_swizzle, parse_swizzle  # noqa: E402

BLOCKED = st.builds(lambda r, c, b: block_swizzle(1 << r, 1 << c, b),
                    st.integers(3, 8), st.integers(7, 9),
                    st.sampled_from([8, 16, 32])).filter(lambda b: b is not None)


def hopper_atom_address(r: int, c: int, rows: int, elem_bytes: int) -> int:
    """Byte address of element (r, c) in Hopper's canonical 128-byte-swizzle layout
    of column blocks, written from the PTX ISA's description: block ``c // per`` of
    ``rows`` lines of 128 bytes, the 16-byte chunk XORed with the line's row % 8."""
    per = 128 // elem_bytes
    blk, col = divmod(c, per)
    chunk, within = divmod(col * elem_bytes, 16)
    return blk * rows * 128 + r * 128 + 16 * (chunk ^ (r % 8)) + within


@pytest.mark.parametrize("rows, cols, bits", [(32, 128, 16), (64, 128, 16), (64, 256, 16),
                                              (8, 64, 32), (16, 256, 8)])
def test_block_swizzle_is_the_canonical_hopper_layout(rows, cols, bits):
    blk = block_swizzle(rows, cols, bits)
    lay = swizzled(row_major(rows, cols), blk)
    got = lay.byte_offsets(bits)
    want = [[hopper_atom_address(r, c, rows, bits // 8) for c in range(cols)]
            for r in range(rows)]
    assert got.tolist() == want
    assert lay.is_bijective()


@given(BLOCKED, st.integers(0, 3), st.integers(0, 1 << 20))
def test_block_swizzle_keeps_leading_dimensions_and_parses_back(blk, stage, within):
    tile = blk.rows * blk.cols
    flat = stage * tile + within % tile
    assert blk.apply(flat) // tile == stage                  # a ring's stages stay apart
    assert parse_swizzle(str(blk)) == blk
    lay = swizzled(row_major(2, blk.rows, blk.cols), blk)
    assert parse_shared_layout(str(lay)) == lay and lay.is_bijective()


@given(BLOCKED, st.integers(0, 1 << 16), st.integers(0, 1 << 16))
def test_block_move_is_linear_over_disjoint_bits(blk, a, b):
    # what SwizzledOffsets relies on: move(lane + C) == move(lane) + move(C) when disjoint
    b &= ~a
    assert blk.move(a | b) == blk.move(a) | blk.move(b)
    assert blk.move(a) & blk.move(b) == 0


@pytest.mark.parametrize("rows, cols", [(32, 128), (64, 128), (64, 256)])
def test_block_swizzle_is_conflict_free_for_ldmatrix_and_copies(rows, cols):
    lay = swizzled(row_major(rows, cols), block_swizzle(rows, cols, 16))
    for p in PATTERNS:
        assert bank_conflicts(pattern_phases(lay, 16, p), 16) == 0, p


def test_block_swizzle_applies_only_to_wide_power_of_two_tiles():
    assert block_swizzle(64, 64, 16) is None        # one 128-byte atom already
    assert block_swizzle(64, 96, 16) is None and block_swizzle(48, 128, 16) is None
    assert block_swizzle(4, 128, 16) is None and block_swizzle(64, 128, 4) is None
    with pytest.raises(LayoutError):
        BlockSwizzle(64, 64, 64, Swizzle(3, 3, 3))  # not wider than a block
    with pytest.raises(LayoutError):
        BlockSwizzle(48, 128, 64, Swizzle(3, 3, 3))
