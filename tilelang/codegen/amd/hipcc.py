"""Finding and running hipcc: HIP C++ → an AMDGPU code object (an ELF for one arch).

``find_hipcc()`` looks at ``$TILELANG_HIPCC``, then ``PATH`` (Debian's ``hipcc``
package installs ``/usr/bin/hipcc``). Every run sets ``HIP_PLATFORM=amd``, since a
machine with CUDA installed would otherwise make hipcc call nvcc.
``compile_hip()`` compiles device code only (``--cuda-device-only
--no-gpu-bundle-output``), so the result is the plain code object that
``hipModuleLoadData`` takes, and raises ``CompileError`` quoting the compiler.

gfx942 (MI300) needs a compiler from ROCm 5.7 / LLVM 17 on. An older hipcc (e.g.
Debian's 5.2) rejects the name; ``resolve_arch("gfx942")`` then answers
``gfx940``, the first CDNA3 target, which has the same instruction set for what
tilelang generates (MFMA, LDS, wave64), and ``HipccResult.arch`` says which
arch was compiled.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tilelang import knobs
from tilelang.errors import CompileError, SourceLoc

__all__ = ["HipccResult", "compile_hip", "find_hipcc", "hipcc_version", "resolve_arch"]

ENV_VAR = "TILELANG_HIPCC"
TIMEOUT_S = 300
# What an arch is compiled as where the compiler does not know it (oldest first).
FALLBACK_ARCHS: dict[str, tuple[str, ...]] = {"gfx942": ("gfx942", "gfx941", "gfx940")}


def find_hipcc() -> Path | None:
    """The hipcc to use: ``$TILELANG_HIPCC`` or PATH's; None when there is none."""
    env = knobs.hipcc_path()
    if env:
        p = Path(env).expanduser()
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise CompileError(f"{ENV_VAR}={env} is not an executable file",
                               hint=f"point {ENV_VAR} at a hipcc binary, or unset it to use "
                                    "the one on PATH")
        return p
    which = shutil.which("hipcc")
    return Path(which) if which else None


def _require_hipcc() -> Path:
    exe = find_hipcc()
    if exe is None:
        raise CompileError("hipcc was not found",
                           hint="install a HIP compiler (Debian/Ubuntu: apt-get install "
                                f"hipcc; or ROCm), or set {ENV_VAR} to a hipcc binary")
    return exe


def _env() -> dict[str, str]:
    return {**os.environ, "HIP_PLATFORM": "amd"}


def _run(cmd: list[str], cwd: str | None = None,
         timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(),
                          cwd=cwd, stdin=subprocess.DEVNULL)


def _clean(log: str) -> str:
    """The compiler's output without the noise of hipcc's agent probe on a machine
    without an AMD GPU (a Python traceback of rocm_agent_enumerator)."""
    lines, skipping = [], False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            skipping = True
            continue
        if skipping:
            if line.startswith((" ", "\t")):
                continue
            skipping = False
            if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line):
                continue
        lines.append(line)
    return "\n".join(lines).strip()


@functools.lru_cache(maxsize=None)
def _version(exe: str) -> str:
    out = _clean((lambda p: p.stdout + p.stderr)(_run([exe, "--version"], timeout=60)))
    hip = re.search(r"HIP version: *(\S+)", out)
    clang = re.search(r"clang version *(\S+)", out)
    parts = [f"HIP {hip.group(1)}" if hip else None, f"clang {clang.group(1)}" if clang else None]
    summary = ", ".join(p for p in parts if p)
    return summary or (out.splitlines()[0] if out else "(unknown)")


def hipcc_version(exe: Path | None = None) -> str:
    """``HIP 5.2.21153-0, clang 15.0.6``: the HIP and clang versions of hipcc."""
    return _version(str(exe or _require_hipcc()))


@functools.lru_cache(maxsize=None)
def _accepts(exe: str, arch: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as tmp:
        src = Path(tmp) / "probe.hip"
        src.write_text("int tl_probe;\n")
        proc = _run([exe, f"--offload-arch={arch}", "--cuda-device-only", "-E", "-o",
                     os.devnull, str(src)], timeout=60)
    return proc.returncode == 0


def resolve_arch(arch: str, exe: Path | None = None) -> str:
    """The arch hipcc compiles ``arch`` as: ``arch`` itself where the compiler knows it,
    else the closest one it knows (gfx942 → gfx940 with HIP 5.2)."""
    exe_s = str(exe or _require_hipcc())
    for candidate in FALLBACK_ARCHS.get(arch, (arch,)):
        if _accepts(exe_s, candidate):
            return candidate
    raise CompileError(f"hipcc ({hipcc_version(Path(exe_s))}) does not know {arch}",
                       hint="install a newer HIP compiler (ROCm 5.7 or later for gfx942)")


_DIAGNOSTIC = re.compile(r"^(.+?):(\d+):(\d+): (?:fatal )?error:", re.MULTILINE)


def _first_error_loc(log: str) -> SourceLoc | None:
    """The source location of the compiler's first error, where it names one (through
    ``#line`` it is the kernel's Python file)."""
    m = _DIAGNOSTIC.search(log)
    if m is None or m.group(1) == "kernel.hip":
        return None
    return SourceLoc(m.group(1), int(m.group(2)), int(m.group(3)))


@dataclass(frozen=True)
class HipccResult:
    """A code object, the arch it was compiled for, and the compiler's warnings."""

    code_object: bytes
    arch: str
    log: str


def compile_hip(source: str, arch: str, *, kernel: str | None = None,
                flags: tuple[str, ...] | None = None) -> HipccResult:
    """Compile HIP ``source`` to a code object for ``arch`` (``gfx90a``, ``gfx942``...).

    ``flags`` default to ``tilelang.codegen.amd.hip.HIP_FLAGS``. A compiler error is a
    ``CompileError`` naming ``kernel`` and quoting the compiler (whose messages point
    at the Python source through the ``#line`` directives).
    """
    from tilelang.codegen.amd.hip import HIP_FLAGS
    exe = _require_hipcc()
    used = resolve_arch(arch, exe)
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as tmp:
        src, out = Path(tmp) / "kernel.hip", Path(tmp) / "kernel.co"
        src.write_text(source)
        cmd = [str(exe), f"--offload-arch={used}", "--cuda-device-only",
               "--no-gpu-bundle-output", "-c", *(HIP_FLAGS if flags is None else flags),
               "-o", str(out), str(src)]
        try:
            proc = _run(cmd, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise CompileError(f"hipcc ran longer than {TIMEOUT_S} s on the kernel for {used}",
                               kernel=kernel,
                               hint="use smaller tiles or fewer unrolled loops") from None
        log = _clean(proc.stdout + proc.stderr).replace(str(src), "kernel.hip")
        if proc.returncode != 0 or not out.exists():
            raise CompileError(f"hipcc failed for {used} (exit status {proc.returncode}):\n"
                               f"{log}", kernel=kernel, loc=_first_error_loc(log),
                               hint="a bug in the HIP code generator or a feature this "
                                    f"compiler lacks ({exe}, {hipcc_version(exe)}); report it "
                                    "with the HIP source (kernel.compile(...).hip)")
        return HipccResult(out.read_bytes(), used, log)
