"""The target interface: how a kernel is compiled (through the disk cache) and run.

A ``Target`` traces a kernel for a specialization, runs its named pass pipeline
(``tilelang.passes``; for a GPU with that architecture's facts attached), makes
its artifacts in ``finish`` and runs the result in ``launch``. The concrete
targets are in ``cpu_targets.py``, ``nvidia_target.py`` and ``amd_target.py``;
``targets.py`` names them.
"""

from __future__ import annotations

import contextlib
import gc
from abc import ABC, abstractmethod
from typing import Any, Iterator

import numpy as np

from tilelang.errors import LaunchError
from tilelang.hardware import ARCHS
from tilelang.passes import pipeline, run_pipeline
from tilelang.passes.gpu.target_facts import with_target_facts
from tilelang.runtime import cache
from tilelang.ir.lowbit import PackedArray
from tilelang.runtime.arrays import as_host_numpy
from tilelang.runtime.compiled import CompiledKernel

__all__ = ["Target", "host_arrays"]


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Compiling creates hundreds of thousands of short-lived objects and no cycles
    worth collecting; the collector's full passes over them would only cost time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Target(ABC):
    """A compilation target: a pass pipeline and a way to run the result."""

    name: str = ""
    pipeline_name: str = ""
    arch: str | None = None  # the GPU architecture whose limits the lowering must meet

    def compile(self, kernel: Any, spec: Any, keep_stages: bool = False) -> CompiledKernel:
        """Compile through the disk cache: a hit rebuilds the kernel from the cached IR
        and artifacts (``finish_cached``) without tracing or running the pipeline."""
        key = cache.cache_key(kernel, spec, self.name)
        if key is not None:
            entry = cache.load(key)
            if entry is not None:
                return cache.rebuild(self, kernel, spec, key, entry, keep_stages)
        with _no_cyclic_gc():
            result = self.lower(kernel, spec, keep_stages)
            compiled = CompiledKernel(kernel.name, self.name, spec, result.module,
                                      result.stages)
            self.finish(compiled)
        if key is not None:
            cache.store_compiled(key, compiled)
        return compiled

    def lower(self, kernel: Any, spec: Any, keep_stages: bool = False) -> Any:
        """Trace and run the target's pipeline (a ``PassResult``)."""
        module = kernel.trace(spec)
        if self.arch is not None:
            # Passes know no targets: the shared-memory budget, warp size and the
            # matrix instructions travel as function attributes.
            module = with_target_facts(module, ARCHS[self.arch])
        return run_pipeline(module, pipeline(self.pipeline_name), keep_stages=keep_stages)

    def finish(self, compiled: CompiledKernel) -> None:
        """Produce the target's artifacts from the final IR."""

    def finish_cached(self, compiled: CompiledKernel) -> None:
        """Like ``finish``, for a kernel whose artifacts came from the disk cache."""
        self.finish(compiled)

    @abstractmethod
    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        """Run ``compiled`` over ``grid`` on ``args`` (``stream``: where the target has
        streams)."""

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        """``run(grid, args, views, stream)`` for the launcher's cache hits, with what can
        be decided per compiled kernel (and per the types of the runtime ``args`` of the
        launch that stored the hit) decided now (``views``: see ``dispatch``)."""
        def run(grid: tuple[int, int, int], args: list[Any], views: list[Any],
                stream: Any) -> None:
            self.launch(compiled, grid, args, kernel, stream)
        return run


def host_arrays(compiled: CompiledKernel, args: list[Any], kernel: Any, name: str) -> list[Any]:
    host = []
    for p, a in zip(compiled.spec.params, args):
        if p.is_tensor and isinstance(a, PackedArray) and isinstance(a.data, np.ndarray):
            host.append(a)
        elif p.is_tensor:
            arr = as_host_numpy(a)
            if arr is None:
                raise LaunchError(
                    f"argument '{p.name}' is not in host memory; target '{name}' runs on "
                    f"numpy arrays", kernel=kernel.name, loc=kernel.source.def_loc,
                    hint="pass a numpy array (e.g. tensor.cpu().numpy())")
            host.append(arr)
        else:
            host.append(a)
    return host
