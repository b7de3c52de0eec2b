"""The CPU targets: ``interp`` (the tile-level reference interpreter) and
``emulate:<gpu>`` (a GPU target's real lowering, run by the thread-level
emulator). Both run on numpy arrays in host memory.
"""

from __future__ import annotations

from typing import Any

from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.lowbit_args import as_codes, as_packed
from tilelang.runtime.target import Target, host_arrays

__all__ = ["EmulateTarget", "InterpTarget"]


class InterpTarget(Target):
    """Runs the tile IR with numpy, one program instance at a time."""

    name = "interp"
    pipeline_name = "interp"

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.interp import interpreter
        compiled.program = interpreter.prepare(compiled.function)

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        host, write_back = as_codes(compiled.spec.params,
                                    host_arrays(compiled, args, kernel, self.name))
        compiled.program.run(grid, host, kernel_name=kernel.name)
        write_back()


class EmulateTarget(Target):
    """Runs a GPU target's real lowering in the thread-level emulator."""

    pipeline_name = "gpu"

    def __init__(self, gpu: str) -> None:
        self.gpu = self.arch = gpu
        self.name = f"emulate:{gpu}"

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.emulator import emulator   # (imported when first used)
        compiled.program = emulator.prepare_threads(compiled.function)

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        host, write_back = as_packed(compiled.spec.params,
                                     host_arrays(compiled, args, kernel, self.name))
        compiled.program.run(grid, host, kernel_name=kernel.name)
        write_back()
