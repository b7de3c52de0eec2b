"""``tilelang layout``: ownership tables and PNGs of register and shared layouts."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from tilelang.cli import main
from tilelang.ir.layout_table import FUNCTIONS, PRESETS, resolve_layout
from tilelang.ir.layouts import parse_layout
from tilelang.ir.shared_layouts import BANK_BYTES, NUM_BANKS, parse_shared_layout

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["layout", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> tuple[list[str], list[list[str]]]:
    """The row names and cells of the printed table (after its ``cells:`` line)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("cells:"))
    header = lines[start + 1].split()
    rows = [line.split() for line in lines[start + 2:]]
    assert all(len(r) == len(header) + 1 for r in rows), "every row has a cell per column"
    assert header == [str(c) for c in range(len(header))]
    return [r[0] for r in rows], [r[1:] for r in rows]


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- text ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "local(2,1)*spatial(2,2)",
    "spatial(2, 2) * local(2, 1)",
    "column_local(2, 2) * column_spatial(2, 2)",
    "spatial(2, 1) * replicate(3, 2) * local(1, 2)",       # each element held 3 times
    "local(2, 1, 2) * spatial(1, 2, 2)",                   # rank 3: leading dims fold into rows
    "mma_c",
])
def test_the_table_names_each_elements_holders(capsys, expr):
    code, out, err = run(capsys, expr)
    assert code == 0 and err == ""
    layout = resolve_layout(expr)
    assert f"layout: {layout}" in out
    assert f"threads: {layout.num_threads}; slots per thread: {layout.num_slots}" in out
    names, cells = table_rows(out)
    owners = layout.owners()                       # (*shape, replication, 2)
    flat = owners.reshape(-1, owners.shape[-2], 2)     # one row of holders per element
    rows, cols = len(cells), len(cells[0])
    assert rows * cols == layout.numel and cols == layout.shape[-1]
    for r in range(rows):
        coord = np.unravel_index(r * cols, layout.shape)[:-1]
        assert names[r] == ",".join(map(str, coord)), "rows are named by their leading coords"
        for c in range(cols):
            printed = [tuple(map(int, m)) for m in re.findall(r"T(\d+):R(\d+)", cells[r][c])]
            assert printed == [tuple(p) for p in flat[r * cols + c].tolist()]


def test_a_preset_prints_like_its_expression(capsys):
    _, by_name, _ = run(capsys, "mma_a")
    _, by_expr, _ = run(capsys, str(PRESETS["mma_a"][0]()))
    assert by_name == by_expr
    assert "shape: 16 x 16" in by_name


def test_presets_and_parametric_layouts_compose_in_products(capsys):
    code, out, _ = run(capsys, "spatial(2, 1) * mma_c()")
    assert code == 0
    layout = resolve_layout("spatial(2, 1) * mma_c()")
    assert layout.same_as(parse_layout("spatial(2, 1) * local(2, 1) * spatial(8, 4) * local(1, 2)"))
    assert "shape: 32 x 8" in out and "threads: 64" in out
    assert resolve_layout("ldmatrix(4, 0, 2, 2)").same_as(resolve_layout("mma_a"))
    assert resolve_layout("ldmatrix_x2_trans").same_as(resolve_layout("mma_b"))


def test_a_replicated_layout_lists_every_holder_up_to_four(capsys):
    _, out, _ = run(capsys, "replicate(6, 2) * local(1, 2)")
    _, cells = table_rows(out)
    assert cells[0][0] == "T0:R0,T1:R0,T2:R0,+3"
    assert "holders per element: 6" in out


def test_a_large_tile_prints_its_facts_but_no_table(capsys):
    code, out, _ = run(capsys, "warp_tiled_c(64, 64, 2, 2)")
    assert code == 0
    assert "threads: 128" in out and "table omitted" in out and "cells:" not in out


def test_a_shared_layout_prints_offsets_and_banks(capsys):
    expr = "swizzled(row_major(8, 32), Swizzle(2, 3, 3))"
    code, out, _ = run(capsys, expr)
    assert code == 0
    layout = parse_shared_layout(expr)
    assert "bank conflicts (extra wavefronts): ldmatrix 0, vec16 0" in out
    _, cells = table_rows(out)
    offsets = layout.offsets()
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            offset, bank = map(int, re.fullmatch(r"(\d+):b(\d+)", cell).groups())
            assert offset == offsets[r, c]
            assert bank == offsets[r, c] * 2 // BANK_BYTES % NUM_BANKS


def test_elem_bits_moves_shared_elements_between_banks(capsys):
    _, out16, _ = run(capsys, "row_major(2, 32)")
    _, out32, _ = run(capsys, "row_major(2, 32)", "--elem-bits", "32")
    assert table_rows(out16)[1][0][2] == "2:b1" and table_rows(out32)[1][0][2] == "2:b2"
    assert "elements: 32-bit" in out32


def test_shared_is_forced_by_the_flag_and_detected_by_name(capsys):
    assert run(capsys, "row_major(4, 8)")[1] == run(capsys, "--shared", "row_major(4, 8)")[1]
    code, _, err = run(capsys, "--shared", "spatial(2, 2)")
    assert code == 2 and "shared layout" in err


# -- PNG -------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["local(2,1)*spatial(8,4)*local(1,2)", "ldmatrix_x1",
                                  "swizzled(row_major(8, 32), Swizzle(2, 3, 3))"])
def test_dash_o_writes_a_png(capsys, tmp_path, expr):
    path = tmp_path / "layout.png"
    code, out, err = run(capsys, expr, "-o", str(path))
    assert code == 0 and err == ""
    assert out == f"wrote {path}\n"
    width, height = png_size(path)
    assert width > 0 and height > 0
    assert path.stat().st_size > 1000


def test_a_tile_too_large_to_draw_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "spatial(128, 128)", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "too many to draw" in err
    assert not (tmp_path / "x.png").exists()


def test_an_unwritable_output_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "spatial(2, 2)", "-o", str(tmp_path / "missing" / "x.png"))
    assert code == 2 and err.startswith("tilelang layout: error: cannot write")


# -- errors and help -------------------------------------------------------------------------

@pytest.mark.parametrize("expr, says", [
    ("locl(2)", "unknown name 'locl'"),
    ("spatial(2, 2", "cannot parse register layout"),
    ("local(1, 1) * spatial(3)", "a product needs factors of one rank"),
    ("3", "not a layout"),
    ("mma_a + mma_b", "cannot parse register layout"),
    ("warp_tiled_c(60, 64, 2, 2)", "does not split"),
    ("swizzled(row_major(8, 8), Swizzle(3, 3, 1))", "shift must be >= bits"),
])
def test_a_bad_expression_exits_2_with_one_line(capsys, expr, says):
    code, out, err = run(capsys, expr)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tilelang layout: error: ")
    assert says in err


def test_bad_option_values_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["layout", "mma_c", "--elem-bits", "12"])
    assert exc.value.code == 2


def test_help_lists_every_preset_and_parametric_layout(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["layout", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    for _, signature, _ in FUNCTIONS.values():
        assert signature in out


def test_the_installed_command_runs_it():
    ok = subprocess.run([sys.executable, "-m", "tilelang.cli", "layout", "spatial(2, 2)"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "T3:R0" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "tilelang.cli", "layout", "spatial(2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
