"""The AMD targets ``gfx90a`` (CDNA2, MI200) and ``gfx942`` (CDNA3, MI300).

They run the same pass pipeline as NVIDIA (the target description in
``tilelang.hardware`` drives the differences: wave64, LDS size, MFMA), then emit
HIP C++ (``codegen.amd.hip``) and, where hipcc is installed, compile it to a
code object (``codegen.amd.hipcc``). Artifacts of a ``CompiledKernel``:

* ``hip``: the HIP C++ source;
* ``hsaco``: the code object (absent without hipcc), ``hsaco_arch``: the arch it
  was built for (``gfx940`` for gfx942 with a hipcc older than ROCm 5.7),
  ``hipcc_log``: the compiler's warnings.

All of them are kept in the disk cache like PTX and cubins. Launches go through
hip-python (``hip_driver``, ``amd_launch``); without an AMD GPU or hip-python a
launch is a ``LaunchError`` naming the CPU targets.
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import LaunchError
from tilelang.runtime.streams import resolve_stream
from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.target import Target


class AmdTarget(Target):
    """HIP C++ for an AMD architecture, compiled to a code object where hipcc is installed."""

    pipeline_name = "gpu"   # one pipeline for both vendors; the target facts drive it

    def __init__(self, arch: str, driver: Any = None) -> None:
        self.name = self.arch = arch
        self.driver = driver  # a HipDriver; None: the process-wide one

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.amd.hip import emit_hip
        compiled.artifacts["hip"] = emit_hip(compiled.function, self.name)
        self._build(compiled)

    def finish_cached(self, compiled: CompiledKernel) -> None:
        # An entry written where hipcc was missing gets its code object now if hipcc has
        # appeared since.
        if "hip" not in compiled.artifacts:
            self.finish(compiled)
        elif "hsaco" not in compiled.artifacts:
            self._build(compiled)

    def _build(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.amd import hipcc
        if hipcc.find_hipcc() is None:
            return
        result = hipcc.compile_hip(compiled.artifacts["hip"], self.name, kernel=compiled.name)
        compiled.artifacts["hsaco"] = result.code_object
        compiled.artifacts["hsaco_arch"] = result.arch
        compiled.artifacts["hipcc_log"] = result.log

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        """Launch on the current AMD GPU (module loaded on first use); ``stream`` as
        ``streams.resolve_stream`` reads it (a torch/cupy ROCm stream, a
        ``hipStream_t`` or an int)."""
        plan = self.plan(compiled, kernel)
        plan.launch(grid, plan.values(args, None, kernel, self.name),
                    resolve_stream(stream, args), kernel)

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        from tilelang.runtime import hip_driver
        from tilelang.runtime.streams import default_stream_source
        plan = self.plan(compiled, kernel)
        # the key of a hit fixes the arguments' types, and with them the default stream
        current_stream = default_stream_source(args)

        def current_driver() -> Any:
            return self.driver or hip_driver.default_driver()

        def fallback(grid: tuple[int, int, int], args: list[Any], stream: Any) -> None:
            self.launch(compiled, grid, args, kernel, stream)   # the driver was replaced

        return plan.runner(kernel, current_stream, current_driver, fallback)

    def plan(self, compiled: CompiledKernel, kernel: Any) -> Any:
        """The ``AmdLaunchPlan`` of ``compiled`` on this target's driver (built once)."""
        from tilelang.runtime.amd_launch import AmdLaunchPlan
        from tilelang.runtime.hip_driver import default_driver
        driver = self.driver or default_driver()
        plan = compiled.program
        if not isinstance(plan, AmdLaunchPlan) or plan.driver is not driver:
            try:
                driver.ensure()
            except LaunchError as e:
                raise e.with_context(kernel=kernel.name, loc=kernel.source.def_loc) from None
            plan = compiled.program = AmdLaunchPlan(compiled, driver, kernel)
        return plan


def detect_amd_target(driver: Any = None) -> str | None:
    """``gfx90a`` or ``gfx942`` for the current AMD GPU, ``None`` without one (never raises)."""
    from tilelang.runtime.amd_launch import COMPATIBLE_ARCHS
    from tilelang.runtime.hip_driver import default_driver
    arch = (driver or default_driver()).probe()
    for target, archs in COMPATIBLE_ARCHS.items():
        if arch in archs:
            return target
    return None


__all__ = ["AmdTarget", "detect_amd_target"]
