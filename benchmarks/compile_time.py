"""Cold compile time of tilelang's examples beside Triton compiling the same kernels.

Kernels: examples/matmul.py at its defaults (bf16 in, f32 accumulator, 128 x 128 x 32
tiles, 8 warps, 3 stages) and examples/flash_attention.py with HEAD_DIM 64 and 128
at its defaults (64 x 64 tiles, 4 warps, not causal, no software pipelining), beside
benchmarks/triton_kernels.py (the same kernels written the way Triton's tutorials
write them, with the same tiles, warps, stages and dtypes), for ``sm_80`` and
``sm_90a``. Neither side needs a GPU: tilelang compiles with
``kernel.compile(signature, target=...)`` and ``tilelang.codegen.nvidia.ptxas.assemble``,
Triton with ``triton.compile(ASTSource(...), target=GPUTarget("cuda", cc, 32))``.

Every measurement runs in a FRESH Python process whose compile caches
(``TRITON_CACHE_DIR``, ``TILELANG_CACHE_DIR``) point at new empty folders. The
imports (``import tilelang`` + the example module; ``import triton`` +
triton_kernels) are timed apart from the compile and are not in the table. Columns:

* tilelang ptx: ``kernel.compile`` with ptxas hidden from it: trace, passes,
  LLVM NVPTX back end, PTX text;
* tilelang cubin: that plus ``ptxas`` (the one tilelang finds: the
  nvidia-cuda-nvcc wheel's) turning the PTX into a cubin;
* triton ptx: ``triton.compile`` less its ``cubin`` stage (from Triton's
  compile listener, which times each stage); triton cubin: the whole
  ``triton.compile`` (its bundled ptxas included);
* ratio: tilelang cubin / triton cubin (above 1: tilelang is slower); ptx
  ratio: the same for the PTX columns, which leaves the two ptxas out.

Python's own bytecode cache is not a compile cache: an installed package has its
``.pyc`` files (pip writes them, as it did for Triton's), while a checkout run
with ``PYTHONDONTWRITEBYTECODE=1`` would recompile every module a compile imports
on first use, in each process. The workers therefore share one bytecode folder
(``PYTHONPYCACHEPREFIX``), filled by an untimed warm-up process per row.

Each figure is the median of ``--runs`` processes (default 3). A second table
gives the same columns in CPU seconds: the compiler's own process (all its
threads) for "ptx", plus its finished ptxas child for "cubin". On a machine that
other work shares, it is the steadier of the two.

Triton is not a tilelang dependency. Install it in its own virtual environment
(it compiles without a GPU and without torch) and pass that interpreter:

    python -m venv /tmp/tritonenv && /tmp/tritonenv/bin/pip install triton
    python benchmarks/compile_time.py --triton-python /tmp/tritonenv/bin/python \\
        [--targets sm_80 sm_90a] [--runs 5] [--json results.json]

Without ``--triton-python`` the current interpreter is used if it can import
triton; otherwise (or with ``--no-triton``) the Triton columns stay empty.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent

ATTENTION_SIG = "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32"
# table name -> the tilelang example kernel and the Triton kernel of triton_kernels.py
KERNELS: dict[str, dict[str, Any]] = {
    "matmul bf16": {"example": "matmul", "kernel": "matmul",
                    "signature": "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", "constexprs": {},
                    "triton": ("matmul", {})},
    "attention d64": {"example": "flash_attention", "kernel": "flash_attention",
                      "signature": ATTENTION_SIG, "constexprs": {"HEAD_DIM": 64},
                      "triton": ("attention", {"head_dim": 64})},
    "attention d128": {"example": "flash_attention", "kernel": "flash_attention",
                       "signature": ATTENTION_SIG, "constexprs": {"HEAD_DIM": 128},
                       "triton": ("attention", {"head_dim": 128})},
}
TARGETS = ("sm_80", "sm_90a")
TOOLS = ("tilelang", "triton")
TIMES = ("import_s", "ptx_s", "ptxas_s", "cubin_s", "ptx_cpu_s", "ptxas_cpu_s", "cubin_cpu_s")
INSTALL_HINT = ("python -m venv /tmp/tritonenv && /tmp/tritonenv/bin/pip install triton; "
                "then --triton-python /tmp/tritonenv/bin/python")


def _ptx_features(ptx: str) -> dict[str, Any]:
    """What the PTX is made of, so the table can say when the two emit different code."""
    return {"ptx_lines": ptx.count("\n"),
            **{f"uses_{op.replace('.', '_')}": op in ptx
               for op in ("mma.sync", "wgmma", "ldmatrix", "cp.async")}}


# -- workers: one cold compile per process, JSON on the last stdout line ----------------------

class _Clock:
    """Wall time, this process's CPU time and its finished children's (ptxas) CPU time."""

    def __init__(self) -> None:
        self.wall, self.own, self.children = time.perf_counter(), time.process_time(), \
            self._children()

    @staticmethod
    def _children() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def since(self) -> tuple[float, float, float]:
        """(wall, own CPU, children's CPU) seconds since this clock was made."""
        return (time.perf_counter() - self.wall, time.process_time() - self.own,
                self._children() - self.children)


def _tilelang_worker(name: str, target: str) -> dict[str, Any]:
    spec = KERNELS[name]
    t0 = time.perf_counter()
    import tilelang
    from tilelang.codegen.nvidia import ptxas
    path = ROOT / "examples" / f"{spec['example']}.py"
    loader = importlib.util.spec_from_file_location(f"example_{spec['example']}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    kernel = getattr(module, spec["kernel"])
    t1 = time.perf_counter()

    exe = ptxas.find_ptxas()
    # kernel.compile assembles a cubin itself where it finds ptxas: hide ptxas from it so
    # that the PTX and the ptxas parts are timed apart
    find = ptxas.find_ptxas
    ptxas.find_ptxas = lambda: None
    try:
        clock = _Clock()
        compiled = kernel.compile(spec["signature"], target=target, **spec["constexprs"])
        ptx_s, ptx_cpu_s, early_ptxas_cpu_s = clock.since()
    finally:
        ptxas.find_ptxas = find
    out: dict[str, Any] = {"import_s": t1 - t0, "ptx_s": ptx_s, "ptx_cpu_s": ptx_cpu_s,
                           **_ptx_features(compiled.ptx)}
    if exe is not None:
        clock = _Clock()
        result = ptxas.assemble(compiled.ptx, target)
        out["ptxas_s"], _, out["ptxas_cpu_s"] = clock.since()
        if compiled.cubin is not None:
            # compile() found ptxas after all (its lookup moved): it assembled already,
            # so its time holds one ptxas run; take the one measured here out of it
            out["ptx_s"] = max(ptx_s - out["ptxas_s"], 0.0)
            out["ptx_cpu_s"] = ptx_cpu_s + early_ptxas_cpu_s - out["ptxas_cpu_s"]
        out["cubin_s"] = out["ptx_s"] + out["ptxas_s"]
        out["cubin_cpu_s"] = out["ptx_cpu_s"] + out["ptxas_cpu_s"]
        out.update(cubin_bytes=len(result.cubin), registers=result.registers,
                   spill_bytes=result.spill_bytes, ptxas=f"{ptxas.ptxas_version(exe)} ({exe})")
    out["tilelang"] = str(Path(tilelang.__file__).parent)
    import llvmlite
    import llvmlite.binding as llvm
    out["llvmlite"] = f"{llvmlite.__version__} (LLVM {'.'.join(map(str, llvm.llvm_version_info))})"
    return out


def _triton_worker(name: str, target: str) -> dict[str, Any]:
    kind, kwargs = KERNELS[name]["triton"]
    t0 = time.perf_counter()
    sys.path.insert(0, str(BENCH))
    import triton
    import triton_kernels as tk
    t1 = time.perf_counter()

    stages: list[tuple[str, int]] = []
    listening = hasattr(triton, "knobs") and hasattr(triton.knobs, "compilation")
    if listening:
        def listener(*, times: Any, **_: Any) -> None:
            stages.extend(times.lowering_stages)
        triton.knobs.compilation.listener = listener
    clock = _Clock()
    compiled = tk.compile_kernel(kind, target, **kwargs)
    cubin_s, own_cpu_s, children_cpu_s = clock.since()
    # own CPU: Triton's passes and LLVM (all its threads); children: its ptxas
    out: dict[str, Any] = {"import_s": t1 - t0, "cubin_s": cubin_s,
                           "ptx_cpu_s": own_cpu_s, "ptxas_cpu_s": children_cpu_s,
                           "cubin_cpu_s": own_cpu_s + children_cpu_s,
                           **_ptx_features(compiled.asm["ptx"]),
                           "cubin_bytes": len(compiled.asm["cubin"]),
                           "triton": triton.__version__, "ptxas": tk.ptxas_version(target)}
    cubin_us = [us for stage, us in stages if stage == "cubin"]
    if cubin_us:
        out["ptxas_s"] = sum(cubin_us) / 1e6
        out["ptx_s"] = cubin_s - out["ptxas_s"]
    return out


WORKERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "tilelang": _tilelang_worker, "triton": _triton_worker}


# -- driver ------------------------------------------------------------------------------------

def run_once(tool: str, name: str, target: str, python: str | None = None,
             pycache: str | None = None) -> dict[str, Any]:
    """One cold compile of ``name`` for ``target`` by ``tool`` in a fresh interpreter
    (``python``, default this one) with empty compile caches; ``pycache``: the folder
    of Python's bytecode cache (the module docstring says why), else the environment's."""
    with tempfile.TemporaryDirectory(prefix="tilelang-compile-time-") as tmp:
        env = dict(os.environ, TRITON_CACHE_DIR=str(Path(tmp) / "triton"),
                   TILELANG_CACHE_DIR=str(Path(tmp) / "tilelang"),
                   # Triton 3.9 warns when unset; 1 is its default (fused multiply-add on)
                   TRITON_DEFAULT_FP_FUSION=os.environ.get("TRITON_DEFAULT_FP_FUSION", "1"))
        if pycache is not None:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
        if tool == "tilelang":   # the checkout's tilelang, installed or not
            env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        cmd = [python or sys.executable, str(Path(__file__).resolve()),
               "--worker", tool, name, target]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} {name} {target} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    for key in TIMES:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if len(values) == len(runs) else None
    out["runs"] = {key: [r.get(key) for r in runs] for key in TIMES}
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def measure(kernels: list[str], targets: list[str], runs: int = 3,
            triton_python: str | None = None,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One row per (target, kernel): the median tilelang and (where ``triton_python``
    is given) Triton measurements and their ratios. The runs of the two tools
    alternate so that slow drifts of the machine fall on both."""
    rows = []
    pycache = tempfile.TemporaryDirectory(prefix="tilelang-compile-time-pycache-")
    for target in targets:
        for name in kernels:
            per_tool: dict[str, list[dict[str, Any]]] = {"tilelang": [], "triton": []}
            # untimed: fills the bytecode cache with what this row's compiles import
            run_once("tilelang", name, target, pycache=pycache.name)
            if triton_python:
                run_once("triton", name, target, triton_python, pycache=pycache.name)
            for _ in range(runs):
                per_tool["tilelang"].append(
                    run_once("tilelang", name, target, pycache=pycache.name))
                if triton_python:
                    per_tool["triton"].append(
                        run_once("triton", name, target, triton_python, pycache=pycache.name))
            tl = _median(per_tool["tilelang"])
            tr = _median(per_tool["triton"]) if triton_python else None
            rows.append({"kernel": name, "target": target, "tilelang": tl, "triton": tr,
                         **{f"ratio_{key}": _ratio(tl[key], tr and tr[key])
                            for key in ("cubin_s", "ptx_s", "cubin_cpu_s", "ptx_cpu_s")}})
            if progress:
                progress(f"measured {name} {target}")
    pycache.cleanup()
    return rows


def triton_interpreter(requested: str | None) -> tuple[str | None, str | None]:
    """(interpreter, triton version) for the Triton runs, or (None, reason)."""
    python = requested or sys.executable
    if requested is None and importlib.util.find_spec("triton") is None:
        return None, f"this interpreter has no triton ({INSTALL_HINT})"
    try:
        proc = subprocess.run([python, "-c", "import triton; print(triton.__version__)"],
                              capture_output=True, text=True, timeout=120)
    except OSError as e:
        return None, f"{python}: {e}"
    if proc.returncode != 0:
        return None, f"{python} cannot import triton: {proc.stderr.strip()[-500:]}"
    return python, proc.stdout.strip()


def _cell(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_table(rows: list[dict[str, Any]], cpu: bool = False) -> str:
    """The markdown table of wall-clock seconds, or with ``cpu`` of CPU seconds (the
    compiler's own process for "ptx", plus its ptxas child for "cubin")."""
    unit, sfx = ("CPU s", "_cpu_s") if cpu else ("s", "_s")
    header = ("kernel", "target", f"tilelang ptx {unit}", f"tilelang cubin {unit}",
              f"triton ptx {unit}", f"triton cubin {unit}", "ratio tilelang/triton (cubin)",
              "ratio (ptx)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for row in rows:
        tl, tr = row["tilelang"], row["triton"] or {}
        lines.append("| " + " | ".join([
            row["kernel"], row["target"], _cell(tl.get("ptx" + sfx)),
            _cell(tl.get("cubin" + sfx)), _cell(tr.get("ptx" + sfx)),
            _cell(tr.get("cubin" + sfx)), _cell(row[f"ratio_cubin{sfx}"], "{:.2f}x"),
            _cell(row[f"ratio_ptx{sfx}"], "{:.2f}x")]) + " |")
    return "\n".join(lines)


def format_details(rows: list[dict[str, Any]]) -> str:
    lines = []
    for tool in TOOLS:
        imports = [v for row in rows if row[tool] for v in row[tool]["runs"]["import_s"]]
        if imports:
            lines.append(f"import time {tool}: median {statistics.median(imports):.2f} s "
                         f"(not in the table)")
    for row in rows:
        parts = []
        for tool in TOOLS:
            r = row[tool]
            if not r:
                continue
            ops = ", ".join(k[5:].replace("_", ".") for k, v in r.items()
                            if k.startswith("uses_") and v) or "none of mma.sync/wgmma"
            regs = (f", {r['registers']} registers, {r['spill_bytes']} spill bytes"
                    if r.get("registers") is not None else "")
            parts.append(f"{tool}: ptxas {_cell(r.get('ptxas_s'))} s, {r['ptx_lines']} PTX "
                         f"lines{regs}, uses {ops}")
        lines.append(f"{row['kernel']} {row['target']}: " + "; ".join(parts))
    versions = {f"{tool} {key}": row[tool][key] for row in rows for tool in TOOLS
                if row[tool] for key in ("ptxas", "llvmlite", "triton") if key in row[tool]}
    versions.update({"tilelang from": row["tilelang"]["tilelang"] for row in rows[:1]})
    lines += [f"{k}: {v}" for k, v in sorted(versions.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    p.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    p.add_argument("--runs", type=int, default=3, help="fresh processes per figure (median)")
    p.add_argument("--triton-python", metavar="PATH",
                   help="interpreter of an environment with triton (default: this one, "
                        "if it can import triton)")
    p.add_argument("--no-triton", action="store_true", help="tilelang columns only")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--worker", nargs=3, metavar=("TOOL", "KERNEL", "TARGET"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        tool, name, target = args.worker
        print(json.dumps(WORKERS[tool](name, target)))
        return 0
    if args.runs < 1:
        p.error("--runs must be at least 1")

    triton_python, triton_note = None, "--no-triton"
    if not args.no_triton:
        triton_python, triton_note = triton_interpreter(args.triton_python)
        if triton_python is None:
            if args.triton_python:
                p.error(triton_note)
            print(f"note: Triton columns left empty: {triton_note}", file=sys.stderr)
    started = datetime.datetime.now().astimezone()
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or None
    load_before = os.getloadavg()
    rows = measure(args.kernels, args.targets, args.runs, triton_python,
                   progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    load = {"before": load_before, "after": os.getloadavg()}

    print(f"# cold compile, median of {args.runs} fresh processes; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{started:%Y-%m-%d}; tilelang {commit or '(not a git checkout)'}; load average "
          f"{load['before'][0]:.2f} before, {load['after'][0]:.2f} after (1 min)")
    print(format_table(rows))
    print()
    print(format_table(rows, cpu=True))
    print()
    print(format_details(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": started.isoformat(timespec="seconds"),
            "command": " ".join(["python", *sys.argv]) if argv is None else None,
            "runs": args.runs,
            "machine": {"machine": platform.machine(), "processor": platform.processor(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "load_average": load},
            "tilelang_commit": commit, "triton_python": triton_python, "triton": triton_note if triton_python else None,
            "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
