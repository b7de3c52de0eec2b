"""Register layouts: primitives, the product, divide, reduce, text, mma fragments, pictures.

The mma.sync fragment layouts are checked against the PTX ISA's formulas
written out here independently ("Matrix Fragments for mma.m16n8k16 with
floating point type"); the algebra is checked against a reference product on
plain tables.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from tilelang.ir.layouts import (
    Layout, LayoutError, Replicate, column_local, column_spatial, divide, local, parse_layout, reduce, replicate, spatial, unit,
)
from tilelang.ir.fragment_layouts import (
    ldmatrix_result, mma_m16n8k16_a, mma_m16n8k16_b, mma_m16n8k16_c, warp_tiled,
)

MAX_PAIRS = 4096   # keeps every table small: the whole file runs in a few seconds


# ---------------------------------------------------------------------------
# strategies and a reference product on plain tables
# ---------------------------------------------------------------------------

def primitives(rank: int, replicated: bool = True) -> st.SearchStrategy[Layout]:
    dims = st.lists(st.sampled_from([1, 2, 3, 4]), min_size=rank, max_size=rank)
    options = [dims.map(lambda d, f=f: f(*d))
               for f in (local, column_local, spatial, column_spatial)]
    if replicated:
        options.append(st.sampled_from([2, 3, 4]).map(lambda n: replicate(n, rank)))
    return st.one_of(options)


@st.composite
def layouts(draw, rank: int | None = None, replicated: bool = True,
            max_factors: int = 4) -> Layout:
    r = draw(st.integers(1, 3)) if rank is None else rank
    factors = draw(st.lists(primitives(r, replicated), min_size=1, max_size=max_factors))
    result = functools.reduce(lambda a, b: a * b, factors)
    assume(result.num_threads * result.num_slots <= MAX_PAIRS)
    return result


def kron(a: np.ndarray, a_shape, b: np.ndarray, b_shape) -> np.ndarray:
    """The product's definition, element by element."""
    ta, sa, r = a.shape
    tb, sb, _ = b.shape
    out = np.zeros((ta * tb, sa * sb, r), dtype=np.int64)
    for t in range(ta * tb):
        for s in range(sa * sb):
            out[t, s] = a[t // tb, s // sb] * np.asarray(b_shape) + b[t % tb, s % sb]
    return out


def table_quotient(layout: Layout, inner: Layout) -> np.ndarray | None:
    """The outer table O with O (x) inner == layout, found from tables alone, if any."""
    if layout.rank != inner.rank or any(a % b for a, b in zip(layout.shape, inner.shape)):
        return None
    if layout.num_threads % inner.num_threads or layout.num_slots % inner.num_slots:
        return None
    to, so = layout.num_threads // inner.num_threads, layout.num_slots // inner.num_slots
    t = layout.table().reshape(to, inner.num_threads, so, inner.num_slots, -1)
    outer = (t[:, 0, :, 0] - inner.table()[0, 0]) // np.asarray(inner.shape)
    rebuilt = outer[:, None, :, None] * np.asarray(inner.shape) + inner.table()[None, :, None]
    return outer if np.array_equal(rebuilt, t) else None


# ---------------------------------------------------------------------------
# primitives and the product
# ---------------------------------------------------------------------------

def test_primitive_tables():
    assert local(2, 3).table()[0].tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert column_local(2, 3).table()[0].tolist() == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2],
                                                      [1, 2]]
    assert spatial(2, 3).table()[:, 0].tolist() == local(2, 3).table()[0].tolist()
    assert column_spatial(2, 3).table()[:, 0].tolist() == column_local(2, 3).table()[0].tolist()
    assert replicate(4, 2).table().tolist() == [[[0, 0]]] * 4
    assert (local(2, 3).num_threads, local(2, 3).num_slots) == (1, 6)
    assert (spatial(2, 3).num_threads, spatial(2, 3).num_slots) == (6, 1)


def test_product_worked_example():
    # docs/layouts.md walks through this one.
    lay = local(2, 1) * spatial(2, 2)
    assert lay.shape == (4, 2) and (lay.num_threads, lay.num_slots) == (4, 2)
    assert lay.table()[3].tolist() == [[1, 1], [3, 1]]   # thread 3: (1, 1) and (3, 1)


def test_table_is_cached_and_read_only():
    lay = mma_m16n8k16_c()
    assert lay.table() is lay.table()
    with pytest.raises(ValueError):
        lay.table()[0, 0, 0] = 5


def test_layouts_are_hashable_values():
    assert hash(mma_m16n8k16_c()) == hash(mma_m16n8k16_c())
    assert len({mma_m16n8k16_c(), mma_m16n8k16_c(), mma_m16n8k16_a()}) == 2
    assert local(2, 2) != column_local(2, 2) and local(4) != spatial(4)


def test_bad_arguments_raise_layout_errors():
    for make in (lambda: local(), lambda: local(0, 2), lambda: spatial(2, -1),
                 lambda: replicate(0, 2), lambda: local(2) * local(2, 2), lambda: local(2.0)):
        with pytest.raises(LayoutError):
            make()


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_product_matches_its_definition(data):
    a = data.draw(layouts(max_factors=2))
    b = data.draw(layouts(rank=a.rank, max_factors=2))
    assume((a * b).num_threads * (a * b).num_slots <= MAX_PAIRS)
    p = a * b
    assert p.shape == tuple(x * y for x, y in zip(a.shape, b.shape))
    assert (p.num_threads, p.num_slots) == (a.num_threads * b.num_threads,
                                            a.num_slots * b.num_slots)
    assert np.array_equal(p.table(), kron(a.table(), a.shape, b.table(), b.shape))


@settings(max_examples=80, deadline=None)
@given(layouts())
def test_table_shape_and_bounds(lay):
    t = lay.table()
    assert t.shape == (lay.num_threads, lay.num_slots, lay.rank)
    assert (t >= 0).all() and (t < np.asarray(lay.shape)).all()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_product_is_associative(data):
    a = data.draw(layouts(max_factors=2))
    b, c = (data.draw(layouts(rank=a.rank, max_factors=1)) for _ in range(2))
    assume((a * b * c).num_threads * (a * b * c).num_slots <= MAX_PAIRS)
    ab = kron(a.table(), a.shape, b.table(), b.shape)
    bc = kron(b.table(), b.shape, c.table(), c.shape)
    shape_ab = tuple(x * y for x, y in zip(a.shape, b.shape))
    shape_bc = tuple(x * y for x, y in zip(b.shape, c.shape))
    left, right = kron(ab, shape_ab, c.table(), c.shape), kron(a.table(), a.shape, bc, shape_bc)
    assert np.array_equal(left, right)
    assert (a * b) * c == a * (b * c)   # products are flat, so equal as expressions too
    assert np.array_equal(((a * b) * c).table(), left)


@settings(max_examples=80, deadline=None)
@given(layouts(replicated=False))
def test_products_without_replication_are_bijections(lay):
    assert lay.is_injective() and lay.covers() and lay.replication() == 1
    assert lay.num_threads * lay.num_slots == lay.numel


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_replication_and_owners_agree_with_the_table(lay):
    reps = 1
    for f in getattr(lay, "factors", (lay,)):
        reps *= f.num_threads if isinstance(f, Replicate) else 1
    assert lay.replication() == reps and lay.covers()
    assert lay.is_injective() == (reps == 1)
    owners = lay.owners()
    assert owners.shape == (*lay.shape, reps, 2)
    t = lay.table()
    for idx in np.ndindex(*lay.shape):
        pairs = owners[idx].tolist()
        assert pairs == sorted(pairs)
        assert all(tuple(t[th, sl]) == idx for th, sl in pairs)


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_str_parses_back(lay):
    assert parse_layout(str(lay)) == lay
    assert lay.canonical().same_as(lay)
    assert parse_layout(str(lay.canonical())).same_as(lay)


def test_parse_errors_say_where():
    for text in ("local(2, 1) * spatial(8)", "local(2,", "row_major(4, 4)", "local(2) + local(2)",
                 "local(x)", "__import__('os')", ""):
        with pytest.raises(LayoutError, match="cannot parse register layout"):
            parse_layout(text)
    assert parse_layout("(local(2) * spatial(4)) * local(3)") == local(2) * spatial(4) * local(3)


# ---------------------------------------------------------------------------
# divide
# ---------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.data())
def test_divide_gives_back_the_left_factor(data):
    a = data.draw(layouts(max_factors=3))
    b = data.draw(layouts(rank=a.rank, max_factors=3))
    assume((a * b).num_threads * (a * b).num_slots <= MAX_PAIRS)
    q = divide(a * b, b)
    assert q is not None and q.same_as(a), (str(a), str(b), str(q))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_divide_agrees_with_the_tables(data):
    lay = data.draw(layouts(max_factors=4))
    inner = data.draw(layouts(rank=lay.rank, max_factors=2))
    q, oracle = divide(lay, inner), table_quotient(lay, inner)
    assert (q is None) == (oracle is None), (str(lay), str(inner), str(q))
    if q is not None:
        assert np.array_equal(q.table(), oracle) and (q * inner).same_as(lay)


def test_divide_for_instruction_selection():
    c = mma_m16n8k16_c()
    block = warp_tiled("c", (128, 128), (2, 4))
    assert str(divide(block, c)) == "spatial(2, 4) * local(4, 4)"
    assert str(divide(c, c)) == "local(1, 1)"
    assert divide(block, mma_m16n8k16_b()) is None           # the B fragment does not fit C
    assert divide(local(16, 8), c) is None                      # one thread holds it all
    assert divide(spatial(16, 8), c) is None
    # An A fragment is two C-shaped fragments side by side.
    assert divide(mma_m16n8k16_a(), c).same_as(local(1, 2))
    assert divide(c, unit(2)) == c


# ---------------------------------------------------------------------------
# reduce
# ---------------------------------------------------------------------------

def simulate_reduce(lay: Layout, axis: int, seed: int = 0) -> None:
    """Sum a random tile the way the lowering would, and compare with numpy."""
    red = reduce(lay, axis)
    out = red.layout
    x = np.random.default_rng(seed).integers(-50, 50, size=lay.shape)
    t = lay.table()
    partial = np.zeros((lay.num_threads, out.num_slots), dtype=np.int64)
    for th in range(lay.num_threads):   # in-thread: fold slots that meet in one result slot
        for s in range(lay.num_slots):
            partial[th, red.slot_map[s]] += x[tuple(t[th, s])]
    total = np.zeros_like(partial)
    for group in red.thread_groups:       # across threads of a group
        total[group] = partial[group].sum(axis=0)
    expect = x.sum(axis=axis, keepdims=True)
    ot = out.table()
    for th in range(out.num_threads):
        for s in range(out.num_slots):
            assert total[th, s] == expect[tuple(ot[th, s])]
    if red.shuffle_masks is not None:    # butterflies give every lane the group total
        val = partial.copy()
        lanes = np.arange(lay.num_threads)
        for m in red.shuffle_masks:
            val = val + val[lanes ^ m]
        assert np.array_equal(val, total)


def test_reduce_mma_accumulator_rows():
    red = reduce(mma_m16n8k16_c(), 1)
    assert str(red.layout) == "local(2, 1) * spatial(8, 1) * replicate(4, 2)"
    assert red.shuffle_masks == (1, 2) and not red.cross_warp
    assert red.thread_groups.tolist()[:2] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert red.slot_map.tolist() == [0, 0, 1, 1]
    simulate_reduce(mma_m16n8k16_c(), 1)


def test_reduce_mma_accumulator_columns_and_across_warps():
    red = reduce(mma_m16n8k16_c(), 0)
    assert red.shuffle_masks == (4, 8, 16) and red.slot_map.tolist() == [0, 1, 0, 1]
    simulate_reduce(mma_m16n8k16_c(), 0)
    block = reduce(warp_tiled("c", (64, 64), (2, 2)), 1)
    assert block.cross_warp and block.shuffle_masks == (1, 2, 32)
    simulate_reduce(warp_tiled("c", (64, 64), (2, 2)), 1)


@settings(max_examples=60, deadline=None)
@given(layouts(max_factors=3), st.data())
def test_reduce_sums_like_numpy(lay, data):
    axis = data.draw(st.integers(0, lay.rank - 1))
    red = reduce(lay, axis)
    assert red.layout.shape == tuple(1 if i == axis else d for i, d in enumerate(lay.shape))
    assert red.layout.num_threads == lay.num_threads
    simulate_reduce(lay, axis)


def test_reduce_rejects_a_bad_axis():
    with pytest.raises(LayoutError):
        reduce(local(2, 2), 2)


# ---------------------------------------------------------------------------
# mma.sync m16n8k16 fragments, from the PTX ISA's formulas
# ---------------------------------------------------------------------------

def isa_a(lane: int, i: int) -> tuple[int, int]:
    g, q = lane >> 2, lane % 4
    row = g if (0 <= i < 2 or 4 <= i < 6) else g + 8
    col = q * 2 + (i & 1) if i < 4 else q * 2 + (i & 1) + 8
    return row, col


def isa_b(lane: int, i: int) -> tuple[int, int]:
    g, q = lane >> 2, lane % 4
    row = q * 2 + (i & 1) if i < 2 else q * 2 + (i & 1) + 8
    return row, g


def isa_c(lane: int, i: int) -> tuple[int, int]:
    g, q = lane >> 2, lane % 4
    return (g if i < 2 else g + 8), q * 2 + (i & 1)


@pytest.mark.parametrize("make, formula, shape, slots", [
    (mma_m16n8k16_a, isa_a, (16, 16), 8),
    (mma_m16n8k16_b, isa_b, (16, 8), 4),
    (mma_m16n8k16_c, isa_c, (16, 8), 4),
])
def test_mma_fragments_match_the_isa(make, formula, shape, slots):
    lay = make()
    assert lay.shape == shape and (lay.num_threads, lay.num_slots) == (32, slots)
    t = lay.table()
    for lane in range(32):
        for i in range(slots):
            assert tuple(t[lane, i]) == formula(lane, i), (lane, i)
    assert lay.is_injective() and lay.covers()   # 32 lanes x slots <-> the elements
    assert parse_layout(str(lay)) == lay


def test_mma_fragment_expressions():
    assert str(mma_m16n8k16_a()) == "column_local(2, 2) * spatial(8, 4) * local(1, 2)"
    assert str(mma_m16n8k16_b()) == "local(2, 1) * column_spatial(4, 8) * local(2, 1)"
    assert str(mma_m16n8k16_c()) == "local(2, 1) * spatial(8, 4) * local(1, 2)"


def isa_ldmatrix(lane: int, reg: int, trans: bool) -> tuple[int, int]:
    """Element of one 8x8 matrix lane ``lane`` gets in register half ``reg`` (0/1)."""
    r, c = lane // 4, 2 * (lane % 4) + reg
    return (c, r) if trans else (r, c)


@pytest.mark.parametrize("num, trans, grid", [(1, False, None), (1, True, None),
                                              (2, False, None), (2, True, None),
                                              (4, False, (2, 2)), (4, True, (2, 2)),
                                              (4, False, (1, 4))])
def test_ldmatrix_result_matches_the_isa(num, trans, grid):
    lay = ldmatrix_result(num, trans, grid)
    mr, mc = grid or (num, 1)
    t = lay.table()
    for lane in range(32):
        for j in range(num):
            for reg in range(2):
                r, c = isa_ldmatrix(lane, reg, trans)
                block = (j % mr, j // mr)
                assert tuple(t[lane, 2 * j + reg]) == (8 * block[0] + r, 8 * block[1] + c)


def test_ldmatrix_feeds_mma_directly():
    assert ldmatrix_result(4, grid=(2, 2)).same_as(mma_m16n8k16_a())
    assert ldmatrix_result(2, trans=True).same_as(mma_m16n8k16_b())
    with pytest.raises(LayoutError):
        ldmatrix_result(3)


@pytest.mark.parametrize("bm, bn, bk, wm, wn", [(128, 128, 32, 2, 4), (64, 64, 16, 2, 2),
                                                (64, 128, 64, 1, 4), (16, 8, 16, 1, 1)])
def test_warp_tiled_blocks(bm, bn, bk, wm, wn):
    c = warp_tiled("c", (bm, bn), (wm, wn))
    a = warp_tiled("a", (bm, bk), (wm, wn))
    b = warp_tiled("b", (bk, bn), (wm, wn))
    threads = 32 * wm * wn
    assert {c.num_threads, a.num_threads, b.num_threads} == {threads}
    assert c.is_injective() and c.covers()
    assert a.replication() == wn and b.replication() == wm
    # Each warp owns one contiguous (bm/wm) x (bn/wn) block of C...
    warp_of = c.owners()[..., 0, 0] // 32
    sub_m, sub_n = bm // wm, bn // wn
    for w in range(wm * wn):
        rows, cols = np.nonzero(warp_of == w)
        wr, wc = divmod(w, wn)
        assert (rows // sub_m == wr).all() and (cols // sub_n == wc).all()
    # ...and holds every A row and B column that block needs.
    a_warps = a.owners()[..., 0] // 32      # (bm, bk, wn)
    b_warps = b.owners()[..., 0] // 32      # (bk, bn, wm)
    for m in range(0, bm, 8):
        for n in range(0, bn, 8):
            w = warp_of[m, n]
            assert (a_warps[m] == w).any(axis=-1).all() and (b_warps[:, n] == w).any(axis=-1).all()
    assert divide(c, mma_m16n8k16_c()) is not None
    assert divide(a, mma_m16n8k16_a()) is not None and divide(b, mma_m16n8k16_b()) is not None


def test_warp_tiled_rejects_tiles_that_do_not_split():
    with pytest.raises(LayoutError):
        warp_tiled("c", (48, 64), (4, 1))
    with pytest.raises(LayoutError):
        warp_tiled("d", (64, 64), (2, 2))


# ---------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------

def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_render_mma_a_layout(tmp_path):
    pytest.importorskip("matplotlib")
    from tilelang.ir.layout_render import render_layout
    out = render_layout(mma_m16n8k16_a(), tmp_path / "mma_a.png")
    w, h = png_size(out)
    assert 400 <= w <= 4000 and 300 <= h <= 4000
    out = render_layout(reduce(mma_m16n8k16_c(), 1).layout, tmp_path / "rowsum.png")
    assert min(png_size(out)) >= 100


# ---------------------------------------------------------------------------
# digits (how lowering computes coordinates) and unit axes
# ---------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(layouts())
def test_digits_reproduce_the_table(lay):
    from tilelang.ir.layouts import digits
    t = lay.table()
    threads = np.arange(lay.num_threads)[:, None]
    slots = np.arange(lay.num_slots)[None, :]
    coords = np.zeros_like(t)
    for d in digits(lay):
        index = slots if d.kind == "L" else threads
        if d.axis >= 0:
            coords[..., d.axis] += (index // d.stride) % d.size * d.scale
    np.testing.assert_array_equal(coords, t)


@settings(max_examples=100, deadline=None)
@given(layouts(), st.data())
def test_insert_and_drop_axis_keep_the_mapping(lay, data):
    from tilelang.ir.layouts import drop_axis, insert_axis
    axis = data.draw(st.integers(0, lay.rank))
    wide = insert_axis(lay, axis)
    assert wide.shape == lay.shape[:axis] + (1,) + lay.shape[axis:]
    np.testing.assert_array_equal(np.delete(wide.table(), axis, axis=-1), lay.table())
    assert drop_axis(wide, axis).same_as(lay)
    with pytest.raises(LayoutError):
        drop_axis(spatial(4, 2), 1)
