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

    ``warp_size`` is the lanes that run warp-collective ops together (a CDNA
    wavefront is 64); ``num_warps`` counts such warps, so a block has
    ``num_warps * warp_size`` threads. ``mfma_shapes`` lists the CDNA matrix
    instructions ``tl.dot`` may use (``th.mfma`` shapes, preferred first; empty on
    NVIDIA, where ``mma.sync`` is used). ``vector_bytes`` is the widest single
    global or shared access. ``has_cp_async`` / ``has_ldmatrix``: whether the
    lowering may emit ``th.cp_async*`` / ``th.ldmatrix`` (NVIDIA only). ``has_tma``:
    whether pipelined tile copies may be TMA loads on mbarriers (``pipeline-tma``).
    """

    name: str
    vendor: str  # "nvidia" | "amd"
    max_shared_bytes: int
    num_sms: int = 0
    max_threads_per_sm: int = 2048
    regs_per_sm: int = 65536
    warp_size: int = 32
    mfma_shapes: tuple[str, ...] = ()
    vector_bytes: int = 16
    has_cp_async: bool = True
    has_ldmatrix: bool = True
    mma: str = "mma.sync"   # NVIDIA tensor-core instruction for tl.dot: "mma.sync" | "wgmma"
    has_tma: bool = False


ARCHS: dict[str, GpuArch] = {a.name: a for a in (
    GpuArch("sm_80", "nvidia", 163 * 1024, num_sms=108),   # A100: 164 KiB per SM, 1 reserved
    # H100 SXM: 228 KiB, 1 reserved; tl.dot on warpgroup MMA (lower_wgmma)
    GpuArch("sm_90a", "nvidia", 227 * 1024, num_sms=132, mma="wgmma", has_tma=True),
    # CDNA2 / CDNA3: 64 KiB of LDS per workgroup, wave64, MFMA f32 <- f16/bf16
    # (bf16 through the *_1k forms), 16-byte global (dwordx4) and LDS (ds_read_b128) accesses
    GpuArch("gfx90a", "amd", 64 * 1024, warp_size=64, mfma_shapes=("32x32x8", "16x16x16"),
            has_cp_async=False, has_ldmatrix=False),    # MI200
    GpuArch("gfx942", "amd", 64 * 1024, warp_size=64, mfma_shapes=("32x32x8", "16x16x16"),
            has_cp_async=False, has_ldmatrix=False),    # MI300
)}

NVIDIA_ARCHS: tuple[str, ...] = tuple(n for n, a in ARCHS.items() if a.vendor == "nvidia")
AMD_ARCHS: tuple[str, ...] = tuple(n for n, a in ARCHS.items() if a.vendor == "amd")


def max_shared_bytes(arch: str) -> int:
    """The per-block shared-memory limit of ``arch`` (a ``KeyError`` for an unknown name)."""
    return ARCHS[arch].max_shared_bytes


def warp_size(arch: str) -> int:
    """The lanes per warp (wavefront) of ``arch`` (a ``KeyError`` for an unknown name)."""
    return ARCHS[arch].warp_size


__all__ = ["AMD_ARCHS", "ARCHS", "GpuArch", "NVIDIA_ARCHS", "max_shared_bytes", "warp_size"]
