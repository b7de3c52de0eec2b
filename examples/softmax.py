"""Row softmax: Y[i, :] = exp(X[i, :] - max X[i, :]) / sum exp(X[i, :] - max X[i, :]).

Each program instance normalizes BM whole rows; BN is the row length rounded up
to a power of two. Columns past the end are loaded as -inf so that they add
exp(-inf) = 0 to the sum. Math is done in f32 whatever the storage dtype. A row
must fit in one tile (very long rows need an online softmax, see flash_attention.py).

Tolerances, as max |y - ref| / max |ref| against a float64 reference computed
from the same (rounded) inputs: f32 1e-5, bf16 2e-2 (bf16 keeps 8 significant
bits, so storing the output alone costs up to 2**-9 relative).
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
def softmax(X: tl.Tensor, Y: tl.Tensor, BM: tl.constexpr = 4, BN: tl.constexpr = 1024):
    m0 = tl.program_id(0) * BM
    x = tl.load(X, (m0, 0), (BM, BN), other=float("-inf")).to(f32)
    x = x - tl.max(x, 1)[:, None]
    e = tl.exp(x)
    y = e / tl.sum(e, 1)[:, None]
    tl.store(Y, (m0, 0), y.to(Y.dtype))


def reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run(target: str | None = "interp", M: int = 100, N: int = 300, dtype: str = "float32",
        BM: int = 4) -> tuple[float, bool]:
    """Softmax of a random M x N matrix; returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((M, N))).astype(DTYPES[dtype])
    y = np.zeros((M, N), DTYPES[dtype])
    BN = 1 << (N - 1).bit_length()  # the whole row in one tile
    softmax[(tl.cdiv(M, BM),)].with_host_arrays(x, y, BM=BM, BN=BN, target=target)
    ref = reference(x)
    err = float(np.max(np.abs(y.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE[dtype]


if __name__ == "__main__":
    ok_all = True
    for dt in DTYPES:
        err, ok = run(dtype=dt)
        ok_all &= ok
        print(f"softmax 100x300 {dt}: max relative error {err:.2e} "
              f"(tolerance {TOLERANCE[dt]:.0e}) {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
