"""Kernels the torch-op tests register (module level: the tracer reads their source)."""

from __future__ import annotations

import tilelang as tl


@tl.kernel
def add(X: tl.Tensor, Y: tl.Tensor, Z: tl.Tensor, BLOCK: tl.constexpr = 256):
    off = tl.program_id(0) * BLOCK
    tl.store(Z, (off,), tl.load(X, (off,), (BLOCK,)) + tl.load(Y, (off,), (BLOCK,)))


@tl.kernel
def mul(X: tl.Tensor, Y: tl.Tensor, Z: tl.Tensor, BLOCK: tl.constexpr = 256):
    off = tl.program_id(0) * BLOCK
    tl.store(Z, (off,), tl.load(X, (off,), (BLOCK,)) * tl.load(Y, (off,), (BLOCK,)))


@tl.kernel
def axpy(X: tl.Tensor, Y: tl.Tensor, alpha: float, Z: tl.Tensor, BLOCK: tl.constexpr = 256):
    """Z = alpha * X + Y."""
    off = tl.program_id(0) * BLOCK
    tl.store(Z, (off,), alpha * tl.load(X, (off,), (BLOCK,)) + tl.load(Y, (off,), (BLOCK,)))


@tl.kernel
def scale_backward(DZ: tl.Tensor, alpha: float, DX: tl.Tensor, BLOCK: tl.constexpr = 256):
    """The backward of axpy for X: DX = alpha * DZ."""
    off = tl.program_id(0) * BLOCK
    tl.store(DX, (off,), alpha * tl.load(DZ, (off,), (BLOCK,)))


@tl.kernel
def untyped_scalar(X: tl.Tensor, Z: tl.Tensor, s, BLOCK: tl.constexpr = 256):
    off = tl.program_id(0) * BLOCK
    tl.store(Z, (off,), tl.load(X, (off,), (BLOCK,)) * s)
