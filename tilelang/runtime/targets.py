"""Targets: what a kernel compiles for and how a compiled kernel runs.

Each target's class lives in its own module (``target.py`` the interface,
``cpu_targets.py``, ``nvidia_target.py``, ``amd_target.py``); this one names
them and picks the launch default.

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

from typing import Any

from tilelang.errors import LaunchError
from tilelang.hardware import AMD_ARCHS, NVIDIA_ARCHS
from tilelang.runtime import cuda_driver
from tilelang.runtime.amd_target import AmdTarget, detect_amd_target
from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.cpu_targets import EmulateTarget, InterpTarget
from tilelang.runtime.nvidia_target import NvidiaTarget
from tilelang.runtime.target import Target

__all__ = ["AMD_TARGETS", "GPU_TARGETS", "NVIDIA_TARGETS", "CompiledKernel", "Target",
           "detect_gpu_target", "get_target", "resolve_target"]

NVIDIA_TARGETS = NVIDIA_ARCHS
AMD_TARGETS = AMD_ARCHS
GPU_TARGETS = NVIDIA_TARGETS + AMD_TARGETS


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
    capability = (driver or cuda_driver.default_driver()).probe()
    found = None
    if capability is not None:
        found = "sm_90a" if capability == (9, 0) else ("sm_80" if capability >= (8, 0) else None)
    if found is None and driver is None:   # no NVIDIA GPU: an AMD one (gfx90a, gfx942)?
        found = detect_amd_target()
    if driver is None:
        _DETECTED[:] = [found]
        _DEFAULTS.clear()
    return found
