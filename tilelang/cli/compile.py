"""``tilelang compile FILE.py:KERNEL``: PTX or HIP, the binary, a C launcher and a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tilelang.cli.common import UsageError, compile_from_args, shared_memory_line


def parse_binds(binds: Sequence[str]) -> dict[str, str]:
    """``--bind NAME=EXPR`` pairs naming grid-formula terms (``M=A.shape[0]``)."""
    out: dict[str, str] = {}
    for b in binds:
        name, sep, expr = b.partition("=")
        if not sep or not name.strip().isidentifier() or not expr.strip():
            raise UsageError(f"expected --bind NAME=EXPR, got {b!r}")
        out[name.strip()] = expr.strip()
    return out


def cmd_compile(args: argparse.Namespace) -> int:
    from tilelang.codegen.nvidia.aot import write_artifacts
    from tilelang.codegen.amd.aot import write_hip_artifacts
    from tilelang.codegen.grid_formula import GridFormulaError
    from tilelang.runtime.targets import AMD_TARGETS
    if args.signature is None:
        raise UsageError("--signature is required, e.g. --signature 'A=bf16[2],eps=f32'")
    if args.name is not None and not (args.name.isidentifier() and args.name.isascii()):
        raise UsageError(f"--name {args.name!r} is not a C identifier")
    if args.num_warps is not None and args.num_warps not in (1, 2, 4, 8, 16, 32):
        raise UsageError(f"--num-warps {args.num_warps}: expected 1, 2, 4, 8, 16 or 32")
    binds = parse_binds(args.bind)
    if binds and args.grid is None:
        raise UsageError("--bind names terms of --grid, which is missing")
    compiled = compile_from_args(args, gpu_only=True)
    try:
        write = write_hip_artifacts if args.target in AMD_TARGETS else write_artifacts
        manifest = write(compiled, args.output, name=args.name, grid=args.grid,
                         grid_aliases=binds)
    except GridFormulaError as e:
        raise UsageError(f"--grid: {e}") from None
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    for fname in [*manifest["files"], f"{manifest['name']}.json"]:
        print(str(Path(args.output) / fname))
    shared = shared_memory_line(compiled)
    if shared is not None:      # (stderr: stdout lists only the files written)
        print(shared, file=sys.stderr)
    return 0


def add_compile_parser(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser(
        "compile", help="write a kernel's PTX or HIP, binary, C launcher and manifest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile FILE.py:KERNEL ahead of time and write into DIR: for an NVIDIA "
                    "target NAME.ptx, NAME.cubin (when ptxas is installed) and NAME.h / NAME.c "
                    "(a C99 launcher over the CUDA driver API); for an AMD target NAME.hip, "
                    "and where hipcc is installed NAME.hsaco and NAME.h / NAME.c (a C99 "
                    "launcher over the HIP module API); and NAME.json (the manifest).",
        epilog="grid formula (--grid): 1 to 3 comma-separated expressions of integers, "
               "T.shape[i], T.stride(i),\ninteger scalar parameters, constexprs and --bind "
               "names, with + - * // and cdiv(a, b);\ne.g. --grid 'cdiv(M, BM), cdiv(N, BN)' "
               "--bind M=C.shape[0] --bind N=C.shape[1]")
    comp.add_argument("kernel", help="FILE.py:KERNEL")
    comp.add_argument("--signature", "-s", default=None,
                      help="runtime parameters (required), e.g. 'A=bf16[2]:16,B=bf16[2],eps=f32'")
    comp.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                      help="a constexpr value (repeatable)")
    comp.add_argument("--target", default="sm_90a",
                      help="sm_80, sm_90a, gfx90a or gfx942 (default: sm_90a)")
    comp.add_argument("-o", "--output", default=".", metavar="DIR",
                      help="output folder, created if missing (default: .)")
    comp.add_argument("--name", default=None, metavar="PREFIX",
                      help="file name and C prefix (default: the kernel's name)")
    comp.add_argument("--num-warps", type=int, default=None, metavar="N",
                      help="warps per block (default: the kernel's)")
    comp.add_argument("--grid", default=None, metavar="FORMULA",
                      help="also generate NAME_launch_auto computing the grid from FORMULA")
    comp.add_argument("--bind", action="append", default=[], metavar="NAME=EXPR",
                      help="name a term of the grid formula, e.g. M=A.shape[0] (repeatable)")
    comp.set_defaults(run=cmd_compile)
