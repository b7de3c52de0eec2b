"""The kernel object users hold: ``@tl.kernel`` returns a ``Kernel``.

A ``Kernel`` is the frontend's ``KernelDef`` (checked parameters, options,
tracing) plus what needs the runtime: ``kernel[grid](*args)`` launches through a
``Launcher`` (specialize, compile for the target, cache, run) and
``kernel.compile(signature, target=...)`` compiles without launching. A
persistent kernel launches through ``PersistentLauncher``.
"""

from __future__ import annotations

from typing import Any, Callable

from tilelang.errors import LaunchError
from tilelang.frontend.kernel_def import KernelDef, with_tile_params
from tilelang.frontend.signature import parse_signature
from tilelang.runtime.launcher import Launcher
from tilelang.runtime.persistent_launch import PersistentLauncher
from tilelang.runtime.targets import get_target


class Kernel(KernelDef):
    """A ``@tl.kernel`` function. Launch with ``kernel[grid](*args, **constexprs)``."""

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        return Launcher(self, grid)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise LaunchError("a kernel is launched with a grid: kernel[grid](*args)",
                          kernel=self.name, loc=self.source.def_loc,
                          hint="e.g. kernel[(tl.cdiv(n, BLOCK),)](x, y, n)")

    def compile(self, signature: Any = None, *, target: str = "interp",
                num_warps: int | None = None, **constexprs: Any) -> Any:
        """Compile for ``target`` without launching; returns the artifacts (IR per stage).

        ``signature`` gives the runtime parameters as ``'A=bf16[2],B=bf16[2],eps=f32'``
        (tensors as ``dtype[rank]``, scalars as their dtype) or as a dict of such strings.
        A tensor may add the facts to specialize on: ``A=bf16[2]:16`` (16-byte aligned,
        unit innermost stride, divisible; see ``TensorType``) or a ``+``-joined subset,
        ``A=bf16[2]:aligned+unit_stride``.
        """
        if self.persistent:
            signature = with_tile_params(signature)
        params = parse_signature(self, signature)
        spec = self.make_specialization(params, constexprs, num_warps)
        return get_target(target).compile(self, spec, keep_stages=True)


class PersistentKernel(Kernel):
    """A ``@tl.kernel(persistent=...)``: ``kernel[grid]`` takes the grid of tiles the
    plain kernel would use and launches a fixed number of programs that loop over it
    (``tilelang.runtime.persistent_launch``)."""

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        return PersistentLauncher(self, grid)


def kernel(fn: Callable[..., Any] | None = None, *, num_warps: int = 4,
           num_stages: int | None = None, persistent: bool | int = False,
           group_m: int | None = None, tma: bool = True,
           warp_specialize: bool = True) -> Any:
    """Decorate a kernel: ``@tl.kernel`` or ``@tl.kernel(num_warps=8)``.

    ``group_m=G`` walks a 2-D grid of output tiles in grouped (L2-friendly) order,
    ``G`` rows of tiles at a time; ``persistent=True`` launches one program per SM
    slot (SMs x occupancy) that loops over the grid's tiles, ``persistent=N``
    exactly ``N`` programs. See docs/persistent.md. ``tma=False`` keeps the
    cp.async pipeline on targets with TMA (sm_90a; docs/hopper-tma.md);
    ``warp_specialize=False`` keeps the TMA pipeline in every warp instead of a
    producer warpgroup feeding consumer warpgroups
    (docs/hopper-warp-specialization.md).
    """
    def make(f: Callable[..., Any]) -> Kernel:
        cls = PersistentKernel if persistent else Kernel
        return cls(f, num_warps=num_warps, num_stages=num_stages, persistent=persistent,
                   group_m=group_m, tma=tma, warp_specialize=warp_specialize)
    return make if fn is None else make(fn)


__all__ = ["Kernel", "PersistentKernel", "kernel"]
