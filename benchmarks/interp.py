"""Wall time of the reference interpreter (``target="interp"``) on the example kernels.

For each case, on fresh copies of the kernel (no frontend cache helps): the
trace time (Python source to tile IR) and the whole interp compile (trace +
passes + interpreter preparation), each the best of three; one warm-up launch
(which also compiles) and the best of three launches after it; then the error
against the float64 reference. Target: each launch under 2 s on a 2-core
machine. The process's very first compile also pays one-time costs (imports,
first use of the passes), reported on its own line.

    python benchmarks/interp.py
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import ml_dtypes
import numpy as np

import tilelang as tl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET_S = 2.0


def load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"tilelang_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` takes, with the garbage collector paused (as ``timeit`` does)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def measure(kernel: tl.Kernel, signature: str, constexprs: dict[str, Any], grid: tuple,
            args: tuple) -> dict[str, float]:
    """Times of a fresh copy of ``kernel`` (so that no cache of the frontend helps)."""
    from tilelang.frontend.signature import parse_signature

    def fresh() -> tl.Kernel:
        return tl.kernel(kernel.fn, num_warps=kernel.num_warps)

    def trace_time() -> float:
        k = fresh()
        spec = k.make_specialization(parse_signature(k, signature), dict(constexprs))
        return timed(lambda: k.trace(spec))

    def compile_time() -> float:
        k = fresh()
        return timed(lambda: k.compile(signature, target="interp", **constexprs))

    trace_s = min(trace_time() for _ in range(3))
    compile_s = min(compile_time() for _ in range(3))
    launcher = fresh()[grid]
    first_s = timed(lambda: launcher(*args, target="interp", **constexprs))
    best_s = min(timed(lambda: launcher(*args, target="interp", **constexprs))
                 for _ in range(3))
    return {"trace": trace_s, "compile": compile_s, "first": first_s, "best": best_s}


def cases() -> list[tuple[str, Callable[[], dict[str, float]]]]:
    rng = np.random.default_rng(0)
    bf16 = ml_dtypes.bfloat16
    mm = load_example("matmul")
    fa = load_example("flash_attention")

    def matmul() -> dict[str, float]:
        M = N = K = 512
        a = rng.standard_normal((M, K)).astype(bf16)
        b = rng.standard_normal((K, N)).astype(bf16)
        c = np.zeros((M, N), bf16)
        cx = {"BM": 64, "BN": 64, "BK": 32}
        r = measure(mm.matmul, "A=bf16[2],B=bf16[2],C=bf16[2]", cx,
                    (tl.cdiv(M, 64), tl.cdiv(N, 64)), (a, b, c))
        ref = mm.reference(a, b)
        r["error"] = float(np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)))
        r["ok"] = r["error"] <= mm.TOLERANCE
        return r

    def attention(causal: bool) -> Callable[[], dict[str, float]]:
        def f() -> dict[str, float]:
            Z, H, S, D = 1, 2, 512, 64
            q, k, v = (rng.standard_normal((Z, H, S, D)).astype(bf16) for _ in range(3))
            o = np.zeros((Z, H, S, D), bf16)
            cx = {"HEAD_DIM": D, "CAUSAL": causal, "BM": 64, "BN": 64}
            r = measure(fa.flash_attention,
                        "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", cx,
                        (tl.cdiv(S, 64), Z * H), (q, k, v, o, 1 / math.sqrt(D)))
            ref = fa.reference(q, k, v, 1 / math.sqrt(D), causal)
            r["error"] = float(np.max(np.abs(o.astype(np.float64) - ref)) / np.max(np.abs(ref)))
            r["ok"] = r["error"] <= fa.TOLERANCE
            return r
        return f

    return [
        ("matmul bf16 512x512x512, tiles 64x64x32", matmul),
        ("flash attention 1x2x512x64, non-causal", attention(False)),
        ("flash attention 1x2x512x64, causal", attention(True)),
    ]


def main() -> int:
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {platform.system()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    cold = timed(lambda: load_example("vector_add").vector_add.compile(
        "X=f32[1],Y=f32[1],Z=f32[1]", target="interp"))
    print(f"first compile in this process (vector_add, with one-time imports): "
          f"{cold * 1e3:.1f}ms")
    header = (f"{'case':<42} {'trace':>8} {'compile':>8} {'1st launch':>11} {'best of 3':>10}"
              f" {'rel. error':>11}")
    print(header)
    print("-" * len(header))
    slow: list[str] = []
    failed = False
    for name, fn in cases():
        r = fn()
        print(f"{name:<42} {r['trace'] * 1e3:>6.1f}ms {r['compile'] * 1e3:>6.1f}ms "
              f"{r['first']:>10.3f}s {r['best']:>9.3f}s {r['error']:>8.1e} "
              f"{'OK' if r['ok'] else 'WRONG'}")
        if r["best"] > TARGET_S:
            slow.append(name)
        failed |= not r["ok"]
    print(f"target: each launch under {TARGET_S:.0f} s on a 2-core machine: "
          + ("met" if not slow else f"MISSED by {', '.join(slow)}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
