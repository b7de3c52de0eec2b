"""The ``tilelang`` command line: ``tilelang ir FILE.py:KERNEL ...`` prints a kernel's IR;
``tilelang compile FILE.py:KERNEL ...`` writes PTX, cubin, a C launcher and a manifest;
``tilelang layout EXPR [-o FILE.png]`` shows a register or shared layout;
``tilelang tune FILE.py:KERNEL --sizes ...`` runs an autotuning sweep.

Every subcommand is a thin layer over the library; bad arguments give a
one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from tilelang.cli.cache import add_cache_parser
from tilelang.cli.common import Parser, UsageError
from tilelang.cli.compile import add_compile_parser
from tilelang.cli.ir import add_ir_parser
from tilelang.cli.layout import add_layout_parser
from tilelang.cli.tune import add_tune_parser
from tilelang.errors import TileLangError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tilelang", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_ir_parser, add_compile_parser, add_layout_parser, add_cache_parser,
                add_tune_parser):
        add(sub)
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
