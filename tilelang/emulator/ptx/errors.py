"""Errors of the PTX interpreter."""

from __future__ import annotations

from tilelang.errors import KernelError


class PtxError(KernelError):
    """PTX the interpreter cannot run: text outside the supported grammar, an instruction
    it does not implement (named, never skipped), or a kernel that faulted while running
    (out-of-bounds or misaligned access, race, barrier deadlock, step limit)."""


__all__ = ["PtxError"]
