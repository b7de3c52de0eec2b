"""SASS (the GPU's machine code) of a cubin, for checking what a kernel compiles to.

``disassemble(cubin)`` runs ``nvdisasm --print-code`` (the ``nvidia-cuda-nvdisasm``
wheel, part of the ``test`` extra), else ``cuobjdump -sass``. Both are found
like ptxas: in the ``nvidia`` namespace package's ``*/bin`` folders
(``cuda_nvdisasm/bin`` in CUDA 12 wheels, ``cu13/bin`` in CUDA 13 ones), then
on ``PATH``. nvdisasm comes first because CUDA 13's ``cuobjdump -sass`` only
forwards to an nvdisasm it must find itself; cuobjdump is kept for toolkits
installed on ``PATH``, which ship both.

The helpers read the text either tool prints::

    opcodes(sass)               # ['LDC', 'S2R', 'LDG.E.128', 'HMMA.16816.F32.BF16', ...]
    count(sass, "HMMA")         # instructions whose opcode is HMMA or HMMA.<modifiers>
    histogram(sass)             # Counter of full opcodes
    access_widths(sass, "LDG")  # Counter of bits per thread: {128: 4, 32: 2}

An opcode prefix matches whole dot-separated parts: ``count(sass, "LDS")``
counts ``LDS`` and ``LDS.128`` but not ``LDSM`` (ldmatrix).

What the PTX of interest becomes (CUDA 13 ptxas, sm_80 and sm_90a alike):
``mma.sync.m16n8k16`` → ``HMMA.16816.F32.BF16``; ``ldmatrix`` → ``LDSM.16.M88.4``;
``cp.async.cg ... 16`` → ``LDGSTS.E.BYPASS.128``; ``ld.global.v4.f32`` →
``LDG.E.128`` (``LDG.E.128.CONSTANT`` with ``.nc``). A cache-hint modifier such
as ``LTC128B`` (``ld.global.L2::128B``) is not a size: ``access_bits`` reads
only the size modifiers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from tilelang.codegen.nvidia.wheels import wheel_binary
from tilelang.errors import CompileError

__all__ = ["INSTALL_HINT", "access_bits", "access_widths", "count", "disassemble",
           "find_disassembler", "find_tool", "histogram", "matches", "opcodes"]

TIMEOUT_S = 120
TOOLS = ("nvdisasm", "cuobjdump")   # in order of preference
_COMMANDS = {"nvdisasm": ["--print-code"], "cuobjdump": ["-sass"]}
INSTALL_HINT = ("pip install nvidia-cuda-nvdisasm (the test extra; match nvidia-cuda-nvcc's "
                "CUDA major), or put nvdisasm or cuobjdump on PATH")


_wheel_binary = wheel_binary   # (a module attribute, so tests can replace it)


def find_tool(name: str) -> Path | None:
    """``nvdisasm`` or ``cuobjdump`` from the nvidia wheels, else from PATH; None if absent."""
    found = _wheel_binary(name)
    if found is not None:
        return found
    which = shutil.which(name)
    return Path(which) if which else None


def find_disassembler() -> tuple[str, Path] | None:
    """The first of ``TOOLS`` that is installed, as ``(name, path)``, or None."""
    for name in TOOLS:
        path = find_tool(name)
        if path is not None:
            return name, path
    return None


def disassemble(cubin: bytes) -> str:
    """The SASS text of ``cubin`` (every function in it).

    Raises ``CompileError`` when ``cubin`` is not an ELF file, when no
    disassembler is installed (with the install hint) or when the tool fails.
    """
    if cubin[:4] != b"\x7fELF":
        raise CompileError("not a cubin (no ELF header)",
                           hint="pass CompiledKernel.cubin, which needs ptxas")
    tool = find_disassembler()
    if tool is None:
        raise CompileError("neither nvdisasm nor cuobjdump was found", hint=INSTALL_HINT)
    name, exe = tool
    with tempfile.TemporaryDirectory(prefix="tilelang-sass-") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        cmd = [str(exe), *_COMMANDS[name], str(path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise CompileError(f"{name} ran longer than {TIMEOUT_S} s") from None
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().replace(str(path), "kernel.cubin")
        if name == "cuobjdump" and "nvdisasm" in message:
            hint = INSTALL_HINT     # cuobjdump -sass delegates to nvdisasm
        else:
            hint = f"the cubin may be for an architecture this {name} ({exe}) does not know"
        raise CompileError(f"{name} failed (exit status {proc.returncode}): {message}",
                           hint=hint)
    return proc.stdout


# ``/*0040*/  @!P0 LDG.E.128 R4, desc[UR4][R2.64] ;`` (nvdisasm) or the same with a
# trailing encoding comment (cuobjdump). The address comment anchors an instruction
# (labels and directives have none); a guard predicate (@P0, @!PT, @UP1) may precede
# the opcode.
_INSTRUCTION = re.compile(
    r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P[0-9T]\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)")


def opcodes(sass: str) -> list[str]:
    """The full opcode (with its modifiers) of every instruction, in order."""
    return _INSTRUCTION.findall(sass)


def histogram(sass: str) -> Counter[str]:
    """How many times each full opcode occurs."""
    return Counter(opcodes(sass))


def matches(opcode: str, prefix: str) -> bool:
    """Whether ``opcode`` is ``prefix`` or ``prefix`` followed by more modifiers."""
    return opcode == prefix or opcode.startswith(prefix + ".")


def count(sass: str, opcode_prefix: str) -> int:
    """How many instructions have an opcode starting with the dot-separated ``opcode_prefix``."""
    return sum(matches(op, opcode_prefix) for op in opcodes(sass))


# The size modifiers of SASS memory instructions; without one an access is 32 bits.
_SIZES = {"U8": 8, "S8": 8, "U16": 16, "S16": 16, "32": 32, "64": 64, "128": 128, "256": 256}


def access_bits(opcode: str) -> int:
    """Bits one thread moves with the memory instruction ``opcode`` (``LDG.E.128`` → 128).

    Only whole size modifiers count, so ``LDG.E.LTC128B`` (a cache hint) is 32.
    """
    for part in opcode.split(".")[1:]:
        if part in _SIZES:
            return _SIZES[part]
    return 32


def access_widths(sass: str, opcode_prefix: str) -> Counter[int]:
    """How many instructions matching ``opcode_prefix`` move each width (bits per thread)."""
    return Counter(access_bits(op) for op in opcodes(sass) if matches(op, opcode_prefix))
