"""tilelang kernels beside cuBLAS/torch and Triton on one GPU: one process, one table.

Rows (``bench_rows.rows()``): bf16 GEMM 4096^3 and 8192^3 (vs ``torch.matmul``, i.e.
cuBLAS, and a Triton matmul after Triton's tutorial, autotuned); flash-attention
forward, bf16, head dim 64 and 128, sequence 1k-16k (batch x seq = 16k tokens,
heads x head dim = 2048), causal and not (vs torch SDPA and a Triton fused
attention after Triton's tutorial, autotuned); weight-only quantized
GEMM W2/W3/W4/W8 A16 at M = 16 and 4096 (vs dequantizing in torch, then
cuBLAS); the flash-attention backward
(dQ, dK, dV from O, dO and the forward's log-sum-exp; sequence 1k, 4k, 16k; vs
torch SDPA's backward through autograd, the forward graph kept); softmax and
layernorm bf16
32768 x 4096 (vs torch, and as a fraction of the device-to-device copy bandwidth
measured in the same run); and that copy bandwidth (``cuMemcpyDtoDAsync``, vs
torch's ``copy_``).

Each row: the time of the fastest tilelang variant (tile sizes, warps,
``persistent``/``group_m``; all are tried, as an autotuner would), its TFLOP/s or
GB/s, each baseline's time and rate, and the ratio tilelang rate / baseline rate
(above 1: tilelang is faster). Times are CUDA-event medians with the L2 flushed
before every run (``tilelang.autotune.GpuBenchmarker``). Every tilelang
output is compared with a float64 numpy reference on its first rows. A baseline
that cannot run (no torch, torch without CUDA, no triton) is "n/a" with the
reason.

    python benchmarks/run.py [--only REGEX] [--repeats 20] [--out benchmarks/results/run-DATE]
    python benchmarks/run.py --check [--check-target emulate:sm_80]   # no GPU needed

Without a GPU the run exits with status 2 and one line saying so. ``--check`` runs
every row at a tiny size on the interpreter or emulator against numpy (every
variant, baselines n/a), so CI proves the harness and the kernels it calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rows as br  # noqa: E402

import tilelang as tl  # noqa: E402
from tilelang.errors import TileLangError  # noqa: E402


# -- environment ---------------------------------------------------------------------------

def gpu_or_reason() -> tuple[str | None, str]:
    """``(tilelang target, "")`` on a usable GPU, else ``(None, why not)``."""
    from tilelang.runtime.cuda_driver import default_driver
    from tilelang.runtime.targets import detect_gpu_target
    try:
        default_driver().ensure()
    except TileLangError as e:
        return None, str(e).splitlines()[0]
    target = detect_gpu_target()
    if target is None:
        return None, "the GPU's compute capability is below 8.0"
    return target, ""


def torch_or_reason() -> tuple[Any, str]:
    try:
        import torch
    except ImportError:
        return None, "torch is not installed"
    if not torch.cuda.is_available():
        return None, "torch has no CUDA device"
    return torch, ""


def triton_or_reason(torch: Any) -> tuple[Any, str]:
    if torch is None:
        return None, "the Triton baselines take torch tensors, and torch is unavailable"
    try:
        import triton_baselines
    except ImportError as e:
        return None, f"triton is not installed ({e})"
    return triton_baselines, ""


def device_info(target: str) -> dict[str, str]:
    from tilelang.runtime.cuda_driver import default_driver
    d = default_driver()
    cu = d.raw
    err, raw = cu.cuDeviceGetName(256, d.device)
    name = raw.split(b"\0", 1)[0].decode() if isinstance(raw, bytes) else str(raw)
    version = int(d.check(cu.cuDriverGetVersion(), "cuDriverGetVersion"))
    return {"device": f"{name} ({target})",
            "driver": f"CUDA driver API {version // 1000}.{version % 1000 // 10}"}


# -- running one row -----------------------------------------------------------------------

class Runner:
    """Times and checks rows on a GPU (``check=False``) or on a CPU target."""

    def __init__(self, target: str, check: bool, repeats: int, torch: Any,
                 triton: Any, reasons: dict[str, str]) -> None:
        from tilelang.autotune.bench import EmulatorBenchmarker, GpuBenchmarker
        self.target, self.check, self.torch, self.triton = target, check, torch, triton
        self.reasons = reasons
        self.bench = (EmulatorBenchmarker(target, warmup=0, repeats=1) if check else
                      GpuBenchmarker(warmup=3, repeats=repeats))
        self.copy_rate: float | None = None
        self._tiny_done: dict[tuple, dict] = {}

    def time(self, fn: Callable[[], Any]) -> float:
        return self.bench.measure(lambda _: fn(), lambda: ()).median_ms

    def row(self, row: br.Row) -> dict[str, Any]:
        run_row = row.tiny() if self.check else row
        out: dict[str, Any] = {"name": row.name, "metric": row.metric,
                               "size": dict(run_row.size), "baselines": {}, "ratios": {}}
        if row.kind == "copy":
            out["tilelang"] = self._copy(run_row)
        else:
            problem = br.make_problem(run_row)
            out["tilelang"] = self._tilelang(run_row, problem)
            for name in row.baselines:
                out["baselines"][name] = self._baseline(name, run_row, problem)
        if row.kind == "copy":
            for name in row.baselines:
                out["baselines"][name] = self._baseline(name, run_row, None)
        mine = out["tilelang"].get("rate")
        for name, b in out["baselines"].items():
            if mine is not None and b.get("rate"):
                out["ratios"][name] = mine / b["rate"]
        return out

    # tilelang --------------------------------------------------------------------------
    def _tilelang(self, row: br.Row, problem: br.Problem) -> dict[str, Any]:
        ref = br.reference(problem)
        tol = br.tolerance(row.kind)
        tried: list[dict[str, Any]] = []
        arrays = None
        for variant in row.variants:
            key = (row.kind, row.size, variant)
            if self.check and key in self._tiny_done:
                tried.append(self._tiny_done[key])
                continue
            result: dict[str, Any] = {"config": variant.label}
            try:
                if arrays is None:
                    arrays, reset, fetch = self._arrays(problem)
                reset()                                    # a variant must write it all
                launch = br.tilelang_launch(problem, variant, arrays, self.target)
                launch()                                   # compile, and the checked run
                err = br.relative_error(br.output_slice(problem, fetch()), ref)
                result.update(error=err, ok=err <= tol)
                ms = self.time(launch)
                result.update(ms=ms, rate=row.rate(ms))
            except TileLangError as e:
                result.update(ok=False, failed=str(e).splitlines()[0])
            except Exception as e:  # noqa: BLE001 -- reported in the row; the run goes on
                result.update(ok=False, failed=f"{type(e).__name__}: {e}".splitlines()[0])
            tried.append(result)
            if self.check:
                self._tiny_done[key] = result
        good = [t for t in tried if t.get("ok")]
        best = dict(min(good, key=lambda t: t["ms"])) if good else \
            {"config": "none", "ok": False}
        best["variants"] = tried
        best["all_ok"] = all(t.get("ok") for t in tried)
        if self.check:                      # CPU wall time says nothing about a GPU
            best.pop("rate", None)
        return best

    def _arrays(self, problem: br.Problem) -> tuple[dict[str, Any], Callable[[], None],
                                                    Callable[[], np.ndarray]]:
        """The problem's arrays where the target reads them, a function zeroing the
        output and one returning it as numpy."""
        host, name = problem.host, problem.output
        if self.check:
            def reset_host() -> None:
                host[name][...] = 0
            return host, reset_host, lambda: host[name]
        if self.torch is not None:
            dev = {k: to_torch(self.torch, v) for k, v in host.items()}
            return dev, lambda: dev[name].zero_(), lambda: from_torch(dev[name])
        from tilelang.runtime.cuda_driver import default_driver
        from tilelang.runtime.host_arrays import DeviceCopy
        d = default_driver()
        # device memory for the rest of the run (a few rows' worth; no torch to free it)
        dev = {k: tl.PackedArray(DeviceCopy(d, v.data), v.shape, v.dtype)
               if isinstance(v, tl.PackedArray) else DeviceCopy(d, np.ascontiguousarray(v))
               for k, v in host.items()}
        out = dev[name]

        def reset() -> None:
            out.host[...] = 0
            d.copy_to_device(out.address, out.host)

        def fetch() -> np.ndarray:
            d.synchronize()
            out.copy_back()
            return out.host
        return dev, reset, fetch

    # baselines --------------------------------------------------------------------------
    def _baseline(self, name: str, row: br.Row, problem: br.Problem | None) -> dict[str, Any]:
        if self.check:
            return {"na": "check mode: baselines are timed on a GPU only"}
        if name == "copy":
            if self.copy_rate is None:
                return {"na": "the copy row did not run"}
            return {"rate": self.copy_rate, "ms": None}
        lib = self.torch if name == "torch" else self.triton
        if lib is None:
            return {"na": self.reasons[name]}
        try:
            fn = baseline_fn(name, row, problem, self.torch, self.triton)
            ms = self.time(fn)
        except Exception as e:  # a baseline library's own failure is reported, not fatal
            return {"na": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
        return {"ms": ms, "rate": row.rate(ms)}

    def _copy(self, row: br.Row) -> dict[str, Any]:
        if self.check:
            return {"config": "cuMemcpyDtoDAsync", "ok": True, "all_ok": True,
                    "note": "measured on a GPU only"}
        from tilelang.runtime.cuda_driver import default_driver
        d = default_driver()
        cu = d.raw
        n = row.p["bytes"]
        src, dst = d.alloc(n), d.alloc(n)
        try:
            ms = self.time(lambda: d.check(cu.cuMemcpyDtoDAsync(dst, src, n, 0),
                                           "cuMemcpyDtoDAsync"))
        finally:
            d.free(src)
            d.free(dst)
        self.copy_rate = row.rate(ms)
        return {"config": "cuMemcpyDtoDAsync", "ms": ms, "rate": self.copy_rate, "ok": True,
                "all_ok": True}


def to_torch(torch: Any, a: Any) -> Any:
    """A numpy array (bf16 included) as a CUDA torch tensor; a packed low-bit array as
    one whose bytes are a CUDA uint8 tensor."""
    if isinstance(a, tl.PackedArray):
        return tl.PackedArray(torch.from_numpy(a.data).cuda(), a.shape, a.dtype)
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16).cuda()
    return torch.from_numpy(a).cuda()


def from_torch(t: Any) -> np.ndarray:
    import ml_dtypes
    import torch
    torch.cuda.synchronize()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).cpu().numpy().view(ml_dtypes.bfloat16)
    return t.cpu().numpy()


def baseline_fn(name: str, row: br.Row, problem: br.Problem | None, torch: Any,
                triton: Any) -> Callable[[], Any]:
    """A closure running baseline ``name`` on the row's problem (fresh device inputs)."""
    import torch.nn.functional as F
    if row.kind == "copy":
        n = row.p["bytes"]
        src = torch.empty(n, dtype=torch.uint8, device="cuda")
        dst = torch.empty_like(src)
        return lambda: dst.copy_(src)
    t = {k: to_torch(torch, v) for k, v in problem.host.items()}
    if row.kind == "gemm":
        if name == "torch":
            return lambda: torch.matmul(t["a"], t["b"], out=t["c"])
        return lambda: triton.matmul(t["a"], t["b"], t["c"])
    if row.kind == "attention":
        scale, causal = problem.scalars["sm_scale"], row.p["causal"]
        if name == "torch":
            return lambda: F.scaled_dot_product_attention(t["q"], t["k"], t["v"],
                                                          is_causal=causal, scale=scale)
        return lambda: triton.attention(t["q"], t["k"], t["v"], scale, causal, t["o"])
    if row.kind == "quant_gemm":      # unpack and dequantize in torch, then cuBLAS
        return _torch_dequant_matmul(torch, row, t)
    if row.kind == "attention_bwd":   # the backward only: the forward graph is kept
        scale, causal = problem.scalars["sm_scale"], row.p["causal"]
        q, k, v = (t[n].requires_grad_() for n in ("q", "k", "v"))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
        return lambda: torch.autograd.grad(o, (q, k, v), t["do"], retain_graph=True)
    if row.kind == "softmax":
        return lambda: torch.softmax(t["x"], dim=-1)
    eps = problem.scalars["eps"]
    return lambda: F.layer_norm(t["x"], (row.p["N"],), t["w"], t["b"], eps)


def _torch_dequant_matmul(torch: Any, row: br.Row, t: dict[str, Any]) -> Callable[[], Any]:
    """What a torch user writes for W{bits}A16 (unsigned weights): unpack the packed
    planes of each row (docs/lowbit.md) with shifts and masks, scale, matmul."""
    from tilelang.ir import lowbit
    n, group = row.p["N"], br.QUANT_GROUP
    w_in = t["qw"]
    if not isinstance(w_in, tl.PackedArray):           # 8-bit weights: plain bytes
        planes, rows = [], w_in
    else:
        planes, rows = lowbit.planes(w_in.dtype), w_in.data.view(w_in.shape[0], -1)
    scale = t["s"].float().repeat_interleave(group, 0)
    zero = t["z"].float().repeat_interleave(group, 0)

    def unpack() -> Any:
        if not planes:
            return rows.to(torch.int32)
        q, at = None, 0
        for lo, w in planes:
            nb = n * w // 8
            shifts = torch.arange(0, 8, w, device="cuda", dtype=torch.uint8)
            part = ((rows[:, at:at + nb, None] >> shifts) & ((1 << w) - 1)).reshape(-1, n)
            part = part.to(torch.int32) << lo
            q = part if q is None else q | part
            at += nb
        return q

    def run() -> Any:
        w = ((unpack().float() - zero) * scale).to(torch.bfloat16)
        return torch.matmul(t["a"], w, out=t["c"])
    return run


# -- output --------------------------------------------------------------------------------

def _cell(r: dict[str, Any], key: str, fmt: str) -> str:
    v = r.get(key)
    return "n/a" if v is None else format(v, fmt)


def table(results: list[dict[str, Any]], check: bool) -> str:
    """The markdown table of ``results``; each distinct reason for an "n/a" is a
    numbered note under it."""
    notes: list[str] = []

    def na(reason: str) -> str:
        if reason not in notes:
            notes.append(reason)
        return f"n/a [{notes.index(reason) + 1}]"

    head = ["row", "tilelang ms", "tilelang rate", "config", "torch ms", "torch rate",
            "x torch", "triton ms", "triton rate", "x triton", "x copy BW", "check"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        t = r["tilelang"]
        cells = [r["name"], _cell(t, "ms", ".3f"),
                 "n/a" if t.get("rate") is None else f"{t['rate']:.1f} {r['metric']}",
                 t.get("config", "")]
        for name in ("torch", "triton"):
            b = r["baselines"].get(name)
            if b is None:
                cells += ["", "", ""]
            elif "na" in b:
                cells += [na(b["na"]), "", ""]
            else:
                cells += [_cell(b, "ms", ".3f"), f"{b['rate']:.1f} {r['metric']}",
                          _cell(r["ratios"], name, ".2f")]
        copy = r["baselines"].get("copy")
        cells.append("" if copy is None else
                     na(copy["na"]) if "na" in copy else _cell(r["ratios"], "copy", ".2f"))
        cells.append(check_cell(t))
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{i}] {reason}" for i, reason in enumerate(notes, 1)]
    if check:
        lines.append("")
        lines.append("check mode: tiny sizes, tiles scaled to 32; 'tilelang ms' is CPU "
                     "wall-clock on the check target, not a GPU time")
    return "\n".join(lines)


def check_cell(t: dict[str, Any]) -> str:
    if "note" in t:
        return t["note"]
    variants = t.get("variants", [])
    failed = [v for v in variants if not v.get("ok")]
    worst = max((v.get("error", 0.0) for v in variants), default=0.0)
    text = f"{len(variants) - len(failed)}/{len(variants)} variants ok, max err {worst:.1e}"
    if failed:
        text += "; FAILED: " + "; ".join(
            f"{v['config']}: {v.get('failed') or 'err %.1e' % v.get('error', float('nan'))}"
            for v in failed)
    return text


def write(out: str, meta: dict[str, Any], results: list[dict[str, Any]], text: str) -> list[Path]:
    """``OUT.md`` and ``OUT.json`` (``OUT`` a path prefix; a folder gets ``run-DATE``)."""
    base = Path(out)
    if base.is_dir() or out.endswith("/"):
        base = base / f"run-{meta['date'][:10]}{'-check' if meta['mode'] == 'check' else ''}"
    base.parent.mkdir(parents=True, exist_ok=True)
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    header = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    md.write_text(f"# tilelang benchmark suite, {meta['date'][:10]}\n\n{header}\n\n{text}\n")
    js.write_text(json.dumps({**meta, "rows": results}, indent=1, default=str) + "\n")
    return [md, js]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="run every row at a tiny size on a CPU target against numpy")
    ap.add_argument("--check-target", default="emulate:sm_80",
                    help="the CPU target of --check: interp or emulate:<gpu> (default %(default)s)")
    ap.add_argument("--only", default=None, help="run the rows whose name matches this regex")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per measurement")
    ap.add_argument("--out", default=None,
                    help="write OUT.md and OUT.json (a folder: OUT/run-DATE.md, .json)")
    args = ap.parse_args(argv)
    selected = [r for r in br.rows() if args.only is None or re.search(args.only, r.name)]
    if args.only and any(r.kind in ("softmax", "layernorm") for r in selected) and \
            not any(r.kind == "copy" for r in selected):
        selected += [r for r in br.rows() if r.kind == "copy"]   # their copy-BW ratio
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join(shlex.quote(a) for a in ["benchmarks/run.py", *argv]),
        "python": platform.python_version(), "machine": platform.machine()}
    if args.check:
        if not (args.check_target == "interp" or args.check_target.startswith("emulate")):
            print(f"run.py: --check-target must be interp or emulate:<gpu>, got "
                  f"{args.check_target!r}", file=sys.stderr)
            return 2
        target, torch, triton, reasons = args.check_target, None, None, {}
        meta.update(mode="check", target=target, device=f"CPU ({target}): times are CPU "
                    f"wall-clock and say nothing about a GPU")
    else:
        target, why = gpu_or_reason()
        if target is None:
            print(f"run.py: no usable CUDA GPU ({why}); nothing to measure. "
                  f"Use --check to verify the harness on the CPU.", file=sys.stderr)
            return 2
        torch, torch_why = torch_or_reason()
        triton, triton_why = triton_or_reason(torch)
        reasons = {"torch": torch_why, "triton": triton_why}
        meta.update(mode="gpu", target=target, **device_info(target))
        meta["torch"] = getattr(torch, "__version__", f"n/a ({torch_why})")
        meta["triton"] = (__import__("triton").__version__ if triton is not None
                          else f"n/a ({triton_why})")
    for k in ("date", "command", "device"):
        print(f"{k}: {meta[k]}")
    if "driver" in meta:
        print(f"driver: {meta['driver']}; torch {meta['torch']}; triton {meta['triton']}")
    runner = Runner(target, args.check, args.repeats, torch, triton, reasons)
    # the copy row first: softmax and layernorm are reported against its bandwidth
    order = sorted(selected, key=lambda r: r.kind != "copy")
    results = {r.name: runner.row(r) for r in order}
    ordered = [results[r.name] for r in selected]
    text = table(ordered, args.check)
    print(text)
    if args.out:
        for path in write(args.out, meta, ordered, text):
            print(f"wrote {path}")
    ok = all(r["tilelang"].get("all_ok") for r in ordered)
    if not ok:
        print("run.py: some tilelang variants failed or missed their tolerance (see 'check')",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
