"""Weight-only quantized GEMM, W{BITS}A16: C = A @ dequant(W), one kernel for any width.

A is bf16 [M, K]. The weights are unsigned BITS-bit integers q (1 <= BITS <= 8)
with a scale and a zero point per group of ``GROUP`` rows of K and column:
``W[k, n] = (q[k, n] - Z[k // GROUP, n]) * S[k // GROUP, n]`` (S, Z bf16
[K / GROUP, N]; a symmetric quantization has Z = 2**(BITS-1)).

Storage is bit-sliced: ``QW`` is uint8 [BITS, K / 8, N] and bit j of
``QW[i, r, n]`` is bit i of q[8 r + j, n]. So BITS planes of K/8 bytes per
column hold exactly BITS bits per weight for every width (3, 5, 6 and 7
included), each plane is loaded as one wide (BK/8, BN) tile of bytes along N,
and unpacking is the same bit trick for every width: a byte row becomes eight
weight rows by a broadcast against the shifts 0..7 and a mask, and the planes
are or-ed in at their bit positions -- no per-element loops, no lookup tables.
The weights are then converted to bf16 in registers, scaled, and fed to the
tensor cores with f32 accumulation in a ``tl.pipeline`` loop: A is staged
through shared memory (cp.async or TMA) like any dot operand, the byte planes
are read by each thread straight into registers.

Tolerance: the dequantized weights are exact in f32; rounding them to bf16
before the dot (2**-9 relative) and the bf16 output bound the error; we allow
1e-2 of max |reference|. K is a multiple of GROUP (M and N are any sizes).

    python examples/quant_matmul.py [--bits 4] [--M 300 --N 200 --K 256] [--target interp]
"""

from __future__ import annotations

import argparse
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import bf16, f32, i32

TOLERANCE = 1e-2


@tl.kernel(num_warps=4)
def quant_matmul(A: tl.Tensor, QW: tl.Tensor, S: tl.Tensor, Z: tl.Tensor, C: tl.Tensor,
                 BITS: tl.constexpr, GROUP: tl.constexpr = 128, BM: tl.constexpr = 64,
                 BN: tl.constexpr = 64, BK: tl.constexpr = 64, STAGES: tl.constexpr = 2):
    tl.static_assert(BK % 8 == 0 and GROUP % BK == 0, "BK: a multiple of 8 dividing GROUP")
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    shifts = tl.arange(8)[None, :, None]                 # bit j of a byte: row 8 r + j
    acc = tl.zeros((BM, BN), f32)
    for kt in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        k0 = kt * BK
        a = tl.load(A, (m0, k0), (BM, BK))
        q = tl.zeros((BK, BN), i32)
        for i in range(BITS):                             # one plane per bit
            plane = tl.load(QW, (i, k0 // 8, n0), (1, BK // 8, BN)).reshape((BK // 8, 1, BN))
            bits = (plane.to(i32) >> shifts) & 1          # (BK/8, 8, BN)
            q = q | (bits.reshape((BK, BN)) << i)
        g = k0 // GROUP
        s = tl.load(S, (g, n0), (1, BN)).to(f32)
        z = tl.load(Z, (g, n0), (1, BN)).to(f32)
        w = ((q.to(f32) - z) * s).to(bf16)
        acc = tl.dot(a, w, acc)
    tl.store(C, (m0, n0), acc.to(C.dtype))


def pack(q: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit integers q [K, N] (K a multiple of 8) as bit planes
    [bits, K / 8, N] of uint8 (see the module docstring)."""
    k, n = q.shape
    assert k % 8 == 0 and q.min() >= 0 and q.max() < (1 << bits)
    planes = (q[None].astype(np.uint8) >> np.arange(bits, dtype=np.uint8)[:, None, None]) & 1
    rows = planes.reshape(bits, k // 8, 8, n)
    return (rows << np.arange(8, dtype=np.uint8)[None, None, :, None]).sum(axis=2,
                                                                        dtype=np.uint8)


def unpack(qw: np.ndarray) -> np.ndarray:
    """The inverse of ``pack``."""
    bits, r, n = qw.shape
    rows = (qw[:, :, None, :] >> np.arange(8, dtype=np.uint8)[None, None, :, None]) & 1
    planes = rows.reshape(bits, r * 8, n).astype(np.int32)
    return (planes << np.arange(bits)[:, None, None]).sum(axis=0)


def quantize(w: np.ndarray, bits: int, group: int) -> tuple[np.ndarray, ...]:
    """Asymmetric min-max quantization of w [K, N] per group of rows: q, S, Z."""
    k, n = w.shape
    g = w.reshape(k // group, group, n)
    lo, hi = g.min(axis=1), g.max(axis=1)
    top = (1 << bits) - 1
    scale = np.maximum(hi - lo, 1e-6) / top
    s = scale.astype(ml_dtypes.bfloat16)
    z = np.clip(np.round(-lo / s.astype(np.float64)), 0, top).astype(ml_dtypes.bfloat16)
    q = np.clip(np.round(g / s.astype(np.float64)[:, None] + z.astype(np.float64)[:, None]),
                0, top).astype(np.int32).reshape(k, n)
    return q, s, z


def dequantize(q: np.ndarray, s: np.ndarray, z: np.ndarray, group: int) -> np.ndarray:
    """float64 W from q, S, Z."""
    rows = np.arange(q.shape[0]) // group
    return (q - z.astype(np.float64)[rows]) * s.astype(np.float64)[rows]


def make_problem(M: int, N: int, K: int, bits: int, group: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    q, s, z = quantize(rng.standard_normal((K, N)), bits, group)
    return a, pack(q, bits), s, z, q


def run(target: str | None = "interp", bits: int = 4, M: int = 300, N: int = 200,
        K: int = 256, group: int = 128, BM: int = 64, BN: int = 64,
        BK: int = 64) -> tuple[float, bool]:
    """C for a random A and min-max quantized random W; (relative max error, ok)."""
    a, qw, s, z, q = make_problem(M, N, K, bits, group)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    quant_matmul[(tl.cdiv(M, BM), tl.cdiv(N, BN))].with_host_arrays(
        a, qw, s, z, c, BITS=bits, GROUP=group, BM=BM, BN=BN, BK=BK, target=target)
    ref = a.astype(np.float64) @ dequantize(q, s, z, group)
    err = float(np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


TUNE_SPACE = dict(BM=[32, 64, 128], BN=[64, 128], BK=[32, 64], STAGES=[2, 3],
                  num_warps=[4, 8])


def tune_inputs(M: int = 256, N: int = 256, K: int = 256, bits: int = 4,
                group: int = 128) -> dict:
    """Inputs of ``tilelang tune examples/quant_matmul.py:quant_matmul --sizes ...``."""
    a, qw, s, z, q = make_problem(M, N, K, bits, group)
    ref = a.astype(np.float64) @ dequantize(q, s, z, group)
    return dict(args=(a, qw, s, z, np.zeros((M, N), ml_dtypes.bfloat16)),
                kwargs=dict(BITS=bits, GROUP=group),
                grid=lambda meta: (tl.cdiv(M, meta["BM"]), tl.cdiv(N, meta["BN"])),
                reference=lambda **inputs: ref, rtol=0.0,
                atol=TOLERANCE * float(np.max(np.abs(ref))))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, nargs="*", default=[2, 3, 4, 8])
    ap.add_argument("--M", type=int, default=300)
    ap.add_argument("--N", type=int, default=200)
    ap.add_argument("--K", type=int, default=256)
    ap.add_argument("--target", default="interp")
    args = ap.parse_args()
    ok_all = True
    for b in args.bits:
        err, ok = run(args.target, b, args.M, args.N, args.K)
        ok_all &= ok
        print(f"quant_matmul W{b}A16 M={args.M} N={args.N} K={args.K} on {args.target!r}: "
              f"max relative error {err:.2e} (tolerance {TOLERANCE:.0e}) "
              f"{'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
