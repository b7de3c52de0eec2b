"""Vector addition: the smallest tilelang kernel.

Each program instance adds one BLOCK-long window of X and Y into Z. The length
need not be a multiple of BLOCK: ``tl.load`` reads 0 outside the tensor and
``tl.store`` skips elements outside it, so the last window needs no mask.

Tolerance: f32 addition is correctly rounded, so the error relative to the
float64 reference (max |z - ref| / max |ref|) is below 2**-24; we allow 1e-5.
"""

from __future__ import annotations

import sys

import numpy as np

import tilelang as tl

TOLERANCE = 1e-5  # f32, relative to max |reference|


@tl.kernel
def vector_add(X: tl.Tensor, Y: tl.Tensor, Z: tl.Tensor, BLOCK: tl.constexpr = 1024):
    off = tl.program_id(0) * BLOCK
    x = tl.load(X, (off,), (BLOCK,))
    y = tl.load(Y, (off,), (BLOCK,))
    tl.store(Z, (off,), x + y)


def reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) + y.astype(np.float64)


def run(target: str | None = "interp", n: int = 10_000, BLOCK: int = 1024) -> tuple[float, bool]:
    """Add two random f32 vectors of length ``n``; returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    z = np.zeros(n, np.float32)
    vector_add[(tl.cdiv(n, BLOCK),)].with_host_arrays(x, y, z, BLOCK=BLOCK, target=target)
    ref = reference(x, y)
    err = float(np.max(np.abs(z - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


if __name__ == "__main__":
    err, ok = run()
    print(f"vector_add n=10000: max relative error {err:.2e} (tolerance {TOLERANCE:.0e}) "
          f"{'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
