"""The autotuner's pure parts: configurations, the grid form, pruning and key values."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang.autotune.space import (
    Config, apply_prune_hook, expand_space, key_values, static_prune, tile_names,
)


def test_config_splits_constexprs_from_launch_options() -> None:
    c = tl.Config(BM=128, BN=64, num_warps=8, num_stages=3)
    assert c.kwargs == {"BM": 128, "BN": 64}
    assert c.launch_kwargs() == {"BM": 128, "BN": 64, "num_warps": 8, "num_stages": 3}
    assert c.label() == "BM=128 BN=64 nw=8 ns=3"
    assert Config.from_json(c.as_json()) == c
    assert hash(c) == hash(tl.Config(BN=64, BM=128, num_stages=3, num_warps=8))


def test_expand_space_is_the_product_first_name_slowest() -> None:
    configs = expand_space({"BM": [64, 128], "num_warps": [4, 8]})
    assert [c.launch_kwargs() for c in configs] == [
        {"BM": 64, "num_warps": 4}, {"BM": 64, "num_warps": 8},
        {"BM": 128, "num_warps": 4}, {"BM": 128, "num_warps": 8}]
    assert len(expand_space({"BM": [64, 64]})) == 1
    with pytest.raises(TypeError, match="must be a list"):
        expand_space({"BM": 64})


def test_tile_names() -> None:
    assert tile_names(["BM", "BN", "BK", "BLOCK_M", "BLOCKN", "STAGES", "BX"]) == \
        ["BM", "BN", "BK", "BLOCK_M", "BLOCKN"]


def test_static_prune_keeps_reasons() -> None:
    configs = [Config(BM=64, BN=64, BK=32, num_warps=4),
               Config(BM=64, BN=64, BK=32, num_warps=3),
               Config(BM=40, BN=64, BK=32),
               Config(BM=256, BN=256, BK=32, num_warps=4),
               Config(BM=16, BN=16, BK=16, num_warps=8),
               Config(BM=64, BN=64, num_stages=0),
               Config(BM=32, BN=32, BK=32, num_warps=8)]   # 2 x 4 warps of m16n8 tiles
    kept, dropped = static_prune(configs, default_num_warps=4, uses_dot=True)
    assert kept == [configs[0], configs[6]]
    reasons = dict(dropped)
    assert "num_warps=3" in reasons[configs[1]]
    assert "BM=40 is not a multiple of the mma shape (16)" in reasons[configs[2]]
    assert "register budget" in reasons[configs[3]] and "512 registers" in reasons[configs[3]]
    assert "cannot be split among 8 warps" in reasons[configs[4]]
    assert "num_stages=0" in reasons[configs[5]]


def test_static_prune_follows_the_targets_matrix_unit() -> None:
    """On AMD the wavefronts have 64 lanes and tile C in MFMA shapes: 32x32 over 8
    warps is too small for 32x32x8 and 16x16x16 alike, 128x128 over 4 wavefronts fits,
    and a 256x256 accumulator costs half the registers per lane it does on NVIDIA."""
    configs = [Config(BM=32, BN=32, BK=32, num_warps=8), Config(BM=128, BN=128, BK=32),
               Config(BM=256, BN=256, BK=32, num_warps=8)]
    for target in ("gfx90a", "emulate:gfx942"):
        kept, dropped = static_prune(configs, default_num_warps=4, uses_dot=True,
                                     target=target)
        assert kept == configs[1:]
        assert "32x32x8, 16x16x16 tiles" in dict(dropped)[configs[0]]
    kept, _ = static_prune(configs, default_num_warps=4, uses_dot=True, target="sm_80")
    assert kept == configs[:2]


def test_static_prune_without_dot_checks_only_launch_options() -> None:
    configs = [Config(BM=48, BN=8), Config(BLOCK=8, num_warps=5)]
    kept, dropped = static_prune(configs, default_num_warps=4, uses_dot=False)
    assert kept == configs[:1] and dropped[0][0] == configs[1]
    kept, _ = static_prune([Config(X=40)], default_num_warps=4, uses_dot=True, mma_tiles=["X"])
    assert kept == []


def test_prune_hook_returns_configs_or_pairs() -> None:
    configs = [Config(BM=16), Config(BM=32), Config(BM=64)]
    kept, dropped = apply_prune_hook(lambda cs, key: [c for c in cs if c.kwargs["BM"] > 16],
                                     configs, {})
    assert kept == configs[1:] and dropped == [(configs[0], "dropped by the prune= hook")]
    kept, dropped = apply_prune_hook(
        lambda cs, key: [(c, "too big for M" if c.kwargs["BM"] > key["M"] else None)
                         for c in cs], configs, {"M": 32})
    assert kept == configs[:2] and dropped == [(configs[2], "too big for M")]
    with pytest.raises(TypeError, match="prune= hook returned"):
        apply_prune_hook(lambda cs, key: ["nope"], configs, {})


def test_key_values_reads_arguments_and_shapes() -> None:
    a = np.zeros((4, 6), np.float32)
    key = key_values(["A.shape[0]", "n", "A"], {"A": a, "n": 7, "B": np.zeros(3, np.int8)})
    assert key == {"A.shape[0]": 4, "n": 7, "A": [4, 6],
                   "dtypes": {"A": "float32", "B": "int8"}}
    with pytest.raises(KeyError, match="names no argument"):
        key_values(["M"], {"A": a})
    with pytest.raises(KeyError, match="not an array"):
        key_values(["n.shape[0]"], {"n": 3})
