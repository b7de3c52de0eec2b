"""Targets: what a kernel compiles for and how a compiled kernel runs.

* ``interp``: the tile-level reference interpreter (any machine);
* ``emulate:<gpu>`` (``emulate`` = ``emulate:sm_80``): the GPU lowering, run by
  the thread-level emulator on the CPU;
* ``sm_80``, ``sm_90a``: PTX from the NVIDIA code generator (and a cubin where
  ``ptxas`` is installed), launched through the CUDA driver
  (``cuda_driver.py``, ``nvidia_launch.py``); without a device, a ``LaunchError``;
* ``gfx90a``, ``gfx942``: HIP C++ from the AMD code generator (and a code object
  where hipcc is installed), launched through hip-python (``amd_target.py``);
  ``emulate:gfx90a`` / ``emulate:gfx942`` run their wave64 MFMA lowering;
* ``emulate-ptx:sm_80``, ``emulate-ptx:sm_90a``: the NVIDIA PTX, launched as on the GPU
  but run by the PTX interpreter (``emulate_ptx.py``).
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Any, Iterator

from tilelang.errors import LaunchError
from tilelang.hardware import AMD_ARCHS, ARCHS, NVIDIA_ARCHS
from tilelang.ir.values import Function, Module
from tilelang.passes import pipeline, run_pipeline
from tilelang.passes.gpu.target_facts import with_target_facts
from tilelang.runtime.nvidia_launch import default_stream_source, resolve_stream

NVIDIA_TARGETS = NVIDIA_ARCHS
AMD_TARGETS = AMD_ARCHS
GPU_TARGETS = NVIDIA_TARGETS + AMD_TARGETS


@dataclass
class CompiledKernel:
    """A kernel compiled for one specialization and target: IR stages and artifacts."""

    name: str
    target: str
    spec: Any
    module: Module
    stages: list[tuple[str, Module]] = field(default_factory=list)
    program: Any = None
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def function(self) -> Function:
        return self.module.function()

    @property
    def ir(self) -> dict[str, str]:
        """The IR text after each recorded stage (``'input'`` is the traced tile IR)."""
        from tilelang.ir.printer import print_module
        return {name: print_module(m) for name, m in self.stages}

    @property
    def ptx(self) -> str | None:
        return self.artifacts.get("ptx")

    @property
    def cubin(self) -> bytes | None:
        return self.artifacts.get("cubin")

    @property
    def hip(self) -> str | None:
        """The HIP C++ source (AMD targets)."""
        return self.artifacts.get("hip")

    @property
    def code_object(self) -> bytes | None:
        """The AMDGPU code object hipcc built (AMD targets, where hipcc is installed)."""
        return self.artifacts.get("hsaco")


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


class Target:
    """A compilation target: a pass pipeline and a way to run the result."""

    name: str = ""
    pipeline_name: str = ""
    arch: str | None = None  # the GPU architecture whose limits the lowering must meet

    def compile(self, kernel: Any, spec: Any, keep_stages: bool = False) -> CompiledKernel:
        """Compile through the disk cache: a hit rebuilds the kernel from the cached IR
        and artifacts (``finish_cached``) without tracing or running the pipeline."""
        from tilelang.runtime import cache
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

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        raise NotImplementedError

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        """``run(grid, args, views, stream)`` for the launcher's cache hits, with what can
        be decided per compiled kernel (and per the types of the runtime ``args`` of the
        launch that stored the hit) decided now (``views``: see ``dispatch``)."""
        def run(grid: tuple[int, int, int], args: list[Any], views: list[Any],
                stream: Any) -> None:
            self.launch(compiled, grid, args, kernel, stream)
        return run


def _host_arrays(compiled: CompiledKernel, args: list[Any], kernel: Any, name: str) -> list[Any]:
    from tilelang.runtime.arrays import as_host_numpy
    host = []
    for p, a in zip(compiled.spec.params, args):
        if p.is_tensor:
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


class InterpTarget(Target):
    """Runs the tile IR with numpy, one program instance at a time."""

    name = "interp"
    pipeline_name = "interp"

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.interp import interpreter
        compiled.program = interpreter.prepare(compiled.function)

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        compiled.program.run(grid, _host_arrays(compiled, args, kernel, self.name),
                             kernel_name=kernel.name)


class EmulateTarget(Target):
    """Runs a GPU target's real lowering in the thread-level emulator."""

    pipeline_name = "gpu"

    def __init__(self, gpu: str) -> None:
        self.gpu = self.arch = gpu
        self.name = f"emulate:{gpu}"

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.emulator import emulator
        compiled.program = emulator.prepare_threads(compiled.function)

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        compiled.program.run(grid, _host_arrays(compiled, args, kernel, self.name),
                             kernel_name=kernel.name)


class NvidiaTarget(Target):
    """PTX for an NVIDIA architecture, assembled to a cubin where ptxas is installed."""

    pipeline_name = "gpu"

    def __init__(self, arch: str, driver: Any = None) -> None:
        self.name = self.arch = arch
        self.driver = driver  # a CudaDriver; None: the process-wide one

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.nvidia import ptx
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
        ``nvidia_launch.resolve_stream`` reads it."""
        plan = self.plan(compiled, kernel)
        values = plan.values(args, None, kernel, self.name)
        plan.launch(grid, values, resolve_stream(stream, args), kernel)

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        from tilelang.runtime import cuda_driver
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
        from tilelang.runtime.cuda_driver import default_driver
        from tilelang.runtime.nvidia_launch import LaunchPlan
        driver = self.driver or default_driver()
        plan = compiled.program
        if plan is None or plan.driver is not driver:
            try:
                driver.ensure()
            except LaunchError as e:
                raise e.with_context(kernel=kernel.name, loc=kernel.source.def_loc) from None
            plan = compiled.program = LaunchPlan(compiled, driver, kernel)
        return plan


_TARGETS: dict[str, Target] = {"interp": InterpTarget()}


def get_target(name: str) -> Target:
    """The target called ``name``; a ``LaunchError`` naming the choices otherwise."""
    if name == "emulate":
        name = "emulate:sm_80"
    if name in _TARGETS:
        return _TARGETS[name]
    target: Target | None = None
    if name in NVIDIA_TARGETS:
        target = NvidiaTarget(name)
    elif name.startswith("emulate-ptx:") and name[len("emulate-ptx:"):] in NVIDIA_TARGETS:
        from tilelang.runtime.emulate_ptx import EmulatePtxTarget
        target = EmulatePtxTarget(name[len("emulate-ptx:"):])
    elif name.startswith("emulate:") and name[len("emulate:"):] in GPU_TARGETS:
        target = EmulateTarget(name[len("emulate:"):])
    elif name in AMD_TARGETS:
        from tilelang.runtime.amd_target import AmdTarget
        target = AmdTarget(name)
    if target is None:
        raise LaunchError(f"unknown target '{name}'",
                          hint="targets: interp, emulate[:sm_80|:sm_90a|:gfx90a|:gfx942], "
                               "emulate-ptx:sm_80, emulate-ptx:sm_90a, "
                               "sm_80, sm_90a, gfx90a, gfx942")
    _TARGETS[name] = target
    return target


def resolve_target(name: str | None) -> Target:
    """The launch target: the one named, else TILELANG_INTERPRET/TILELANG_TARGET, else
    the current GPU's (``detect_gpu_target``), else ``interp``."""
    if name is None:
        from tilelang import knobs
        settings = knobs.target_settings()
        target = _DEFAULTS.get(settings)
        if target is None:
            name = "interp" if knobs.interpret() else (knobs.default_target() or
                                                       detect_gpu_target() or "interp")
            target = _DEFAULTS[settings] = get_target(name)
        return target
    target = _TARGETS.get(name)
    return target if target is not None else get_target(name)


# the default target per (TILELANG_INTERPRET, TILELANG_TARGET) raw values
_DEFAULTS: dict[tuple[str | None, str | None], Target] = {}
_DETECTED: list[str | None] = []


def detect_gpu_target(driver: Any = None, refresh: bool = False) -> str | None:
    """``sm_90a`` on a compute capability 9.0 device, ``sm_80`` on 8.x (and later
    non-9.0 devices, through the PTX JIT), else ``gfx90a``/``gfx942`` on an MI200/MI300
    (asked only of the process-wide drivers), ``None`` without a device or driver. Asked
    once per process (``refresh`` asks again); never raises."""
    if _DETECTED and not refresh and driver is None:
        return _DETECTED[0]
    from tilelang.runtime.cuda_driver import default_driver
    capability = (driver or default_driver()).probe()
    found = None
    if capability is not None:
        found = "sm_90a" if capability == (9, 0) else ("sm_80" if capability >= (8, 0) else None)
    if found is None and driver is None:   # no NVIDIA GPU: an AMD one (gfx90a, gfx942)?
        from tilelang.runtime.amd_target import detect_amd_target
        found = detect_amd_target()
    if driver is None:
        _DETECTED[:] = [found]
        _DEFAULTS.clear()
    return found
