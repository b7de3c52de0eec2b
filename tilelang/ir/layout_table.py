"""Layouts named on a command line, and their ownership tables as text.

``resolve_layout(text)`` reads what a user types: a register-layout expression
(``"local(2, 1) * spatial(8, 4) * local(1, 2)"``), a preset name (``"mma_a"``),
a product using presets and parametric layouts (``"spatial(2, 1) * mma_c()"``,
``"warp_tiled_c(64, 64, 2, 2)"``), or a shared layout
(``"swizzled(row_major(16, 64), Swizzle(3, 3, 3))"``, recognized by its
leading name). ``describe(layout)`` is a text report: the expression, shape,
threads and slots (or, for a shared layout, its element width, bank conflicts
and the swizzle ``choose_swizzle`` would pick) and, for small tiles, a table
of which ``T{thread}:R{slot}`` holds each element (for a shared layout, each
element's offset and bank), with the same labels as ``layout_render``'s PNGs.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from tilelang.ir.layouts import REGISTER_CONSTRUCTORS, Layout, LayoutError, parse_expr
from tilelang.ir.fragment_layouts import (
    MFMA_FRAGMENTS, ldmatrix_result, mma_m16n8k16_a, mma_m16n8k16_b, mma_m16n8k16_c, warp_tiled,
)
from tilelang.ir.shared_layouts import (BANK_BYTES, NUM_BANKS, PATTERNS, SHARED_CONSTRUCTORS,
                                        SharedLayout, bank_conflicts, choose_swizzle,
                                        parse_shared_layout, pattern_phases)

__all__ = ["FUNCTIONS", "MAX_TABLE_CELLS", "PRESETS", "cell_labels", "describe", "grid_shape",
           "resolve_layout"]

MAX_TABLE_CELLS = 32 * 32    # larger tables are unreadable in a terminal
MAX_HOLDERS = 4              # holders listed per cell before "+n"

# Named layouts with no parameters: name -> (constructor, what it is).
PRESETS: dict[str, tuple[Callable[[], Layout], str]] = {
    "mma_a": (mma_m16n8k16_a, "mma.sync m16n8k16 A fragment, 16x16 (M x K), 16-bit"),
    "mma_b": (mma_m16n8k16_b, "mma.sync m16n8k16 B fragment, 16x8 (K x N), 16-bit"),
    "mma_c": (mma_m16n8k16_c, "mma.sync m16n8k16 C/D fragment, 16x8 (M x N), f32"),
    "ldmatrix_x1": (lambda: ldmatrix_result(1), "ldmatrix .x1: one 8x8 matrix"),
    "ldmatrix_x2": (lambda: ldmatrix_result(2), "ldmatrix .x2: two 8x8 matrices, stacked down"),
    "ldmatrix_x4": (lambda: ldmatrix_result(4), "ldmatrix .x4: four 8x8 matrices, stacked down"),
    "ldmatrix_x1_trans": (lambda: ldmatrix_result(1, trans=True), "ldmatrix .x1.trans"),
    "ldmatrix_x2_trans": (lambda: ldmatrix_result(2, trans=True),
                          "ldmatrix .x2.trans (= mma_b on a row-major K x N tile)"),
    "ldmatrix_x4_trans": (lambda: ldmatrix_result(4, trans=True), "ldmatrix .x4.trans"),
}
# CDNA MFMA fragments over a 64-lane wavefront: mfma_32x32x8_a ... mfma_16x16x16_c
_MFMA_ROLE = {"a": "A fragment (M x K), f16/bf16", "b": "B fragment (K x N), f16/bf16",
              "c": "C/D fragment (M x N), f32"}
PRESETS.update({f"mfma_{shape}_{op}": (make, f"v_mfma_f32_{shape} {_MFMA_ROLE[op]}, wave64")
                for shape, ops in MFMA_FRAGMENTS.items() for op, make in ops.items()})


def _ldmatrix(num: int, trans: int = 0, grid_rows: int | None = None,
              grid_cols: int | None = None) -> Layout:
    if (grid_rows is None) != (grid_cols is None):
        raise LayoutError("ldmatrix takes num, trans and both grid sizes, or neither")
    grid = None if grid_rows is None else (grid_rows, grid_cols)
    return ldmatrix_result(num, bool(trans), grid)   # type: ignore[arg-type]


def _warp_tiled(operand: str) -> Callable[[int, int, int, int], Layout]:
    def build(rows: int, cols: int, warps_m: int, warps_n: int) -> Layout:
        return warp_tiled(operand, (rows, cols), (warps_m, warps_n))
    return build


# Parametric layouts usable inside expressions: name -> (constructor, signature, what it is).
FUNCTIONS: dict[str, tuple[Callable[..., Layout], str, str]] = {
    "ldmatrix": (_ldmatrix, "ldmatrix(NUM[, TRANS[, GRID_ROWS, GRID_COLS]])",
                 "what ldmatrix .xNUM leaves in the registers, matrix j at block "
                 "(j % GRID_ROWS, j // GRID_ROWS)"),
    "warp_tiled_a": (_warp_tiled("a"), "warp_tiled_a(BM, BK, WM, WN)",
                     "an mma A tile over WM x WN warps"),
    "warp_tiled_b": (_warp_tiled("b"), "warp_tiled_b(BK, BN, WM, WN)",
                     "an mma B tile over WM x WN warps"),
    "warp_tiled_c": (_warp_tiled("c"), "warp_tiled_c(BM, BN, WM, WN)",
                     "an mma accumulator tile over WM x WN warps"),
}

_LEADING_NAME = re.compile(r"\s*([A-Za-z_]\w*)")


def _register_constructors() -> dict[str, Callable[..., Layout]]:
    names: dict[str, Callable[..., Layout]] = dict(REGISTER_CONSTRUCTORS)
    names.update({name: make for name, (make, _) in PRESETS.items()})
    names.update({name: make for name, (make, _, _) in FUNCTIONS.items()})
    return names


def resolve_layout(text: str, *, shared: bool | None = None) -> Layout | SharedLayout:
    """The layout ``text`` names (see the module docstring).

    ``shared`` forces the shared (True) or register (False) reading; by default a
    text starting with a shared constructor (``row_major``, ``swizzled``) is shared.
    Raises ``LayoutError`` (one line) for anything else.
    """
    lead = _LEADING_NAME.match(text)
    if shared is None:
        shared = lead is not None and lead.group(1) in SHARED_CONSTRUCTORS
    if shared:
        return parse_shared_layout(text)
    if text.strip() in PRESETS:
        return PRESETS[text.strip()][0]()
    result = parse_expr(text, _register_constructors(), "register layout")
    if not isinstance(result, Layout):
        raise LayoutError(f"{text!r} is a number, not a layout")
    return result


def grid_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of a tile drawn flat: leading dimensions folded into rows."""
    if len(shape) == 1:
        return 1, shape[0]
    return int(np.prod(shape[:-1])), shape[-1]


def _row_names(shape: tuple[int, ...]) -> list[str]:
    if len(shape) == 1:
        return ["0"]
    return [",".join(map(str, idx)) for idx in np.ndindex(*shape[:-1])]


def _holders(pairs: list[list[int]]) -> str:
    shown = [f"T{t}:R{s}" for t, s in pairs[:MAX_HOLDERS]]
    if len(pairs) > MAX_HOLDERS:
        shown[-1] = f"+{len(pairs) - MAX_HOLDERS + 1}"
    return ",".join(shown)


def cell_labels(layout: Layout | SharedLayout, elem_bits: int = 16) -> list[list[str]]:
    """The label of every element, by (folded) row and column.

    A register layout's cell lists its holders ``T{thread}:R{slot}`` in (thread,
    slot) order, joined by ``,`` (at most four, the last replaced by ``+n`` when
    more hold it); a shared layout's cell is ``{offset}:b{bank}``.
    """
    rows, cols = grid_shape(tuple(layout.shape))
    if isinstance(layout, SharedLayout):
        offsets = layout.offsets().reshape(rows, cols)
        banks = offsets * elem_bits // 8 // BANK_BYTES % NUM_BANKS
        return [[f"{o}:b{b}" for o, b in zip(orow, brow)]
                for orow, brow in zip(offsets.tolist(), banks.tolist())]
    owners = layout.owners().reshape(rows, cols, -1, 2).tolist()
    return [[_holders(cell) for cell in row] for row in owners]


def _table(layout: Layout | SharedLayout, elem_bits: int) -> list[str]:
    shape = tuple(layout.shape)
    labels = cell_labels(layout, elem_bits)
    names = _row_names(shape)   # the leading coordinates of each folded row
    width = max(len(s) for row in labels for s in row)
    name_w = max(len(n) for n in names)
    lines = [" " * name_w + "  " + "  ".join(f"{c:>{width}}" for c in range(len(labels[0])))]
    for name, row in zip(names, labels):
        lines.append(f"{name:>{name_w}}  " + "  ".join(f"{s:>{width}}" for s in row))
    return lines


def _shared_facts(layout: SharedLayout, elem_bits: int) -> list[str]:
    facts = [f"elements: {elem_bits}-bit; bijective: {'yes' if layout.is_bijective() else 'no'}"]
    counts = []
    for pattern in PATTERNS:
        try:
            phases = pattern_phases(layout, elem_bits, pattern)
            counts.append(f"{pattern} {bank_conflicts(phases, 16)}")
        except LayoutError as e:
            counts.append(f"{pattern} n/a ({e.message})")
    facts.append("bank conflicts (extra wavefronts): " + ", ".join(counts))
    try:
        facts.append(f"conflict-free swizzle for a row-major buffer of this shape: "
                     f"{choose_swizzle(layout.shape, elem_bits)}")
    except LayoutError as e:
        facts.append(f"conflict-free swizzle: n/a ({e.message})")
    return facts


def describe(layout: Layout | SharedLayout, *, elem_bits: int = 16,
             max_cells: int = MAX_TABLE_CELLS) -> str:
    """A text report of ``layout``: its facts, then its table when it has at most
    ``max_cells`` elements. ``elem_bits`` places shared-layout elements in banks."""
    shape = tuple(layout.shape)
    lines = [f"layout: {layout}", f"shape: {' x '.join(map(str, shape))}"]
    if isinstance(layout, SharedLayout):
        lines += _shared_facts(layout, elem_bits)
        cell = "offset:bank"
    else:
        lines.append(f"threads: {layout.num_threads}; slots per thread: {layout.num_slots}; "
                     f"holders per element: {layout.replication()}")
        canonical = layout.canonical()
        if canonical != layout:
            lines.append(f"canonical: {canonical}")
        cell = "T{thread}:R{slot} of each holder"
    numel = int(np.prod(shape))
    if numel > max_cells:
        lines.append(f"({numel} elements: table omitted above {max_cells}; "
                     "draw it with -o FILE.png)")
    else:
        lines.append(f"cells: {cell}")
        lines += _table(layout, elem_bits)
    return "\n".join(lines) + "\n"
