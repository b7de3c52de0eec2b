"""``kernel[grid](...)`` for ``@tl.kernel(persistent=...)`` kernels.

The user launches a persistent kernel exactly as the plain one, with the grid of
output tiles (1-D or 2-D). The launcher

1. works out that logical grid ``(tiles_x, tiles_y)`` (a callable grid gets the
   constexprs, as for any kernel);
2. chooses the number of programs ``P``: ``persistent=N`` asks for ``N``; with
   ``persistent=True`` it is SMs x occupancy on a GPU target (the device's SM
   count, else the architecture's from ``tilelang.hardware``; occupancy from the
   compiled kernel's threads, shared memory and registers) and
   ``CPU_PROGRAMS`` on ``interp`` and ``emulate:*``, small so that the tile loop
   really loops there;
3. launches ``min(P, tiles)`` programs on a 1-D grid, passing the logical grid as
   the kernel's ``tl_tiles_x``/``tl_tiles_y`` parameters, which the
   ``persistent-tiles`` pass turned the body into a loop over.
"""

from __future__ import annotations

import re
from typing import Any

from tilelang.errors import LaunchError
from tilelang.hardware import ARCHS
from tilelang.runtime import dispatch
from tilelang.runtime.launcher import Launcher, bind_arguments, normalize_grid
from tilelang.runtime.targets import resolve_target

# programs of a persistent kernel on the CPU targets (interp, emulate:*)
CPU_PROGRAMS = 4
TILE_PARAMS = ("tl_tiles_x", "tl_tiles_y")
_RESERVED = ("target", "stream", "num_warps", "num_stages")


class PersistentLauncher(Launcher):
    """The callable ``kernel[grid]`` of a persistent kernel (see the module docstring)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        kernel, grid = self.kernel, self.grid
        for name in TILE_PARAMS:
            if name in kwargs:
                raise LaunchError(f"'{name}' is set by the launcher of a persistent kernel",
                                  kernel=kernel.name, loc=kernel.source.def_loc,
                                  hint="launch with the grid of tiles; leave it out")
        tgt = resolve_target(kwargs.get("target"))
        user = {k: v for k, v in kwargs.items() if k not in _RESERVED}
        views: list[Any] = []
        key = dispatch.fast_key(kernel, tgt.name, args, user, kwargs.get("num_warps"),
                                kwargs.get("num_stages"), views)
        hits = kernel.__dict__.setdefault("_persistent_hits", {})
        try:
            hit = hits.get(key) if key is not None else None
        except TypeError:      # an unhashable constexpr
            hit = None
        if hit is not None:
            programs, positions, constexprs, run = hit
            tiles = dispatch.quick_grid(grid) or normalize_grid(kernel, grid, constexprs)
            if tiles[2] == 1:
                run((min(programs, tiles[0] * tiles[1]), 1, 1),
                    [args[i] for i in positions] + [tiles[0], tiles[1]], views + [None, None],
                    kwargs.get("stream"))
                return
        full = {**user, TILE_PARAMS[0]: 1, TILE_PARAMS[1]: 1}
        params, _, constexprs = bind_arguments(kernel, args, full)
        tiles_x, tiles_y, tiles_z = normalize_grid(kernel, grid, constexprs)
        if tiles_z != 1:
            raise LaunchError(f"a persistent kernel takes a 1-D or 2-D grid of tiles, got "
                              f"{(tiles_x, tiles_y, tiles_z)}", kernel=kernel.name,
                              loc=kernel.source.def_loc,
                              hint="fold the third axis into the first two, or drop "
                                   "persistent=")
        cap = program_count(kernel, tgt, params, constexprs, kwargs)
        Launcher(kernel, (min(tiles_x * tiles_y, cap),))(*args, **kwargs, tl_tiles_x=tiles_x,
                                                          tl_tiles_y=tiles_y)
        _store_hit(kernel, tgt, key, hits, cap, args, params, constexprs, kwargs)


def _store_hit(kernel: Any, tgt: Any, key: tuple | None, hits: dict, cap: int, args: tuple,
               params: tuple, constexprs: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """Remember a successful launch under its dispatch key (as ``dispatch.store`` does for
    plain kernels) when its runtime arguments were all positional: a later launch with
    the key passes them, and the tile grid, straight to the target's runner."""
    if key is None:
        return
    is_constexpr = [kind == "constexpr" for kind in kernel.param_kinds.values()]
    positions = tuple(i for i in range(len(args)) if not is_constexpr[i])
    runtime = [p for p in params if p.name not in TILE_PARAMS]
    if len(positions) != len(runtime):
        return
    spec = kernel.make_specialization(params, dict(constexprs), kwargs.get("num_warps"),
                                      kwargs.get("num_stages"))
    compiled = kernel.__dict__.get("_compiled", {}).get((tgt.name, spec))
    if compiled is None:
        return
    sample = [args[i] for i in positions] + [1, 1]
    hits[key] = (cap, positions, dict(constexprs), tgt.fast_runner(compiled, kernel, sample))


def program_count(kernel: Any, tgt: Any, params: tuple, constexprs: dict[str, Any],
                  kwargs: dict[str, Any]) -> int:
    """How many programs a persistent launch of ``kernel`` on ``tgt`` runs."""
    if kernel.num_programs is not None:
        return kernel.num_programs
    arch = ARCHS.get(tgt.name)
    if arch is None:        # interp, emulate:*
        return CPU_PROGRAMS
    spec = kernel.make_specialization(params, dict(constexprs), kwargs.get("num_warps"),
                                      kwargs.get("num_stages"))
    memo = kernel.__dict__.setdefault("_persistent_programs", {})
    count = memo.get((tgt.name, spec))
    if count is None:
        # compiled once here; the Launcher then finds it under the same key
        compiled = kernel.__dict__.setdefault("_compiled", {}).get((tgt.name, spec))
        if compiled is None:
            compiled = kernel._compiled[(tgt.name, spec)] = tgt.compile(kernel, spec)
        count = memo[(tgt.name, spec)] = device_sms(tgt, arch) * occupancy(compiled, arch)
    return count


def occupancy(compiled: Any, arch: Any) -> int:
    """Blocks of ``compiled`` that fit on one SM at once (at least 1): limited by
    threads, shared memory and, where ptxas reported them, registers."""
    fn = compiled.function
    # the lowered function's block size (a producer warpgroup included)
    threads = int(fn.attr("num_threads", 0) or 32 * int(fn.attr("num_warps", 4)))
    limits = [arch.max_threads_per_sm // threads, 32]
    shared = int(fn.attr("shared_user_bytes", 0) or 0)
    if shared:
        limits.append(arch.max_shared_bytes // shared)
    found = re.search(r"Used (\d+) registers", compiled.artifacts.get("ptxas_log") or "")
    if found and int(found.group(1)):
        # registers are allocated per warp in units of 256
        per_warp = -(-int(found.group(1)) * 32 // 256) * 256
        limits.append(arch.regs_per_sm // (per_warp * (threads // 32)))
    return max(1, min(limits))


def device_sms(tgt: Any, arch: Any) -> int:
    """The SM count of the current device for an NVIDIA target (the architecture's
    count if the device cannot be asked)."""
    try:
        from tilelang.runtime.cuda_driver import default_driver
        driver = getattr(tgt, "driver", None) or default_driver()
        driver.ensure()
        cu = driver.raw
        return int(driver.check(cu.cuDeviceGetAttribute(
            cu.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, driver.device),
            "cuDeviceGetAttribute"))
    except (LaunchError, AttributeError, ImportError):
        return max(1, arch.num_sms)


__all__ = ["CPU_PROGRAMS", "PersistentLauncher", "device_sms", "occupancy", "program_count"]
