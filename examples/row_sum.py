"""Row sums with atomics: OUT[i] = sum_j X[i, j].

The grid is 2-D: program (i, j) sums the (BM, BN) block of X at rows
i*BM.., columns j*BN.. along its columns and adds the BM partial sums into OUT
with ``tl.atomic_add``, so several programs contribute to each row. OUT must
start at zero. Blocks hanging over the edge of X read zeros, and the atomic
add skips rows past the end of OUT.

Tolerance: f32 partial sums added in an unspecified order; relative to the
float64 reference (max |out - ref| / max |ref|) we allow 1e-5.
"""

from __future__ import annotations

import sys

import numpy as np

import tilelang as tl

TOLERANCE = 1e-5  # f32, relative to max |reference|


@tl.kernel
def row_sum(X: tl.Tensor, OUT: tl.Tensor, BM: tl.constexpr = 32, BN: tl.constexpr = 64):
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    x = tl.load(X, (m0, n0), (BM, BN))
    tl.atomic_add(OUT, (m0,), tl.sum(x, 1))


def reference(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64).sum(axis=1)


def run(target: str | None = "interp", M: int = 100, N: int = 300, BM: int = 32,
        BN: int = 64) -> tuple[float, bool]:
    """Row sums of a random f32 M x N matrix; returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.zeros(M, np.float32)
    row_sum[(tl.cdiv(M, BM), tl.cdiv(N, BN))].with_host_arrays(x, out, BM=BM, BN=BN, target=target)
    ref = reference(x)
    err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


if __name__ == "__main__":
    err, ok = run()
    print(f"row_sum 100x300: max relative error {err:.2e} (tolerance {TOLERANCE:.0e}) "
          f"{'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
