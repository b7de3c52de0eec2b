"""examples/paged_attention.py: decode over a paged KV cache against float64 numpy,
with ragged, empty and page-multiple sequences, grouped-query heads, several
split sizes, on the interpreter and the emulators."""

from __future__ import annotations

import pytest

from tests.examples.test_examples import EXAMPLES, check, load_example, run_script

ex = load_example("paged_attention")


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
@pytest.mark.parametrize("seq_lens", [(1, 37, 200, 64), (0, 20), (48, 48), (300,)])
def test_decode_matches_numpy(seq_lens, kv_heads):
    check(ex.run("interp", seq_lens=seq_lens, kv_heads=kv_heads), ex.TOLERANCE)


@pytest.mark.parametrize("page, pages_per_split", [(8, 1), (16, 2), (32, 8)])
def test_page_and_split_sizes(page, pages_per_split):
    check(ex.run("interp", seq_lens=(5, 130, 77), page=page,
                 pages_per_split=pages_per_split), ex.TOLERANCE)


def test_head_dim_128():
    check(ex.run("interp", seq_lens=(90, 17), head_dim=128), ex.TOLERANCE)


def test_splits_cover_the_longest_sequence():
    assert ex.splits_for(200, 16, 4) == 4       # 13 pages, 4 per split
    assert ex.splits_for(0, 16, 4) == 1
    assert ex.splits_for(513, 16, 4) == 16      # 33 pages: 9 splits, rounded up


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"])
def test_decode_in_the_emulator(target):
    check(ex.run(target, seq_lens=(0, 37, 100), kv_heads=2), ex.TOLERANCE)


def test_the_script_prints_ok():
    proc = run_script(str(EXAMPLES / "paged_attention.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout and proc.stdout.count("OK") == 3
