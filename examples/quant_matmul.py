"""Weight-only quantized GEMM, W*A16: C = A @ dequant(W), one kernel for every weight type.

A is bf16 [M, K]. W [K, N] is a tensor of a low-bit type, packed (``tl.pack``;
docs/lowbit.md): unsigned or signed integers of 1 to 8 bits (``tl.uint(3)``,
``tl.int(4)``) or small floats (``tl.float(2, 1)`` = fp4 e2m1, ``tl.f6e3m2``,
``tl.f8e4m3``). Each group of ``GROUP`` rows of K has a bf16 scale and zero point
per column: ``W'[k, n] = (W[k, n] - Z[k // GROUP, n]) * S[k // GROUP, n]`` (S, Z
bf16 [K / GROUP, N]; Z is 0 for signed and float weights).

The kernel source does not name the weight type: it is W's dtype, so one source
specializes to each. ``tl.load`` of a (BK, BN) window of W reads each thread's
bytes of the packed planes with wide loads and unpacks them with shifts and
masks; ``.to(tl.f32)`` decodes the codes with integer bit tricks (no tables, no
per-element loops); the weights are scaled, rounded to bf16 and fed to the
tensor cores (mma.sync, wgmma or MFMA by target) with f32 accumulation in a
``tl.pipeline`` loop. A goes through shared memory like any dot operand.

Tolerance: the dequantized weights are exact in f32; rounding them to bf16
before the dot (2**-9 relative) and the bf16 output bound the error; we allow
1e-2 of max |reference|. K is a multiple of GROUP, N a multiple of 8 (a packed
row is whole bytes); M is any size.

    python examples/quant_matmul.py [--types u4 f4e2m1] [--M 300 --N 200 --K 256] [--target interp]
"""

from __future__ import annotations

import argparse
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import bf16, f32
from tilelang.ir import lowbit
from tilelang.ir.numpy_dtypes import to_numpy
from tilelang.ir.types import DTYPES_BY_NAME, DType

TOLERANCE = 1e-2


@tl.kernel(num_warps=4)
def quant_matmul(A: tl.Tensor, W: tl.Tensor, S: tl.Tensor, Z: tl.Tensor, C: tl.Tensor,
                 GROUP: tl.constexpr = 128, BM: tl.constexpr = 64, BN: tl.constexpr = 64,
                 BK: tl.constexpr = 64, STAGES: tl.constexpr = 2):
    tl.static_assert(GROUP % BK == 0, "BK: a block size dividing GROUP")
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for kt in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        k0 = kt * BK
        a = tl.load(A, (m0, k0), (BM, BK))
        q = tl.load(W, (k0, n0), (BK, BN)).to(f32)      # unpacked and decoded
        g = k0 // GROUP
        s = tl.load(S, (g, n0), (1, BN)).to(f32)
        z = tl.load(Z, (g, n0), (1, BN)).to(f32)
        acc = tl.dot(a, ((q - z) * s).to(bf16), acc)
    tl.store(C, (m0, n0), acc.to(C.dtype))


WEIGHT_TYPES = ("u2", "u3", "u4", "u8", "i4", "f4e2m1", "f6e3m2", "f8e4m3")


def weight_type(t: int | str | DType) -> DType:
    """A weight dtype from a width (unsigned: 4 -> tl.uint(4)), a name or a dtype."""
    if isinstance(t, DType):
        return t
    if isinstance(t, int):
        return tl.uint(t)
    return DTYPES_BY_NAME[t]


def quantize(w: np.ndarray, wtype: DType, group: int) -> tuple[np.ndarray, ...]:
    """w [K, N] quantized per group of rows: the weights' values q (float64), S, Z.
    Unsigned integers: min-max with a zero point; signed integers and floats:
    symmetric (absmax to the type's largest value), Z = 0."""
    k, n = w.shape
    g = w.reshape(k // group, group, n)
    if wtype.is_int and not wtype.is_signed:
        lo, hi = g.min(axis=1), g.max(axis=1)
        top = (1 << wtype.bits) - 1
        s = (np.maximum(hi - lo, 1e-6) / top).astype(ml_dtypes.bfloat16)
        z = np.clip(np.round(-lo / s.astype(np.float64)), 0, top).astype(ml_dtypes.bfloat16)
        q = np.clip(np.round(g / s.astype(np.float64)[:, None] + z.astype(np.float64)[:, None]),
                    0, top)
        return q.reshape(k, n), s, z
    if wtype.is_int:
        top = float(lowbit.int_range(wtype)[1]) if wtype.is_lowbit else 127.0
    else:
        top = float(lowbit.decode(lowbit.max_code(wtype), wtype))
    s = (np.maximum(np.abs(g).max(axis=1), 1e-6) / top).astype(ml_dtypes.bfloat16)
    x = g / s.astype(np.float64)[:, None]
    q = np.clip(np.round(x), -top - 1, top) if wtype.is_int else lowbit.quantize(x, wtype)
    return q.reshape(k, n), s, np.zeros_like(s)


def store_weights(q: np.ndarray, wtype: DType) -> tl.PackedArray | np.ndarray:
    """The weight tensor W: packed for a low-bit type, else a plain numpy array."""
    if wtype.is_lowbit:
        return tl.pack(q, wtype)
    return q.astype(to_numpy(wtype))


def dequantize(q: np.ndarray, s: np.ndarray, z: np.ndarray, group: int) -> np.ndarray:
    """float64 W' from the weights' values q, S, Z."""
    rows = np.arange(q.shape[0]) // group
    return (q - z.astype(np.float64)[rows]) * s.astype(np.float64)[rows]


def make_problem(M: int, N: int, K: int, wtype: int | str | DType, group: int, seed: int = 0):
    """A, W, S, Z and the weights' values q for a random A and a random quantized W."""
    wtype = weight_type(wtype)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    q, s, z = quantize(rng.standard_normal((K, N)), wtype, group)
    return a, store_weights(q, wtype), s, z, q


def run(target: str | None = "interp", wtype: int | str | DType = "u4", M: int = 300,
        N: int = 200, K: int = 256, group: int = 128, BM: int = 64, BN: int = 64,
        BK: int = 64) -> tuple[float, bool]:
    """C for a random A and quantized random W; (relative max error, ok)."""
    a, w, s, z, q = make_problem(M, N, K, wtype, group)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    quant_matmul[(tl.cdiv(M, BM), tl.cdiv(N, BN))].with_host_arrays(
        a, w, s, z, c, GROUP=group, BM=BM, BN=BN, BK=BK, target=target)
    ref = a.astype(np.float64) @ dequantize(q, s, z, group)
    err = float(np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


TUNE_SPACE = dict(BM=[32, 64, 128], BN=[64, 128], BK=[32, 64], STAGES=[2, 3],
                  num_warps=[4, 8])


def tune_inputs(M: int = 256, N: int = 256, K: int = 256, wtype: int | str = "u4",
                group: int = 128) -> dict:
    """Inputs of ``tilelang tune examples/quant_matmul.py:quant_matmul --sizes ...``."""
    a, w, s, z, q = make_problem(M, N, K, wtype, group)
    ref = a.astype(np.float64) @ dequantize(q, s, z, group)
    return dict(args=(a, w, s, z, np.zeros((M, N), ml_dtypes.bfloat16)),
                kwargs=dict(GROUP=group),
                grid=lambda meta: (tl.cdiv(M, meta["BM"]), tl.cdiv(N, meta["BN"])),
                reference=lambda **inputs: ref, rtol=0.0,
                atol=TOLERANCE * float(np.max(np.abs(ref))))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", nargs="*", default=["u2", "u3", "u4", "u8", "i4", "f4e2m1"],
                    help=f"weight types, of {', '.join(WEIGHT_TYPES)} (or any low-bit name)")
    ap.add_argument("--M", type=int, default=300)
    ap.add_argument("--N", type=int, default=200)
    ap.add_argument("--K", type=int, default=256)
    ap.add_argument("--target", default="interp")
    args = ap.parse_args()
    ok_all = True
    for name in args.types:
        err, ok = run(args.target, name, args.M, args.N, args.K)
        ok_all &= ok
        print(f"quant_matmul W[{name}]A16 M={args.M} N={args.N} K={args.K} on {args.target!r}: "
              f"max relative error {err:.2e} (tolerance {TOLERANCE:.0e}) "
              f"{'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok_all else 1)
