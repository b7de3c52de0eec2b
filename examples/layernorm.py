"""LayerNorm forward: Y = (X - mean) / sqrt(var + eps) * W + B over each row of X.

Each program instance normalizes BM whole rows (BN is the row length rounded up
to a power of two). Columns past the end load as 0; they are masked out of the
variance with ``tl.where`` because ``x - mean`` is not 0 there. ``eps`` is a
runtime float argument, so changing it does not recompile. Statistics are
computed in f32 whatever the storage dtype. A row must fit in one tile (for very
long rows, loop over column blocks to accumulate the sums first).

Tolerances, as max |y - ref| / max |ref| against a float64 reference computed
from the same (rounded) inputs: f32 1e-5, bf16 2e-2.
"""

from __future__ import annotations

import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import f32

TOLERANCE = {"float32": 1e-5, "bfloat16": 2e-2}
DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}


@tl.kernel
def layernorm(X: tl.Tensor, W: tl.Tensor, B: tl.Tensor, Y: tl.Tensor, eps: float,
              BM: tl.constexpr = 4, BN: tl.constexpr = 1024):
    N = X.shape[1]
    m0 = tl.program_id(0) * BM
    x = tl.load(X, (m0, 0), (BM, BN)).to(f32)
    mean = tl.sum(x, 1) / N
    xc = tl.where(tl.arange(BN)[None, :] < N, x - mean[:, None], 0.0)
    rstd = tl.rsqrt(tl.sum(xc * xc, 1) / N + eps)
    w = tl.load(W, (0,), (BN,)).to(f32)
    b = tl.load(B, (0,), (BN,)).to(f32)
    y = xc * rstd[:, None] * w[None, :] + b[None, :]
    tl.store(Y, (m0, 0), y.to(Y.dtype))


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    x, w, b = (a.astype(np.float64) for a in (x, w, b))
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def run(target: str | None = "interp", M: int = 100, N: int = 300, dtype: str = "float32",
        eps: float = 1e-5, BM: int = 4) -> tuple[float, bool]:
    """LayerNorm of a random M x N matrix; returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    dt = DTYPES[dtype]
    x = (2 + 3 * rng.standard_normal((M, N))).astype(dt)
    w = rng.standard_normal(N).astype(dt)
    b = rng.standard_normal(N).astype(dt)
    y = np.zeros((M, N), dt)
    BN = 1 << (N - 1).bit_length()  # the whole row in one tile
    layernorm[(tl.cdiv(M, BM),)].with_host_arrays(x, w, b, y, eps, BM=BM, BN=BN, target=target)
    ref = reference(x, w, b, eps)
    err = float(np.max(np.abs(y.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE[dtype]


if __name__ == "__main__":
    ok_all = True
    for dt in DTYPES:
        err, ok = run(dtype=dt)
        ok_all &= ok
        print(f"layernorm 100x300 {dt}: max relative error {err:.2e} "
              f"(tolerance {TOLERANCE[dt]:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
