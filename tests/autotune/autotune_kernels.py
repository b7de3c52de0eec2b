"""Kernels for the autotuner's tests (a plain module file: sweep workers re-import it)."""

from __future__ import annotations

import numpy as np

import tilelang as tl


@tl.kernel
def scale(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 16, F: tl.constexpr = 2):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)) * F)


def scale_reference(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """What ``scale`` computes when F = 2."""
    return X * 2


def scale_grid(n: int):
    """The grid of ``scale`` over ``n`` elements, as a function of the config."""
    return lambda meta: (tl.cdiv(n, meta["BLOCK"]),)


class PidBenchmarker:
    """A benchmarker that reports the process it ran in as its one timing (so a test
    sees where a Ray sweep timed each candidate); picklable, as Ray ships it."""

    kind = "emulator"

    def device(self, target: str) -> str:
        return target

    def measure(self, run, make_args):
        import os
        from tilelang.autotune.bench import Measurement
        run(make_args())
        return Measurement(1.0, (float(os.getpid()),))
