"""The NVIDIA targets (``sm_80``, ``sm_90a``): PTX from the NVIDIA code generator,
assembled to a cubin where ptxas is installed, launched through the CUDA driver
(``cuda_driver.py``, ``nvidia_launch.py``); without a device, a ``LaunchError``.
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import LaunchError
from tilelang.runtime import cuda_driver
from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.nvidia_launch import LaunchPlan
from tilelang.runtime.streams import default_stream_source, resolve_stream
from tilelang.runtime.target import Target

__all__ = ["NvidiaTarget"]


class NvidiaTarget(Target):
    """PTX for an NVIDIA architecture, assembled to a cubin where ptxas is installed."""

    pipeline_name = "gpu"

    def __init__(self, arch: str, driver: Any = None) -> None:
        self.name = self.arch = arch
        self.driver = driver  # a CudaDriver; None: the process-wide one

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.nvidia import ptx   # (LLVM loads on the first compile)
        compiled.artifacts["ptx"] = ptx.emit_ptx(compiled.function, self.name)
        self._assemble(compiled)

    def finish_cached(self, compiled: CompiledKernel) -> None:
        # The cached PTX skips LLVM; an entry written where ptxas was missing gets its
        # cubin now if ptxas has appeared since.
        if "ptx" not in compiled.artifacts:
            self.finish(compiled)
        elif "cubin" not in compiled.artifacts:
            self._assemble(compiled)

    def _assemble(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.nvidia import ptxas
        if ptxas.find_ptxas() is not None:
            result = ptxas.assemble(compiled.artifacts["ptx"], self.name)
            compiled.artifacts["cubin"] = result.cubin
            compiled.artifacts["ptxas_log"] = result.log

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        """Launch on the current CUDA device (module loaded on first use); ``stream`` as
        ``streams.resolve_stream`` reads it."""
        plan = self.plan(compiled, kernel)
        values = plan.values(args, None, kernel, self.name)
        plan.launch(grid, values, resolve_stream(stream, args), kernel)

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        plan = self.plan(compiled, kernel)
        name = self.name
        # the key of a hit fixes the arguments' types, and with them the default stream
        current_stream = default_stream_source(args)

        def current_driver() -> Any:
            return self.driver or cuda_driver._DEFAULT

        def fallback(grid: tuple[int, int, int], args: list[Any], stream: Any) -> None:
            self.launch(compiled, grid, args, kernel, stream)   # the driver was replaced

        return plan.runner(kernel, name, current_stream, current_driver, fallback)

    def plan(self, compiled: CompiledKernel, kernel: Any) -> Any:
        """The ``LaunchPlan`` of ``compiled`` on this target's driver (built once)."""
        driver = self.driver or cuda_driver.default_driver()
        plan = compiled.program
        if plan is None or plan.driver is not driver:
            try:
                driver.ensure()
            except LaunchError as e:
                raise e.with_context(kernel=kernel.name, loc=kernel.source.def_loc) from None
            plan = compiled.program = LaunchPlan(compiled, driver, kernel)
        return plan
