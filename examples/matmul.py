"""Matrix multiplication C = A @ B: bf16 inputs, f32 accumulation, bf16 output.

Program (i, j) computes the (BM, BN) tile of C at rows i*BM.., columns j*BN..
by walking K in steps of BK. The loop is a ``tl.pipeline``: on GPUs the
compiler overlaps the loads of the next STAGES-1 steps with the current
``tl.dot``; its meaning is that of a plain loop. M, N and K need not be
multiples of the tile: windows past the edge load zeros (which add nothing to
the dot product) and the store skips elements outside C.

Tolerance: the inputs are exact bf16 values and the products accumulate in
f32, so nearly all the error is the final rounding of C to bf16 (2**-9
relative). We compare max |c - ref| / max |ref| with the float64 reference
and allow 1e-2.

    python examples/matmul.py [--M 500 --N 300 --K 200] [--target interp]
"""

from __future__ import annotations

import argparse
import sys

import ml_dtypes
import numpy as np

import tilelang as tl
from tilelang import f32

TOLERANCE = 1e-2  # bf16 output of f32 accumulation, relative to max |reference|


@tl.kernel(num_warps=8)
def matmul(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor,
           BM: tl.constexpr = 128, BN: tl.constexpr = 128, BK: tl.constexpr = 32,
           STAGES: tl.constexpr = 3):
    K = A.shape[1]
    m0 = tl.program_id(0) * BM
    n0 = tl.program_id(1) * BN
    acc = tl.zeros((BM, BN), f32)
    for k in tl.pipeline(tl.cdiv(K, BK), stages=STAGES):
        a = tl.load(A, (m0, k * BK), (BM, BK))
        b = tl.load(B, (k * BK, n0), (BK, BN))
        acc = tl.dot(a, b, acc)
    tl.store(C, (m0, n0), acc.to(C.dtype))


def reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) @ b.astype(np.float64)


def resolved_target(target: str | None) -> str:
    """The target a launch with ``target`` runs on (``None``: the current GPU, else interp)."""
    from tilelang.runtime.targets import resolve_target
    return resolve_target(target).name


def run(target: str | None = "interp", M: int = 500, N: int = 300, K: int = 200,
        BM: int = 64, BN: int = 64, BK: int = 32) -> tuple[float, bool]:
    """C = A @ B for random bf16 A (M x K) and B (K x N); returns (relative max error, ok)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.bfloat16)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    grid = (tl.cdiv(M, BM), tl.cdiv(N, BN))
    matmul[grid].with_host_arrays(a, b, c, BM=BM, BN=BN, BK=BK, target=target)
    ref = reference(a, b)
    err = float(np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)))
    return err, err <= TOLERANCE


TUNE_SPACE = dict(BM=[32, 64, 128], BN=[32, 64, 128], BK=[32, 64], STAGES=[2, 3],
                  num_warps=[4, 8])


def tune_inputs(M: int = 256, N: int = 256, K: int = 256) -> dict:
    """Inputs of ``tilelang tune examples/matmul.py:matmul --sizes M=..,N=..,K=..``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.bfloat16)
    ref = reference(a, b)
    return dict(args=(a, b, np.zeros((M, N), ml_dtypes.bfloat16)),
                grid=lambda meta: (tl.cdiv(M, meta["BM"]), tl.cdiv(N, meta["BN"])),
                reference=lambda A, B, C: ref, rtol=0.0,
                atol=TOLERANCE * float(np.max(np.abs(ref))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--M", type=int, default=500)
    p.add_argument("--N", type=int, default=300)
    p.add_argument("--K", type=int, default=200)
    p.add_argument("--target", default=None,
                   help="interp, sm_80, ... (default: the current GPU, else interp)")
    args = p.parse_args(argv)
    target = resolved_target(args.target)
    err, ok = run(target, args.M, args.N, args.K)
    print(f"matmul bf16 M={args.M} N={args.N} K={args.K} on target '{target}': "
          f"max relative error {err:.2e} (tolerance {TOLERANCE:.0e}) "
          f"{'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
