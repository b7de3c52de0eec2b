"""Facts about the GPU architectures tilelang targets, in one place for every layer.

The runtime's targets, the code generators and (through function attributes the
targets record before the pass pipeline runs) the passes all read these numbers
from here, so a limit is written down once. This module imports nothing of
tilelang, so any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuArch:
    """One GPU architecture as the compiler sees it.

    ``max_shared_bytes`` is the most shared memory (LDS on AMD) one block may use:
    on NVIDIA the opt-in maximum for dynamic shared memory, which is what a kernel
    gets when the launch asks for it.

    ``num_sms``, ``max_threads_per_sm`` and ``regs_per_sm`` size persistent kernels
    (one program per SM slot); ``num_sms`` is the full part's count (0: unknown) and
    a launch on a real device asks the device instead.
    """

    name: str
    vendor: str  # "nvidia" | "amd"
    max_shared_bytes: int
    num_sms: int = 0
    max_threads_per_sm: int = 2048
    regs_per_sm: int = 65536


ARCHS: dict[str, GpuArch] = {a.name: a for a in (
    GpuArch("sm_80", "nvidia", 163 * 1024, num_sms=108),   # A100: 164 KiB per SM, 1 reserved
    GpuArch("sm_90a", "nvidia", 227 * 1024, num_sms=132),  # H100 SXM: 228 KiB, 1 reserved
    GpuArch("gfx90a", "amd", 64 * 1024),       # MI200: 64 KiB of LDS per workgroup
    GpuArch("gfx942", "amd", 64 * 1024),       # MI300: 64 KiB of LDS per workgroup
)}

NVIDIA_ARCHS: tuple[str, ...] = tuple(n for n, a in ARCHS.items() if a.vendor == "nvidia")
AMD_ARCHS: tuple[str, ...] = tuple(n for n, a in ARCHS.items() if a.vendor == "amd")


def max_shared_bytes(arch: str) -> int:
    """The per-block shared-memory limit of ``arch`` (a ``KeyError`` for an unknown name)."""
    return ARCHS[arch].max_shared_bytes


__all__ = ["AMD_ARCHS", "ARCHS", "GpuArch", "NVIDIA_ARCHS", "max_shared_bytes"]
