"""KernelBench in tilelang: correctness of every problem on a target, and speed on a GPU.

    python benchmarks/kernelbench/run.py --level 1 --target interp
    python benchmarks/kernelbench/run.py --level 1 --target emulate:sm_80 --only 19 23
    python benchmarks/kernelbench/run.py --level 1 --target sm_90a --json results.json

One line per problem (``ok``, ``WRONG`` with the error, ``ERROR`` with the exception,
or ``not written`` with the language gap), then ``N/M correct``. CPU targets (interp,
emulate:*) run at each problem's CPU sizes; GPU targets at the real sizes, where each
problem is also timed against its torch eager ops in this process (CUDA events,
median of ``--reps`` after ``--warmup``), and the last lines give the speedups and
fast_0 / fast_1 / fast_2: the share of problems correct and faster than eager
(speedup > 0, i.e. correct at all; > 1; > 2), as KernelBench defines fast_p.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):   # run as a script: make `benchmarks.kernelbench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.kernelbench import problems
from benchmarks.kernelbench.common import rel_error, to_host

CPU_TARGETS = ("interp", "emulate")


def is_cpu_target(target: str) -> bool:
    return target.startswith(CPU_TARGETS)


def to_device(inputs: list) -> list:
    """The inputs as torch CUDA tensors (scalars stay Python numbers)."""
    import torch
    return [torch.from_numpy(np.ascontiguousarray(x)).cuda() if isinstance(x, np.ndarray) else x
            for x in inputs]


def cuda_time_ms(fn: Any, warmup: int, reps: int) -> float:
    """Median wall time of ``fn()`` on the current CUDA stream, in milliseconds."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return float(np.median(times))


def check_problem(level: int, name: str, target: str, sizes_kind: str | None = None,
                  time_it: bool = False, warmup: int = 3, reps: int = 10) -> dict:
    """Run one problem on ``target``; returns its record (status, error, tolerance, times)."""
    rec: dict[str, Any] = {"problem": name, "target": target}
    mod = problems.load(level, name)
    if mod is None:
        rec.update(status="not written", gap=problems.GAPS.get(problems.number(name), ""))
        return rec
    kind = sizes_kind or ("cpu" if is_cpu_target(target) else "real")
    sizes = mod.CPU_SIZES if kind == "cpu" else mod.SIZES
    rec["sizes"] = sizes
    try:
        inputs = mod.make_inputs(sizes, np.random.default_rng(0))
        ref = mod.reference(inputs)
        dev = inputs if is_cpu_target(target) else to_device(inputs)
        t0 = time.perf_counter()
        out = mod.run(dev, target)
        rec["run_s"] = time.perf_counter() - t0
        err, tol = rel_error(to_host(out), ref), mod.tolerance(sizes)
        rec.update(error=err, tolerance=tol, status="ok" if err <= tol else "WRONG")
        if time_it and rec["status"] == "ok":
            rec["tilelang_ms"] = cuda_time_ms(lambda: mod.run(dev, target), warmup, reps)
            rec["eager_ms"] = cuda_time_ms(lambda: mod.torch_eager(dev), warmup, reps)
            rec["speedup"] = rec["eager_ms"] / rec["tilelang_ms"]
    except Exception as exc:  # a failing problem is reported, and the others still run
        rec.update(status="ERROR", exception=f"{type(exc).__name__}: {exc}".splitlines()[0],
                   traceback=traceback.format_exc())
    return rec


def line(rec: dict) -> str:
    s = f"{rec['problem']:<60} {rec['status']}"
    if rec["status"] in ("ok", "WRONG"):
        s += f"  err {rec['error']:.2e} (tol {rec['tolerance']:.1e})"
    if "speedup" in rec:
        s += (f"  tilelang {rec['tilelang_ms']:.3f} ms  eager {rec['eager_ms']:.3f} ms  "
              f"speedup {rec['speedup']:.2f}x")
    if rec["status"] == "ERROR":
        s += f"  {rec['exception']}"
    if rec["status"] == "not written":
        s += f"  (language gap: {rec['gap']})"
    return s


def fast_p(records: list[dict], p: float) -> float:
    """KernelBench's fast_p: the share of problems correct and more than p times faster."""
    good = [r for r in records if r["status"] == "ok" and (p == 0 or r.get("speedup", 0) > p)]
    return len(good) / max(len(records), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", type=int, default=1)
    ap.add_argument("--target", default="interp",
                    help="interp, emulate:sm_80, emulate:sm_90a, emulate:gfx942, sm_80, sm_90a...")
    ap.add_argument("--only", nargs="*", help="problem numbers or names")
    ap.add_argument("--sizes", choices=["cpu", "real"], default=None,
                    help="default: cpu on CPU targets, real on GPUs")
    ap.add_argument("--json", type=Path, help="write every record to this file")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    gpu = not is_cpu_target(args.target)
    records = []
    for name in problems.select(args.level, args.only):
        rec = check_problem(args.level, name, args.target, args.sizes, time_it=gpu,
                            warmup=args.warmup, reps=args.reps)
        records.append(rec)
        print(line(rec), flush=True)
    correct = sum(r["status"] == "ok" for r in records)
    if gpu:
        speedups = [r["speedup"] for r in records if "speedup" in r]
        if speedups:
            geo = float(np.exp(np.mean(np.log(speedups))))
            print(f"speedup over torch eager: geometric mean {geo:.2f}x over {len(speedups)}")
        print(f"fast_0 {fast_p(records, 0):.2f}  fast_1 {fast_p(records, 1):.2f}  "
              f"fast_2 {fast_p(records, 2):.2f}")
    print(f"{correct}/{len(records)} correct")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, default=str))
    return 0 if correct == len(records) else 1


if __name__ == "__main__":
    sys.exit(main())
