"""Which matrix instruction a ``tl.dot`` uses, from the function's target facts.

One question asked by several passes (stage-through-shared, assign-layouts,
allocate-shared, lower-to-threads): may this dot run on the matrix units, with
which instruction, and how do the block's warps tile its accumulator? The
answer depends on the target only through the function attributes of
``target_facts`` (``num_warps``, ``warp_size``, ``mfma_shapes``):

* NVIDIA (no ``mfma_shapes``): ``mma.sync.m16n8k16``, 32-lane warps
  (``lower_mma``);
* AMD CDNA: ``th.mfma`` on 64-lane wavefronts, the first of the target's shapes
  (``32x32x8`` before ``16x16x16``) whose tiles the wavefronts can share
  (``lower_mfma``).

Both need f16/bf16 A and B, an f32 accumulator, and C splitting evenly into
``(wm, wn)`` warps of whole instruction tiles; ``warp_grid`` picks the grid with
the fewest A and B fragment registers per lane. The accumulator's register
layout is ``fragment_layouts.warp_tiled("c", (M, N), grid, shape)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tilelang.ir.layouts import Layout
from tilelang.ir.fragment_layouts import MFMA_FRAGMENTS, warp_tiled
from tilelang.ir.thread_ops import MFMA_SHAPES
from tilelang.ir.types import TileType, bf16, f16, f32
from tilelang.ir.values import Function
from tilelang.passes.gpu import target_facts

# (M, N, K) and A / B slots per lane of each instruction
_MMA = {"m16n8k16": ((16, 8, 16), 8, 4)}


@dataclass(frozen=True)
class DotInstr:
    """One matrix instruction: ``shape`` (``m16n8k16`` or an MFMA shape), its tile
    ``m x n x k``, lanes per warp and the A / B elements each lane holds."""

    shape: str
    m: int
    n: int
    k: int
    warp_size: int
    a_slots: int
    b_slots: int

    @property
    def is_mfma(self) -> bool:
        return self.shape in MFMA_SHAPES

    def tiled(self, operand: str, shape: tuple[int, int], grid: tuple[int, int]) -> Layout:
        """``warp_tiled`` with this instruction's fragments."""
        return warp_tiled(operand, shape, grid, self.shape)

    def fragment(self, operand: str) -> Layout:
        return (MFMA_FRAGMENTS[self.shape][operand]() if self.is_mfma else
                warp_tiled(operand, {"a": (16, 16), "b": (16, 8), "c": (16, 8)}[operand],
                           (1, 1)))

    def warp_grid(self, m: int, n: int, warps: int) -> tuple[int, int] | None:
        """The ``(wm, wn)`` warp arrangement over an ``m × n`` C with the fewest A and B
        fragment registers per lane, or ``None`` if the warps cannot tile C evenly."""
        best = None
        for wm in range(1, warps + 1):
            if warps % wm:
                continue
            wn = warps // wm
            if m % (self.m * wm) or n % (self.n * wn):
                continue
            regs = (m // wm // self.m) * self.a_slots + (n // wn // self.n) * self.b_slots
            if best is None or regs < best[0]:
                best = (regs, wm, wn)
        return None if best is None else (best[1], best[2])

    def grid_of(self, lay: Layout, m: int, n: int, warps: int) -> tuple[int, int] | None:
        """The grid whose accumulator layout ``lay`` is (``None``: another layout)."""
        for wm in range(1, warps + 1):
            wn = warps // wm
            if warps % wm or m % (self.m * wm) or n % (self.n * wn):
                continue
            if lay.same_as(self.tiled("c", (m, n), (wm, wn))):
                return wm, wn
        return None


MMA_M16N8K16 = DotInstr("m16n8k16", 16, 8, 16, 32, 8, 4)


def _mfma(shape: str) -> DotInstr:
    m, n, k = MFMA_SHAPES[shape]
    return DotInstr(shape, m, n, k, 64, 4, 4)


@dataclass(frozen=True)
class DotUnit:
    """What a function's target offers ``tl.dot``: its warps, lanes per warp and
    the MFMA shapes (none: NVIDIA ``mma.sync``)."""

    warps: int
    warp_size: int = 32
    mfma_shapes: tuple[str, ...] = ()

    @staticmethod
    def of(fn: Function) -> "DotUnit":
        warps = fn.attr("num_warps", 4)
        return DotUnit(warps if isinstance(warps, int) and warps > 0 else 4,
                       target_facts.warp_size(fn), target_facts.mfma_shapes(fn))

    @staticmethod
    def coerce(x: "DotUnit | int") -> "DotUnit":
        """A ``DotUnit`` from itself or from a warp count (NVIDIA's unit)."""
        return x if isinstance(x, DotUnit) else DotUnit(int(x))

    @property
    def threads(self) -> int:
        return self.warps * self.warp_size

    def instructions(self) -> tuple[DotInstr, ...]:
        if self.mfma_shapes:
            return tuple(_mfma(s) for s in self.mfma_shapes if s in MFMA_SHAPES)
        return (MMA_M16N8K16,)

    def select(self, a: TileType, b: TileType, acc: TileType,
               rows: bool = False) -> DotInstr | None:
        """The instruction for ``acc + a @ b``, or ``None`` (the scalar path).

        An accumulator already in an instruction's accumulator layout (its type's
        annotation) keeps that instruction, so lowering agrees with assign-layouts.
        Otherwise the first of the unit's instructions that fits; with ``rows``
        (the function reduces rows) the first that also lets every warp own whole
        rows (grid ``(warps, 1)``), if any does.
        """
        if a.dtype not in (f16, bf16) or b.dtype != a.dtype or acc.dtype != f32 or \
                a.rank != 2 or b.rank != 2:
            return None
        (m, k), n = a.shape, b.shape[1]
        fits = [ins for ins in self.instructions()
                if k % ins.k == 0 and ins.warp_grid(m, n, self.warps) is not None]
        if not fits:
            return None
        if acc.layout:
            from tilelang.ir.layouts import parse_layout
            found = self.accumulator(parse_layout(acc.layout), m, n)
            if found is not None and found[0] in fits:
                return found[0]
        if rows:
            for ins in fits:
                if m % (ins.m * self.warps) == 0:
                    return ins
        return fits[0]

    def accumulator(self, lay: Any, m: int, n: int) -> tuple[DotInstr, tuple[int, int]] | None:
        """``(instruction, grid)`` when the layout expression ``lay`` is an accumulator
        layout of one of the unit's instructions, else ``None``."""
        if not isinstance(lay, Layout) or lay.num_threads != self.threads:
            return None
        for ins in self.instructions():
            grid = ins.grid_of(lay, m, n, self.warps)
            if grid is not None:
                return ins, grid
        return None


__all__ = ["DotInstr", "DotUnit", "MMA_M16N8K16"]
