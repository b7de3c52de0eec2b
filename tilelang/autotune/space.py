"""The search space of an autotuning sweep, and the pruning of configurations that
cannot compile or cannot run well, as pure functions.

A ``Config`` is a set of constexpr values plus the launch options ``num_warps``
and ``num_stages``. ``expand_space`` turns the grid form (``dict`` of lists) into
configurations; ``static_prune`` drops those that break a rule known before
compiling, each with its reason; ``key_values`` reads the values that select a
separate tuning from a launch's arguments.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from tilelang.runtime.arrays import array_dtype_name, is_array

LAUNCH_OPTIONS = ("num_warps", "num_stages")
VALID_NUM_WARPS = (1, 2, 4, 8, 16, 32)
# mma.sync m16n8k16: every dimension of a tl.dot tile must be a multiple of 16 for the
# tile to split into whole instructions on each side (n8 pairs up to 16 for ldmatrix.x4).
MMA_MULTIPLE = 16
# Accumulator registers per thread above which a configuration is dropped: 255 is the
# hardware limit and the kernel needs registers for its operands and addresses too.
MAX_ACC_REGISTERS = 128
_TILE_NAME = re.compile(r"^(B|BLOCK_?)([MNK])$")
_SHAPE_KEY = re.compile(r"^([A-Za-z_]\w*)\.shape\[(\d+)\]$")


@dataclass(frozen=True)
class Config:
    """One candidate: ``Config(BM=128, BN=128, num_warps=8, num_stages=3)``.

    Keywords other than ``num_warps`` and ``num_stages`` are constexpr values of the
    kernel; the two launch options default to the kernel's own.
    """

    constexprs: tuple[tuple[str, Any], ...]
    num_warps: int | None = None
    num_stages: int | None = None

    def __init__(self, num_warps: int | None = None, num_stages: int | None = None,
                 **constexprs: Any) -> None:
        object.__setattr__(self, "constexprs", tuple(sorted(constexprs.items())))
        object.__setattr__(self, "num_warps", num_warps)
        object.__setattr__(self, "num_stages", num_stages)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The constexprs as launch keywords."""
        return dict(self.constexprs)

    def launch_kwargs(self) -> dict[str, Any]:
        """Constexprs and the launch options that are set, for ``kernel[grid](...)``."""
        out = self.kwargs
        if self.num_warps is not None:
            out["num_warps"] = self.num_warps
        if self.num_stages is not None:
            out["num_stages"] = self.num_stages
        return out

    def as_json(self) -> dict[str, Any]:
        return self.launch_kwargs()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Config":
        return cls(**dict(data))

    def label(self) -> str:
        """``BM=64 BN=64 nw=4 ns=2``: short enough for a plot's axis."""
        parts = [f"{k}={v}" for k, v in self.constexprs]
        if self.num_warps is not None:
            parts.append(f"nw={self.num_warps}")
        if self.num_stages is not None:
            parts.append(f"ns={self.num_stages}")
        return " ".join(parts) or "(defaults)"

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self.launch_kwargs().items())})"


def expand_space(space: Mapping[str, Sequence[Any]]) -> list[Config]:
    """Every combination of ``space``'s values, the first name varying slowest:
    ``expand_space({'BM': [64, 128], 'num_warps': [4, 8]})`` gives four configs."""
    names = list(space)
    for name in names:
        values = space[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"autotune space: '{name}' must be a list of values, "
                            f"got {values!r}")
    combos = itertools.product(*(list(space[n]) for n in names))
    return unique([Config(**dict(zip(names, combo))) for combo in combos])


def unique(configs: Iterable[Config]) -> list[Config]:
    """``configs`` without repeats, in order."""
    seen: set[Config] = set()
    out = []
    for c in configs:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def tile_names(names: Iterable[str]) -> list[str]:
    """The constexprs named like tile sizes of a ``tl.dot``: ``BM``, ``BN``, ``BK``,
    ``BLOCK_M``, ``BLOCKN``, ..."""
    return [n for n in names if _TILE_NAME.match(n)]


def static_prune(configs: Sequence[Config], *, default_num_warps: int,
                 uses_dot: bool, mma_tiles: Sequence[str] | None = None,
                 target: str | None = None
                 ) -> tuple[list[Config], list[tuple[Config, str]]]:
    """Split ``configs`` into those kept and ``(config, reason)`` for those dropped by a
    rule known before compiling:

    * ``num_warps`` must be one of 1, 2, 4, 8, 16, 32 and ``num_stages`` at least 1;
    * in a kernel that calls ``tl.dot`` (``uses_dot``), the tile constexprs
      (``mma_tiles``, default: those named ``BM``/``BN``/``BK``/``BLOCK_M``...) must be
      multiples of the mma shape (16), and the ``BM x BN`` f32 accumulator must fit in
      ``MAX_ACC_REGISTERS`` registers per thread and split evenly among the warps in
      m16n8 mma tiles (``lower_mma.warp_grid``). On an AMD ``target`` (or its
      ``emulate:`` form) the wavefronts have 64 lanes and the tiles are the
      target's MFMA shapes (``dot_instr.DotUnit``), as the lowering decides.

    Budgets only the compiler knows (shared memory after reuse and exchanges) are
    found by compiling: see ``workers.compile_candidates``.
    """
    kept: list[Config] = []
    dropped: list[tuple[Config, str]] = []
    for config in configs:
        reason = _static_reason(config, default_num_warps, uses_dot, mma_tiles, target)
        if reason is None:
            kept.append(config)
        else:
            dropped.append((config, reason))
    return kept, dropped


def _static_reason(config: Config, default_num_warps: int, uses_dot: bool,
                   mma_tiles: Sequence[str] | None, target: str | None = None) -> str | None:
    warps = config.num_warps if config.num_warps is not None else default_num_warps
    if warps not in VALID_NUM_WARPS:
        return f"num_warps={warps} is not one of {', '.join(map(str, VALID_NUM_WARPS))}"
    if config.num_stages is not None and config.num_stages < 1:
        return f"num_stages={config.num_stages} is below 1"
    if not uses_dot:
        return None
    values = config.kwargs
    names = list(mma_tiles) if mma_tiles is not None else tile_names(values)
    for name in names:
        v = values.get(name)
        if isinstance(v, int) and (v <= 0 or v % MMA_MULTIPLE):
            return f"tile {name}={v} is not a multiple of the mma shape ({MMA_MULTIPLE})"
    bm = next((values[n] for n in values if _TILE_NAME.match(n) and n[-1] == "M"), None)
    bn = next((values[n] for n in values if _TILE_NAME.match(n) and n[-1] == "N"), None)
    if isinstance(bm, int) and isinstance(bn, int):
        unit = _dot_unit(target, warps)
        regs = bm * bn // unit.threads
        if regs > MAX_ACC_REGISTERS:
            return (f"register budget: the {bm}x{bn} f32 accumulator needs {regs} registers "
                    f"per thread with {warps} warps (limit {MAX_ACC_REGISTERS} of 255)")
        # the lowering's own rule
        if all(ins.warp_grid(bm, bn, warps) is None for ins in unit.instructions()):
            shapes = ", ".join(ins.shape for ins in unit.instructions())
            return (f"tile {bm}x{bn} cannot be split among {warps} warps in {shapes} "
                    f"tiles")
    return None


def _dot_unit(target: str | None, warps: int) -> Any:
    """What ``tl.dot`` runs on for ``target`` (NVIDIA's ``mma.sync`` when unknown)."""
    from tilelang.hardware import ARCHS
    from tilelang.passes.gpu.dot_instr import DotUnit
    arch = ARCHS.get((target or "").removeprefix("emulate:"))
    if arch is None:
        return DotUnit(warps)
    return DotUnit(warps, arch.warp_size, arch.mfma_shapes)


def apply_prune_hook(hook: Callable[..., Any] | None, configs: Sequence[Config],
                     key: Mapping[str, Any]) -> tuple[list[Config], list[tuple[Config, str]]]:
    """Run a user ``prune=`` hook: ``hook(configs, key_values)`` returns the configs to
    keep, or ``(config, reason)`` pairs where a reason (not ``None``) drops the config."""
    if hook is None:
        return list(configs), []
    result = list(hook(list(configs), dict(key)))
    reasons: dict[Config, str | None] = {}
    for item in result:
        if isinstance(item, Config):
            reasons[item] = None
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Config):
            reasons[item[0]] = item[1]
        else:
            raise TypeError(f"prune= hook returned {item!r}; expected Config or "
                            f"(Config, reason)")
    kept = [c for c in configs if c in reasons and reasons[c] is None]
    dropped = [(c, reasons.get(c) or "dropped by the prune= hook") for c in configs
               if c not in kept]
    return kept, dropped


def key_values(key: Sequence[str], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON values that select a tuning: for each ``key`` entry, an argument's value
    (an array's shape), or ``A.shape[i]``; always the dtypes of the array arguments."""
    out: dict[str, Any] = {}
    for entry in key:
        m = _SHAPE_KEY.match(entry)
        name = m.group(1) if m else entry
        if name not in arguments:
            raise KeyError(f"autotune key '{entry}' names no argument "
                           f"(arguments: {', '.join(arguments)})")
        value = arguments[name]
        if m:
            if not is_array(value):
                raise KeyError(f"autotune key '{entry}': '{name}' is not an array")
            dim = int(m.group(2))
            out[entry] = int(value.shape[dim])
        elif is_array(value):
            out[entry] = [int(d) for d in value.shape]
        else:
            out[entry] = _jsonable(value)
    out["dtypes"] = {n: array_dtype_name(v) for n, v in arguments.items() if is_array(v)}
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return str(getattr(value, "name", value))


def configs_digest(configs: Sequence[Config]) -> str:
    """A stable JSON text of the candidate set (part of a stored result's key)."""
    return json.dumps([c.as_json() for c in configs], sort_keys=True, default=str)


__all__ = ["Config", "LAUNCH_OPTIONS", "MAX_ACC_REGISTERS", "MMA_MULTIPLE", "apply_prune_hook",
           "configs_digest", "expand_space", "key_values", "static_prune", "tile_names",
           "unique"]
