"""PNG pictures of layouts, the grids CuTe and TileLang users know.

A register layout is drawn as its tile with each cell labelled ``T{thread}:R{slot}``
(one line per holder when replicated), colored by thread, or by warp when more
than 32 threads share the tile. A shared layout is drawn with each cell labelled
by its element offset and bank, colored by bank. Tiles of rank other than 2 are
drawn with their leading dimensions folded into rows.

matplotlib is imported only here and only when drawing (Agg, no pyplot state),
so the compiler never needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tilelang.ir.layouts import Layout, LayoutError
from tilelang.ir.shared_layouts import BANK_BYTES, NUM_BANKS, SharedLayout

MAX_CELLS = 64 * 128         # beyond this no label is readable
MAX_LINES = 4                # holder lines per cell before "+n more"


def _grid(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return 1, shape[0]
    return int(np.prod(shape[:-1])), shape[-1]


def _palette(n: int) -> np.ndarray:
    """``n`` distinguishable light colors (RGBA): tab20 pairs, then the other tab20s."""
    from matplotlib import colormaps
    base = np.concatenate([colormaps[m](np.linspace(0, 1, 20)) for m in ("tab20", "tab20b",
                                                                        "tab20c")])
    colors = base[np.arange(n) % len(base)]
    return 0.55 * colors + 0.45   # lighten so black labels stay legible


def _draw(colors: np.ndarray, labels: list[list[str]], title: str, path: Path,
          lines: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = colors.shape[:2]
    width = max(len(s) for row in labels for cell in row for s in cell.split("\n"))
    cell_w = max(0.55, 0.075 * width + 0.15)
    cell_h = max(0.3, 0.17 * lines + 0.1)
    title_w = 0.09 * max(len(line) for line in title.split("\n")) + 0.4   # never clip the title
    fig = Figure(figsize=(min(max(cols * cell_w + 0.8, title_w), 60),
                          min(rows * cell_h + 0.9, 60)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.04, 0.02, 0.92, 0.92 - 0.5 / (rows * cell_h + 0.9)))
    ax.imshow(colors, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(cols))
    ax.set_yticks(np.arange(rows))
    ax.xaxis.tick_top()
    ax.tick_params(labelsize=7, length=0)
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    for r in range(rows):
        for c in range(cols):
            ax.text(c, r, labels[r][c], ha="center", va="center", fontsize=7,
                    family="monospace")
    fig.suptitle(title, fontsize=10, family="monospace")
    fig.savefig(path, format="png")
    return path


def render_layout(layout: Layout | SharedLayout, path: str | Path, *, elem_bits: int = 16,
                  title: str | None = None) -> Path:
    """Write a PNG picture of ``layout`` to ``path`` and return the path.

    ``elem_bits`` places shared-layout elements in banks; register layouts ignore it.
    """
    path = Path(path)
    shape = tuple(layout.shape)
    rows, cols = _grid(shape)
    if rows * cols > MAX_CELLS:
        raise LayoutError(f"{layout}: {rows * cols} cells are too many to draw legibly "
                          f"(at most {MAX_CELLS})")
    if isinstance(layout, SharedLayout):
        offsets = layout.offsets().reshape(rows, cols)
        banks = offsets * elem_bits // 8 // BANK_BYTES % NUM_BANKS
        labels = [[f"{o}\nb{b}" for o, b in zip(orow, brow)]
                  for orow, brow in zip(offsets.tolist(), banks.tolist())]
        colors = _palette(NUM_BANKS)[banks]
        heading = f"{layout}   ({elem_bits}-bit elements; color = bank)"
        return _draw(colors, labels, title or heading, path, 2)

    owners = layout.owners().reshape(rows, cols, -1, 2)
    by_warp = layout.num_threads > 32
    key = owners[:, :, 0, 0] // 32 if by_warp else owners[:, :, 0, 0]
    colors = _palette(int(key.max()) + 1)[key]
    reps = owners.shape[2]
    shown = min(reps, MAX_LINES)
    labels = []
    for r in range(rows):
        row = []
        for c in range(cols):
            parts = [f"T{t}:R{s}" for t, s in owners[r, c, :shown].tolist()]
            if reps > shown:
                parts[-1] = f"+{reps - shown + 1} more"
            row.append("\n".join(parts))
        labels.append(row)
    heading = (f"{layout}\n{layout.num_threads} threads x {layout.num_slots} slots; "
               f"color = {'warp' if by_warp else 'thread'}")
    return _draw(colors, labels, title or heading, path, shown)
