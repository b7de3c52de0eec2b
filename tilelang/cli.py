"""The ``tilelang`` command line: ``tilelang ir FILE.py:KERNEL ...`` prints a kernel's IR;
``tilelang compile FILE.py:KERNEL ...`` writes PTX, cubin, a C launcher and a manifest;
``tilelang layout EXPR [-o FILE.png]`` shows a register or shared layout;
``tilelang tune FILE.py:KERNEL --sizes ...`` runs an autotuning sweep.

Every subcommand is a thin layer over the library; bad arguments give a
one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any, Sequence

from tilelang.errors import TileLangError
from tilelang.frontend.source import import_file


class UsageError(Exception):
    """Bad command-line arguments (exit status 2)."""


def load_target(spec: str, tag: str = "cli") -> tuple[Any, str, str]:
    """``(module, name, path)`` for ``FILE.py:NAME``: the file imported as a module."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected FILE.py:KERNEL, got {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        return import_file(file, tag), name, path
    except ImportError:
        raise UsageError(f"cannot import {path}") from None


def load_kernel(spec: str) -> Any:
    """The kernel object named by ``FILE.py:KERNEL``."""
    from tilelang.frontend.kernel import Kernel
    module, name, path = load_target(spec)
    kernel = getattr(module, name, None)
    if not isinstance(kernel, Kernel):
        found = [k for k, v in vars(module).items() if isinstance(v, Kernel)]
        raise UsageError(f"{path} has no @tl.kernel named {name!r} (kernels: "
                         f"{', '.join(found) or 'none'})")
    return kernel


def parse_defines(defines: Sequence[str]) -> dict[str, Any]:
    """``-D NAME=VALUE`` pairs; values are Python literals or dtype names."""
    from tilelang.ir.types import DTYPES_BY_NAME
    out: dict[str, Any] = {}
    for d in defines:
        name, sep, text = d.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"expected -D NAME=VALUE, got {d!r}")
        if text in DTYPES_BY_NAME:
            out[name] = DTYPES_BY_NAME[text]
            continue
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


def _one_line(e: Exception) -> str:
    """A library error as one line (its hint, if any, joined with '; ')."""
    message = getattr(e, "message", None) or str(e)
    hint = getattr(e, "hint", None)
    return f"{message}; {hint}" if hint else message


def compile_from_args(args: argparse.Namespace, gpu_only: bool = False) -> Any:
    """Load ``args.kernel`` and compile it for ``args.signature``, ``args.define`` and
    ``args.target``; bad arguments (target, signature, constexpr names) are a
    ``UsageError``, errors of the compiler itself stay ``TileLangError``."""
    from tilelang.errors import LaunchError
    from tilelang.frontend.signature import parse_signature
    from tilelang.runtime.targets import GPU_TARGETS, get_target
    try:
        get_target(args.target)
    except LaunchError as e:
        raise UsageError(_one_line(e)) from None
    if gpu_only and args.target not in GPU_TARGETS:
        raise UsageError(f"target '{args.target}' produces no GPU code; targets: "
                         f"{', '.join(GPU_TARGETS)}")
    kernel = load_kernel(args.kernel)
    defines = parse_defines(args.define)
    unknown = sorted(set(defines) - set(kernel.constexpr_names))
    if unknown:
        raise UsageError(f"-D {', '.join(unknown)}: not a constexpr of {kernel.name} "
                         f"(constexprs: {', '.join(kernel.constexpr_names) or 'none'})")
    try:
        signature = args.signature
        if getattr(kernel, "persistent", False):
            # the logical-grid parameters a persistent kernel gains (Kernel.compile adds
            # them too): the user's signature names only the kernel's own parameters
            from tilelang.frontend.kernel import _with_tile_params
            signature = _with_tile_params(signature)
        parse_signature(kernel, signature)
    except TileLangError as e:
        raise UsageError(f"--signature: {_one_line(e)}") from None
    num_warps = getattr(args, "num_warps", None)
    return kernel.compile(args.signature, target=args.target, num_warps=num_warps, **defines)


def cmd_ir(args: argparse.Namespace) -> int:
    compiled = compile_from_args(args)
    stages = compiled.ir
    if args.after == "all":
        chosen = list(stages)
    elif args.after is None:
        chosen = [list(stages)[-1]]
    elif args.after in stages:
        chosen = [args.after]
    else:
        raise UsageError(f"unknown stage {args.after!r}; stages: {', '.join(stages)}, all")
    for i, name in enumerate(chosen):
        if len(chosen) > 1:
            print(f"{'' if i == 0 else chr(10)}// ----- IR after {name} -----")
        print(stages[name], end="" if stages[name].endswith("\n") else "\n")
    return 0


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
    from tilelang.codegen.aot import write_artifacts
    from tilelang.codegen.aot_hip import write_hip_artifacts
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
    return 0


def cmd_layout(args: argparse.Namespace) -> int:
    from tilelang.ir.layout_table import describe, resolve_layout
    from tilelang.ir.layouts import LayoutError
    try:
        layout = resolve_layout(args.expr, shared=True if args.shared else None)
        if args.output is None:
            print(describe(layout, elem_bits=args.elem_bits), end="")
            return 0
        from tilelang.ir.layout_render import render_layout
        path = render_layout(layout, args.output, elem_bits=args.elem_bits, title=args.title)
    except LayoutError as e:
        # a bad expression is a bad argument: one line (the hint, if any, is dropped)
        raise UsageError(e.message) from None
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"wrote {path}")
    return 0


def _layout_epilog() -> str:
    """The named layouts, for ``tilelang layout --help``."""
    from tilelang.ir.layout_table import FUNCTIONS, PRESETS
    from tilelang.ir.layouts import REGISTER_CONSTRUCTORS
    from tilelang.ir.shared_layouts import SHARED_CONSTRUCTORS
    lines = ["register layouts: products ('*') of " + ", ".join(f"{n}(...)" for n in
                                                              REGISTER_CONSTRUCTORS),
             "  e.g. 'local(2, 1) * spatial(8, 4) * local(1, 2)'", "", "presets:"]
    width = max(map(len, PRESETS))
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in PRESETS.items()]
    lines += ["", "parametric layouts (usable in products, as are presets called 'mma_c()'):"]
    lines += [f"  {sig}  {what}" for _, sig, what in FUNCTIONS.values()]
    lines += ["", "shared layouts (" + ", ".join(SHARED_CONSTRUCTORS) + "):",
              "  e.g. 'swizzled(row_major(16, 64), Swizzle(3, 3, 3))'"]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump), exit status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tilelang", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ir = sub.add_parser("ir", help="print a kernel's IR after each compiler stage",
                        description="Print the IR of FILE.py:KERNEL specialized for a signature.")
    ir.add_argument("kernel", help="FILE.py:KERNEL")
    ir.add_argument("--signature", "-s", default=None,
                    help="runtime parameters, e.g. 'A=bf16[2],B=bf16[2],eps=f32'")
    ir.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                    help="a constexpr value (repeatable)")
    ir.add_argument("--target", default="interp", help="target (default: interp)")
    ir.add_argument("--after", default=None,
                    help="stage to print: a pass name, 'input', or 'all' (default: last)")
    ir.set_defaults(run=cmd_ir)
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
    lay = sub.add_parser("layout", help="print a layout's ownership table, or draw it as a PNG",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Show which thread and register slot holds each element "
                                     "of a register layout (or each element's offset and "
                                     "bank in a shared layout).",
                         epilog=_layout_epilog())
    lay.add_argument("expr", metavar="EXPR", help="a layout expression or preset name")
    lay.add_argument("-o", "--output", default=None, metavar="FILE.png",
                     help="draw the layout to this PNG instead of printing a table")
    lay.add_argument("--shared", action="store_true",
                     help="read EXPR as a shared layout (the default when it starts with "
                          "row_major or swizzled)")
    lay.add_argument("--elem-bits", type=int, default=16, choices=(8, 16, 32, 64),
                     help="element width placing shared elements in banks (default: 16)")
    lay.add_argument("--title", default=None, help="the PNG's title (default: the expression)")
    lay.set_defaults(run=cmd_layout)
    from tilelang.cli_cache import add_cache_parser
    add_cache_parser(sub)
    from tilelang.cli_tune import add_tune_parser
    add_tune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"tilelang {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TileLangError as e:
        print(f"tilelang {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
