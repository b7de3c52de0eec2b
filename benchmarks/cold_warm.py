"""Cold vs warm compile: the first compile in a fresh process with an empty disk cache,
then the same compile in another fresh process that finds it in the cache.

    python benchmarks/cold_warm.py [--runs 3] [--targets sm_80 emulate:sm_80]

Each measurement is its own Python process (imports are timed apart and left out)
compiling ``examples/matmul.py`` at its defaults with 16-byte aligned bf16 arrays
(``kernel.compile(sig, target=...)``: no GPU needed). A cold run gets a new empty
``TILELANG_CACHE_DIR``; the warm run after it reuses that directory. Prints the
median of ``--runs`` pairs per target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGNATURE = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"

# Runs in the child: import first (not timed), then one compile.
CHILD = f"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {str(ROOT / 'examples')!r})
from matmul import matmul
from tilelang.runtime import cache
t1 = time.perf_counter()
compiled = matmul.compile({SIGNATURE!r}, target=sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "compile_s": t2 - t1,
                  "hit": type(compiled).__name__ != "CompiledKernel",
                  "entries": len(cache.entries())}}))
"""


def measure(target: str, cache_dir: str) -> dict:
    env = dict(os.environ, TILELANG_CACHE_DIR=cache_dir)
    env.pop("TILELANG_CACHE", None)
    out = subprocess.run([sys.executable, "-c", CHILD, target], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", nargs="+", default=["sm_80", "emulate:sm_80"])
    ap.add_argument("--json", default=None, help="also write the raw runs here")
    args = ap.parse_args()
    rows, raw = [], {}
    for target in args.targets:
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="tl-cold-warm-") as d:
                c = measure(target, d)
                w = measure(target, d)
            if c["hit"] or not w["hit"]:
                sys.exit(f"{target}: expected a miss then a hit, got {c} then {w}")
            cold.append(c)
            warm.append(w)
        raw[target] = {"cold": cold, "warm": warm}
        med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
        rows.append((target, med(cold, "compile_s"), med(warm, "compile_s"),
                     med(cold, "import_s")))
    print(f"matmul.py defaults, {SIGNATURE}; median of {args.runs} fresh-process pairs\n")
    print("| target | cold compile s | warm (cache hit) s | speedup | import s |")
    print("|---|---:|---:|---:|---:|")
    for target, c, w, imp in rows:
        print(f"| {target} | {c:.3f} | {w:.3f} | {c / w:.1f}x | {imp:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
