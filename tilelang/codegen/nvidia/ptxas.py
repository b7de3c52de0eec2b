"""Finding and running ptxas: PTX → cubin, with its register and spill report.

``find_ptxas()`` looks, in order, at the ``TILELANG_PTXAS`` environment
variable, the ``nvidia-cuda-nvcc`` pip wheel (``nvidia/cuda_nvcc/bin/ptxas`` in
CUDA 12 wheels, ``nvidia/cu13/bin/ptxas`` in CUDA 13 ones) and ``PATH``.
``assemble()`` runs it on a PTX text and raises ``CompileError`` with ptxas'
own message when it fails, and when ptxas reports that it ignored a
``setmaxnreg`` (C7508 and its siblings: the warp-specialized kernel would run
without its register handoff, a silent performance bug of the code generator).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tilelang import knobs
from tilelang.codegen.nvidia.wheels import executable, wheel_binary
from tilelang.errors import CompileError

__all__ = ["AssembleResult", "assemble", "find_ptxas", "ptxas_version"]

ENV_VAR = "TILELANG_PTXAS"
TIMEOUT_S = 300


def _wheel_ptxas() -> Path | None:
    """``bin/ptxas`` of the nvidia-cuda-nvcc wheel (any CUDA wheel layout)."""
    return wheel_binary("ptxas")


def find_ptxas() -> Path | None:
    """The ptxas to use: ``$TILELANG_PTXAS``, the nvidia-cuda-nvcc wheel's, or PATH's."""
    env = knobs.ptxas_path()
    if env:
        p = Path(env).expanduser()
        if not executable(p):
            raise CompileError(f"{ENV_VAR}={env} is not an executable file",
                               hint=f"point {ENV_VAR} at a ptxas binary, or unset it to use "
                                    "the nvidia-cuda-nvcc wheel's")
        return p
    found = _wheel_ptxas()
    if found is not None:
        return found
    which = shutil.which("ptxas")
    return Path(which) if which else None


def _require_ptxas() -> Path:
    exe = find_ptxas()
    if exe is None:
        raise CompileError("ptxas was not found",
                           hint=f"pip install nvidia-cuda-nvcc (or set {ENV_VAR} to a ptxas "
                                "binary, or put one on PATH)")
    return exe


def ptxas_version(exe: Path | None = None) -> str:
    """ptxas' ``release X.Y, VX.Y.Z`` line."""
    exe = exe or _require_ptxas()
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"release [^\n]*", out)
    return m.group(0) if m else out.strip()


@dataclass(frozen=True)
class AssembleResult:
    """A cubin and what ptxas said about it (spills summed over the module's functions)."""

    cubin: bytes
    log: str
    spill_bytes: int
    registers: int


_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
_REGISTERS = re.compile(r"Used (\d+) registers")
# "ptxas info : (C7508) Potential Performance Loss: 'setmaxnreg' ignored; unable to
# determine register count at entry." and the same message for other reasons; only
# in the -v report (ptxas files them under info, not warning).
_SETMAXNREG_IGNORED = re.compile(r"^.*'setmaxnreg' ignored.*$", re.MULTILINE)
_ENTRY = re.compile(r"\.entry\s+([A-Za-z_$][\w$]*)")


def assemble(ptx: str, target: str, *, verbose: bool = False) -> AssembleResult:
    """Assemble ``ptx`` for ``target`` (``sm_80``, ``sm_90a``...) into a cubin.

    ``log`` is ptxas' whole report (``-v``) when ``verbose``, else only its
    warnings. Line info (``.loc``) is kept in the cubin (``-lineinfo``).
    """
    exe = _require_ptxas()
    with tempfile.TemporaryDirectory(prefix="tilelang-ptxas-") as tmp:
        src, out = Path(tmp) / "kernel.ptx", Path(tmp) / "kernel.cubin"
        src.write_text(ptx)
        cmd = [str(exe), f"-arch={target}", "-v", "-lineinfo", "-o", str(out), str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise CompileError(f"ptxas ran longer than {TIMEOUT_S} s on the kernel for {target}",
                               hint="use smaller tiles or fewer unrolled loops") from None
        log = (proc.stdout + proc.stderr).replace(str(src), "kernel.ptx")
        if proc.returncode != 0 or not out.exists():
            raise CompileError(f"ptxas failed for {target} (exit status {proc.returncode}):\n"
                               f"{log.strip()}",
                               hint="a bug in the code generator or a PTX feature this ptxas "
                                    f"lacks ({exe}); report it with the PTX")
        cubin = out.read_bytes()
    ignored = _SETMAXNREG_IGNORED.search(log)
    if ignored:
        entry = _ENTRY.search(ptx)
        raise CompileError(f"ptxas ignored setmaxnreg for {target}: "
                           f"{ignored.group(0).split(':', 1)[-1].strip()}",
                           kernel=entry.group(1) if entry else None,
                           hint="a bug in the code generator: a kernel with setmaxnreg needs "
                                ".maxntid and .minnctapersm 1 so ptxas knows its register "
                                "count at entry; report it with the PTX")
    spills = sum(int(a) + int(b) for a, b in _SPILLS.findall(log))
    registers = max((int(r) for r in _REGISTERS.findall(log)), default=0)
    if not verbose:
        log = "\n".join(line for line in log.splitlines()
                        if line.strip() and not line.startswith("ptxas info")
                        and not line.startswith("    "))
    return AssembleResult(cubin, log, spills, registers)
