"""Dropout with counter-based random numbers: y = x * keep / (1 - p).

Each element draws ``tl.rand(seed, offset)`` at its flat index: Philox4x32-10
(Triton's and cuRAND's generator), so the mask depends only on the seed and
the position -- the same on every target, for any tile size and grid, and the
backward pass can regenerate it instead of storing it. An element is kept when
its uniform is at least ``p``.

The numpy reference implements Philox4x32-10 from its definition (checked
against Random123's known-answer vectors in the tests) and must give exactly
the same mask; the kept values are then ``x / (1 - p)`` rounded once, so we
require equality.

    python examples/dropout.py [--n 10000] [--p 0.3] [--target interp]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tilelang as tl

TOLERANCE = 0.0   # the same bits: the mask is exact, the scaling rounds once
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85


@tl.kernel(num_warps=4)
def dropout(X: tl.Tensor, Y: tl.Tensor, p: float, seed: int, BLOCK: tl.constexpr = 1024):
    start = tl.program_id(0) * BLOCK
    offsets = start + tl.arange(BLOCK)
    x = tl.load(X, (start,), (BLOCK,))
    keep = tl.rand(seed, offsets) >= p
    tl.store(Y, (start,), tl.where(keep, x / (1.0 - p), 0.0))


def philox4x32(counter: np.ndarray, key: tuple[int, int], rounds: int = 10) -> np.ndarray:
    """Philox4x32-``rounds`` of uint32 counters [4, n] under a 2-word key: [4, n]."""
    c = [counter[i].astype(np.uint64) for i in range(4)]
    k = [np.uint64(key[0]), np.uint64(key[1])]
    low = np.uint64(0xFFFFFFFF)
    for _ in range(rounds):
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k[0]) & low, p1 & low,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k[1]) & low, p0 & low]
        k = [(k[0] + np.uint64(W0)) & low, (k[1] + np.uint64(W1)) & low]
    return np.stack(c).astype(np.uint32)


def uniform(offsets: np.ndarray, seed: int) -> np.ndarray:
    """``tl.rand(seed, offsets)`` in numpy: the top 24 bits of the first word * 2**-24."""
    counter = np.zeros((4, offsets.size), np.uint32)
    counter[0] = offsets & 0xFFFFFFFF
    counter[1] = (offsets.astype(np.int64) >> 32) & 0xFFFFFFFF
    words = philox4x32(counter, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF))
    return (words[0] >> 8).astype(np.float32) * np.float32(2.0 ** -24)


def reference(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    keep = uniform(np.arange(x.size, dtype=np.int64), seed) >= np.float32(p)
    scale = np.float32(1.0) - np.float32(p)
    return np.where(keep, x / scale, np.float32(0.0)).astype(np.float32)


def run(target: str | None = "interp", n: int = 10000, p: float = 0.3, seed: int = 1234,
        BLOCK: int = 1024) -> tuple[float, bool]:
    """Dropout of random f32 data; returns (max abs difference, ok)."""
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    dropout[(tl.cdiv(n, BLOCK),)].with_host_arrays(x, y, p, seed, BLOCK=BLOCK, target=target)
    ref = reference(x, p, seed)
    err = float(np.max(np.abs(y - ref)))
    return err, err <= TOLERANCE and bool(np.isfinite(y).all())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--p", type=float, default=0.3)
    ap.add_argument("--target", default="interp")
    args = ap.parse_args()
    err, ok = run(args.target, args.n, args.p)
    x = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    kept = float(np.mean(reference(x, args.p, 1234) != 0))
    print(f"dropout n={args.n} p={args.p} on {args.target!r}: kept {kept:.3f}, max difference "
          f"from numpy's Philox {err:.1e} {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
