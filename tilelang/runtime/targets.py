"""Targets: what a kernel compiles for and how a compiled kernel runs.

``interp`` (the tile-level reference interpreter) runs on any machine. The GPU
targets (``sm_80``, ``sm_90a``, ``gfx90a``, ``gfx942``) and ``emulate:<target>``
are recognized names whose code generators are not part of this build; asking
for one is a ``LaunchError`` that lists what is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tilelang.errors import LaunchError
from tilelang.ir.values import Function, Module
from tilelang.passes import pipeline, run_pipeline

GPU_TARGETS = ("sm_80", "sm_90a", "gfx90a", "gfx942")


@dataclass
class CompiledKernel:
    """A kernel compiled for one specialization and target: IR stages and the executable."""

    name: str
    target: str
    spec: Any
    module: Module
    stages: list[tuple[str, Module]] = field(default_factory=list)
    program: Any = None

    @property
    def function(self) -> Function:
        return self.module.function()

    @property
    def ir(self) -> dict[str, str]:
        """The IR text after each recorded stage (``'input'`` is the traced tile IR)."""
        from tilelang.ir.printer import print_module
        return {name: print_module(m) for name, m in self.stages}

    def asm(self) -> dict[str, str]:
        """Target code by kind; the interpreter has none besides the IR."""
        return {"tile-ir": self.ir[self.stages[-1][0]] if self.stages else ""}


class InterpTarget:
    """Runs the tile IR with numpy, one program instance at a time."""

    name = "interp"

    def compile(self, kernel: Any, spec: Any, keep_stages: bool = False) -> CompiledKernel:
        from tilelang.runtime import interpreter
        module = kernel.trace(spec)
        result = run_pipeline(module, pipeline("interp"), keep_stages=keep_stages)
        compiled = CompiledKernel(kernel.name, self.name, spec, result.module, result.stages)
        compiled.program = interpreter.prepare(compiled.function)
        return compiled

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any) -> None:
        from tilelang.runtime.arrays import as_host_numpy
        host = []
        for p, a in zip(compiled.spec.params, args):
            if p.is_tensor:
                arr = as_host_numpy(a)
                if arr is None:
                    raise LaunchError(
                        f"argument '{p.name}' is not in host memory; target 'interp' runs "
                        f"on numpy arrays", kernel=kernel.name, loc=kernel.source.def_loc,
                        hint="pass a numpy array (e.g. tensor.cpu().numpy()), or launch on "
                             "a GPU target")
                host.append(arr)
            else:
                host.append(a)
        compiled.program.run(grid, host, kernel_name=kernel.name)


_INTERP = InterpTarget()


def get_target(name: str) -> InterpTarget:
    """The target called ``name``; a ``LaunchError`` naming the choices otherwise."""
    if name == "interp":
        return _INTERP
    if name in GPU_TARGETS or name == "emulate" or name.startswith("emulate:"):
        raise LaunchError(
            f"target '{name}' needs a code generator that this build of tilelang does not "
            f"include yet", hint="available targets: interp")
    raise LaunchError(f"unknown target '{name}'",
                      hint=f"targets: interp, emulate[:<gpu>], {', '.join(GPU_TARGETS)}")


def resolve_target(name: str | None) -> InterpTarget:
    """The launch target: the one named, else TILELANG_INTERPRET/TILELANG_TARGET, else
    the current GPU's target, else ``interp``."""
    from tilelang import knobs
    if name is None:
        if knobs.interpret():
            name = "interp"
        else:
            name = knobs.default_target() or "interp"
    return get_target(name)
