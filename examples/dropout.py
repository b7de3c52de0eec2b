"""Dropout with a counter-based random mask: Y = X * keep / (1 - p).

Each element draws its own uniform number with ``tl.rand(seed, offsets)``
(Philox4x32-10; the counter is the element's index), so the mask needs no
memory: the backward pass regenerates it from the same seed and offsets, and
the result does not depend on the block size, the grid or the target. An
element is kept where its uniform is ``> p``.

The check regenerates the mask with a numpy Philox (``philox_reference``) and
compares exactly: the mask bits are integer arithmetic, identical everywhere,
and ``x * (1 / (1 - p))`` is one correctly rounded f32 multiply, so the output
must equal the reference bit for bit (TOLERANCE is 0).
"""

from __future__ import annotations

import sys

import numpy as np

import tilelang as tl

TOLERANCE = 0.0  # exact: integer random bits and one rounded multiply

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)


@tl.kernel(num_warps=4)
def dropout(X: tl.Tensor, Y: tl.Tensor, p: float, seed: int, BLOCK: tl.constexpr = 1024):
    start = tl.program_id(0) * BLOCK
    x = tl.load(X, (start,), (BLOCK,))
    keep = tl.rand(seed, start + tl.arange(0, BLOCK)) > p
    scale = 1.0 / (1.0 - p)
    tl.store(Y, (start,), tl.where(keep, x * scale, 0.0))


def philox_reference(seed: int, counters: np.ndarray, rounds: int = 10) -> list[np.ndarray]:
    """Philox4x32-``rounds`` in numpy (key = the seed's two 32-bit words, counter =
    ``(counters, 0, 0, 0)``): the four u32 output words."""
    c = [counters.astype(np.uint32), *(np.zeros_like(counters, np.uint32) for _ in range(3))]
    k0, k1 = np.uint32(seed & 0xFFFFFFFF), np.uint32((seed >> 32) & 0xFFFFFFFF)
    for r in range(rounds):
        if r:
            k0, k1 = np.uint32((int(k0) + PHILOX_W[0]) & 0xFFFFFFFF), \
                np.uint32((int(k1) + PHILOX_W[1]) & 0xFFFFFFFF)
        p0 = c[0].astype(np.uint64) * np.uint64(PHILOX_M[0])
        p1 = c[2].astype(np.uint64) * np.uint64(PHILOX_M[1])
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), p0.astype(np.uint32)
        hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), p1.astype(np.uint32)
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def reference(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    bits = philox_reference(seed, np.arange(x.size, dtype=np.uint32))[0]
    u = (bits >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
    scale = np.float32(1.0) / (np.float32(1.0) - np.float32(p))
    return np.where(u > np.float32(p), x * scale, np.float32(0.0)).astype(np.float32)


def run(target: str | None = "interp", n: int = 10_000, p: float = 0.3, seed: int = 1234,
        BLOCK: int = 1024) -> tuple[float, bool]:
    """Dropout of a random f32 vector; returns (max |y - reference|, ok)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32) + 3.0   # no zeros: dropped is visible
    y = np.full(n, np.nan, np.float32)
    dropout[(tl.cdiv(n, BLOCK),)].with_host_arrays(x, y, p, seed, BLOCK=BLOCK, target=target)
    ref = reference(x, p, seed)
    err = float(np.max(np.abs(y.astype(np.float64) - ref)))
    kept = float(np.mean(y != 0))
    ok = err <= TOLERANCE and abs(kept - (1 - p)) < 0.05
    return err, ok


if __name__ == "__main__":
    err, ok = run()
    print(f"dropout n=10000 p=0.3: max |error| {err:.2e} (tolerance {TOLERANCE:.0e}) "
          f"{'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
