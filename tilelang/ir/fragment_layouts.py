"""The register fragments of the matrix instructions, as layouts.

``mma.sync.m16n8k16`` A/B/C and the ``ldmatrix`` results (NVIDIA, 32-lane
warps), the CDNA ``mfma`` 32x32x8 and 16x16x16 fragments (AMD, 64-lane
wavefronts), the ``wgmma.mma_async`` m64nNk16 accumulator (Hopper warpgroups),
and ``warp_tiled``, which tiles a block's warps over an operand in any of
them. Each table is written from its ISA's formula; the tests check the
expressions against the formulas (``tests/ir/test_layouts.py``,
``test_layouts_mfma.py``). ``tilelang.ir.layouts`` re-exports these names.
"""

from __future__ import annotations

from typing import Callable

from tilelang.ir.layouts import (Layout, LayoutError, Product, column_local, column_spatial,
                                 local, replicate, spatial)


# ---------------------------------------------------------------------------
# mma.sync m16n8k16 fragments (16-bit A/B, f32 C), ldmatrix, warp tiling
# ---------------------------------------------------------------------------
# PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type", with
# g = lane >> 2 (groupID) and q = lane % 4 (threadID_in_group); slot i is a_i/b_i/c_i:
#   A (16x16): row = g + 8*((i >> 1) & 1), col = 2*q + (i & 1) + 8*(i >> 2)
#   B (16x8, KxN): row = 2*q + (i & 1) + 8*(i >> 1), col = g
#   C (16x8): row = g + 8*(i >> 1), col = 2*q + (i & 1)
# tests/ir/test_layouts.py checks each expression against these formulas.

def mma_m16n8k16_a() -> Layout:
    """The A fragment (16x16, M x K) of ``mma.sync.m16n8k16`` with 16-bit inputs."""
    return column_local(2, 2) * spatial(8, 4) * local(1, 2)


def mma_m16n8k16_b() -> Layout:
    """The B fragment (16x8, K x N) of ``mma.sync.m16n8k16`` with 16-bit inputs."""
    return local(2, 1) * column_spatial(4, 8) * local(2, 1)


def mma_m16n8k16_c() -> Layout:
    """The C/D fragment (16x8, M x N, f32) of ``mma.sync.m16n8k16``."""
    return local(2, 1) * spatial(8, 4) * local(1, 2)


def ldmatrix_result(num: int = 4, trans: bool = False,
                    grid: tuple[int, int] | None = None) -> Layout:
    """The registers ``ldmatrix.x{num}[.trans]`` fills, over a tile of 8x8 matrices.

    Matrix ``j`` (its rows addressed by lanes ``8j..8j+7``) sits at block
    ``(j % grid[0], j // grid[0])`` of the tile (column-major over ``grid``,
    default ``(num, 1)`` stacked down; ``(2, 2)`` for x4). Lane ``l`` gets row
    ``l // 4``, columns ``2*(l % 4) + {0, 1}`` of each matrix, or with ``trans``
    the transpose. Facts used by instruction selection: ``ldmatrix_result(4, grid=(2, 2))``
    is ``mma_m16n8k16_a()`` and ``ldmatrix_result(2, trans=True)`` is
    ``mma_m16n8k16_b()`` (B stored K x N, row-major).
    """
    mr, mc = grid or (num, 1)
    if num not in (1, 2, 4) or mr * mc != num:
        raise LayoutError(f"ldmatrix loads 1, 2 or 4 matrices; grid {grid} does not hold {num}")
    one = column_spatial(4, 8) * local(2, 1) if trans else spatial(8, 4) * local(1, 2)
    return column_local(mr, mc) * one


_FRAGMENTS = {"a": mma_m16n8k16_a, "b": mma_m16n8k16_b, "c": mma_m16n8k16_c}


def warp_tiled(operand: str, shape: tuple[int, int], warps: tuple[int, int],
               fragments: str = "m16n8k16") -> Layout:
    """The block layout of an mma operand tile for ``warps = (wm, wn)`` warps, row-major.

    Warp ``w = wr * wn + wc`` (threads ``32w..32w+31``) owns one contiguous
    sub-tile: rows ``wr`` of C split ``wm`` ways and columns ``wc`` split ``wn``
    ways, as a grid of mma tiles in row-major slot order::

        c: spatial(wm, wn) * local(BM/(16 wm), BN/(8 wn)) * mma_c      tile BM x BN
        a: spatial(wm, 1) * replicate(wn, 2) * local(BM/(16 wm), BK/16) * mma_a
        b: replicate(wm, 2) * spatial(1, wn) * local(BK/16, BN/(8 wn)) * mma_b

    A is replicated over the warps of one warp row and B over one warp column:
    each warp holds exactly the A rows and B columns its C sub-tile needs.
    ``divide(warp_tiled(op, ...), fragment)`` gives back the warp/tile part.
    ``fragments`` names the instruction: ``"m16n8k16"`` (mma.sync, 32-lane warps)
    or an MFMA shape (``"32x32x8"``, ``"16x16x16"``: 64-lane wavefronts, whose
    fragments replace ``mma_*`` above).
    """
    if operand not in _FRAGMENTS:
        raise LayoutError(f"operand must be 'a', 'b' or 'c', not {operand!r}")
    table = _FRAGMENTS if fragments == "m16n8k16" else MFMA_FRAGMENTS.get(fragments)
    if table is None:
        raise LayoutError(f"unknown matrix instruction {fragments!r}; expected m16n8k16, "
                          + ", ".join(MFMA_FRAGMENTS))
    frag = table[operand]()
    wm, wn = warps
    split = {"a": (wm, 1), "b": (1, wn), "c": (wm, wn)}[operand]
    per_warp = [s // (f * w) for s, f, w in zip(shape, frag.shape, split)]
    if any(s % (f * w) for s, f, w in zip(shape, frag.shape, split)) or min(per_warp) < 1:
        raise LayoutError(f"{operand.upper()} tile {shape} does not split into {split} warps "
                          f"of {frag.shape[0]}x{frag.shape[1]} "
                          f"{'mma' if table is _FRAGMENTS else 'mfma'} tiles")
    parts = {"a": [spatial(wm, 1), replicate(wn, 2)], "b": [replicate(wm, 2), spatial(1, wn)],
             "c": [spatial(wm, wn)]}[operand] + [local(*per_warp)]
    # Unit factors change nothing; leaving them out keeps the printed form short.
    return Product.of(*[p for p in parts if p.num_threads * p.num_slots > 1], frag)


# ---------------------------------------------------------------------------
# CDNA MFMA fragments (wave64; f16 / bf16_1k inputs, f32 accumulator)
# ---------------------------------------------------------------------------
# AMD CDNA ISA / matrix instruction calculator, lane l in [0, 64), register i:
#   32x32x8:  A (32x8,  MxK): row = l % 32, col = 4*(l // 32) + i
#             B (8x32,  KxN): row = 4*(l // 32) + i, col = l % 32
#             C (32x32):      row = 8*(i // 4) + 4*(l // 32) + i % 4, col = l % 32
#   16x16x16: A (16x16, MxK): row = l % 16, col = 4*(l // 16) + i
#             B (16x16, KxN): row = 4*(l // 16) + i, col = l % 16
#             C (16x16):      row = 4*(l // 16) + i, col = l % 16
# tests/ir/test_layouts_mfma.py checks each expression against these formulas.

def mfma_32x32x8_a() -> Layout:
    """The A fragment (32x8, M x K) of ``v_mfma_f32_32x32x8{f16,bf16_1k}``."""
    return column_spatial(32, 2) * local(1, 4)


def mfma_32x32x8_b() -> Layout:
    """The B fragment (8x32, K x N) of ``v_mfma_f32_32x32x8{f16,bf16_1k}``."""
    return spatial(2, 32) * local(4, 1)


def mfma_32x32x8_c() -> Layout:
    """The C/D fragment (32x32, f32, 16 registers) of ``v_mfma_f32_32x32x8*``."""
    return local(4, 1) * spatial(2, 32) * local(4, 1)


def mfma_16x16x16_a() -> Layout:
    """The A fragment (16x16, M x K) of ``v_mfma_f32_16x16x16{f16,bf16_1k}``."""
    return column_spatial(16, 4) * local(1, 4)


def mfma_16x16x16_b() -> Layout:
    """The B fragment (16x16, K x N) of ``v_mfma_f32_16x16x16{f16,bf16_1k}``."""
    return spatial(4, 16) * local(4, 1)


def mfma_16x16x16_c() -> Layout:
    """The C/D fragment (16x16, f32, 4 registers) of ``v_mfma_f32_16x16x16*``."""
    return spatial(4, 16) * local(4, 1)


MFMA_FRAGMENTS: dict[str, dict[str, Callable[[], Layout]]] = {
    "32x32x8": {"a": mfma_32x32x8_a, "b": mfma_32x32x8_b, "c": mfma_32x32x8_c},
    "16x16x16": {"a": mfma_16x16x16_a, "b": mfma_16x16x16_b, "c": mfma_16x16x16_c},
}


def wgmma_accumulator(n: int, warpgroups: int = 1, blocks: int = 1) -> Layout:
    """The ``wgmma.mma_async.m64nNk16`` D fragments of ``warpgroups`` warpgroups
    stacked along M, each holding ``blocks`` m64 row blocks (``64 * blocks`` rows),
    from the PTX ISA's formula: in block ``b`` warp ``w`` holds rows ``16w + g`` and
    ``16w + g + 8``, slot ``i`` column ``8 (i // 4) + 2t + i % 2`` (``g = lane // 4``,
    ``t = lane % 4``); slots block after block. With one block it maps like
    ``warp_tiled("c", (64 G, n), (4 G, 1))``, the mma.sync accumulator over one
    warp column, so ``tl.dot`` keeps one accumulator layout on both instructions."""
    if n % 8 or not 8 <= n <= 256 or warpgroups < 1 or blocks < 1:
        raise LayoutError(f"wgmma has N in 8..256 in steps of 8, whole warpgroups and "
                          f"whole m64 blocks, not n={n}, {warpgroups} warpgroup(s), "
                          f"{blocks} block(s)")
    frag = local(1, n // 8) * mma_m16n8k16_c()
    if blocks == 1:
        return spatial(4 * warpgroups, 1) * frag
    return spatial(warpgroups, 1) * local(blocks, 1) * spatial(4, 1) * frag


__all__ = ["MFMA_FRAGMENTS", "ldmatrix_result", "mfma_16x16x16_a", "mfma_16x16x16_b",
           "mfma_16x16x16_c", "mfma_32x32x8_a", "mfma_32x32x8_b", "mfma_32x32x8_c",
           "mma_m16n8k16_a", "mma_m16n8k16_b", "mma_m16n8k16_c", "warp_tiled",
           "wgmma_accumulator"]
