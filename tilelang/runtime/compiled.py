"""A kernel compiled for one specialization and target: its IR and artifacts.

What a ``Target`` produces, the disk cache stores and rebuilds, and a launch runs
(``program``: the interpreter's or emulator's prepared kernel, or a launch plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tilelang.ir.values import Function, Module

__all__ = ["CompiledKernel"]


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
