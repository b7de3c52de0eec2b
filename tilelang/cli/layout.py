"""``tilelang layout EXPR``: a layout's ownership table, or a PNG of it."""

from __future__ import annotations

import argparse

from tilelang.cli.common import UsageError


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


def add_layout_parser(sub: argparse._SubParsersAction) -> None:
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
