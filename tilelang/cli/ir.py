"""``tilelang ir FILE.py:KERNEL``: print a kernel's IR after each compiler stage."""

from __future__ import annotations

import argparse

from tilelang.cli.common import UsageError, compile_from_args, shared_memory_line


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
    shared = shared_memory_line(compiled)
    if shared is not None:
        print(shared)
    for i, name in enumerate(chosen):
        if len(chosen) > 1:
            print(f"{'' if i == 0 else chr(10)}// ----- IR after {name} -----")
        print(stages[name], end="" if stages[name].endswith("\n") else "\n")
    return 0


def add_ir_parser(sub: argparse._SubParsersAction) -> None:
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
