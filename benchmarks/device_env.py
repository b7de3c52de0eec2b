"""The environment of a device check, as Markdown: the GPU and driver as tilelang's own
driver layer sees them, the versions of the Python packages and CUDA tools the check
uses, and what is missing. Never fails: a missing piece is a line saying so.

    python benchmarks/device_env.py            # prints the Markdown
    python benchmarks/device_env.py --has-gpu  # exit status 0 when a usable CUDA GPU is there
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import shutil
import subprocess
import sys

PACKAGES = ["tilelang", "numpy", "llvmlite", "lark", "ml_dtypes", "cuda-bindings", "cuda-python",
            "torch", "triton", "cupy-cuda12x", "cupy-cuda13x", "pytest", "pytest-timeout",
            "hypothesis", "nvidia-cuda-nvcc"]
TOOLS = [("nvidia-smi", ["--version"]), ("ptxas", ["--version"]), ("nvcc", ["--version"]),
         ("compute-sanitizer", ["--version"]), ("cuobjdump", ["--version"]),
         ("ncu", ["--version"])]


def gpu() -> tuple[dict[str, str], str]:
    """What the driver reports (name, capability, SMs, driver version, memory), or the
    ``LaunchError`` text of why there is no device."""
    try:
        from tilelang.errors import TileLangError
        from tilelang.runtime.cuda_driver import default_driver
    except Exception as e:  # tilelang itself does not import: say so, do not fail
        return {}, f"tilelang does not import: {type(e).__name__}: {e}"
    d = default_driver()
    try:
        d.ensure()
    except TileLangError as e:
        return {}, str(e)
    cu = d.raw
    info = {"capability": "%d.%d" % d.capability}
    _, name = cu.cuDeviceGetName(256, d.device)
    info["device"] = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
    version = int(d.check(cu.cuDriverGetVersion(), "cuDriverGetVersion"))
    info["driver API"] = f"{version // 1000}.{version % 1000 // 10}"
    attr = cu.CUdevice_attribute
    for label, a in [("SMs", attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                     ("max shared memory per block (opt-in, bytes)",
                      attr.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                     ("max grid dim x", attr.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X),
                     ("max grid dim y", attr.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y)]:
        info[label] = str(d.check(cu.cuDeviceGetAttribute(a, d.device), "cuDeviceGetAttribute"))
    total = d.check(cu.cuDeviceTotalMem(d.device), "cuDeviceTotalMem")
    info["memory (GiB)"] = f"{int(total) / 2**30:.1f}"
    from tilelang.runtime.targets import detect_gpu_target
    info["tilelang target"] = str(detect_gpu_target())
    return info, ""


def tool_version(name: str, args: list[str]) -> str:
    path = shutil.which(name)
    if path is None and name == "ptxas":
        try:
            from tilelang.codegen.nvidia.ptxas import find_ptxas
            path = find_ptxas()
        except Exception:
            path = None
    if path is None:
        return "not found"
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{path}: {type(e).__name__}"
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return f"{path}: {lines[-1].strip() if lines else '?'}"


def markdown() -> str:
    info, why = gpu()
    lines = ["## Environment", "", f"- python {sys.version.split()[0]} on "
             f"{platform.platform()} ({platform.machine()})"]
    if info:
        lines += [f"- {k}: {v}" for k, v in info.items()]
    else:
        lines.append(f"- GPU: none ({why})")
    lines += ["", "| package | version |", "|---|---|"]
    for p in PACKAGES:
        try:
            lines.append(f"| {p} | {md.version(p)} |")
        except md.PackageNotFoundError:
            lines.append(f"| {p} | not installed |")
    lines += ["", "| tool | version |", "|---|---|"]
    lines += [f"| {n} | {tool_version(n, a)} |" for n, a in TOOLS]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--has-gpu", action="store_true",
                    help="only answer, by the exit status, whether a usable GPU is there")
    ns = ap.parse_args(argv)
    if ns.has_gpu:
        info, why = gpu()
        if not info or info.get("tilelang target") == "None":
            print(why or "the GPU's compute capability is below 8.0")
            return 1
        print(info["device"])
        return 0
    print(markdown(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
