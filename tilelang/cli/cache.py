"""``tilelang cache list|clear|dir``: inspect and empty the disk cache of compiled kernels."""

from __future__ import annotations

import argparse
import json
import time

from tilelang import knobs


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds:.0f}s"


def cmd_list(args: argparse.Namespace) -> int:
    from tilelang.runtime import cache
    infos = cache.entries()
    if args.json:
        print(json.dumps([i.as_json() for i in infos], indent=1))
        return 0
    if not infos:
        print(f"no entries in {knobs.cache_dir()}")
        return 0
    now = time.time()
    rows = [(i.kernel, i.target, _size(i.size), _age(now - i.created), i.key[:16])
            for i in infos]
    header = ("KERNEL", "TARGET", "SIZE", "AGE", "KEY")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    for r in [header, *rows]:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)) + "  " + r[4])
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    from tilelang.runtime import cache
    n = cache.clear(args.kernel)
    which = f" of kernel {args.kernel!r}" if args.kernel else ""
    print(f"removed {n} entr{'y' if n == 1 else 'ies'}{which} from {knobs.cache_dir()}")
    return 0


def cmd_dir(args: argparse.Namespace) -> int:
    print(knobs.cache_dir())
    return 0


def add_cache_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``cache`` and its subcommands to the ``tilelang`` parser."""
    p = sub.add_parser("cache", help="list or clear the disk cache of compiled kernels",
                       description="The disk cache of compiled kernels (TILELANG_CACHE_DIR, "
                                   "else ~/.cache/tilelang; TILELANG_CACHE=0 turns it off).")
    csub = p.add_subparsers(dest="cache_command", required=True, metavar="{list,clear,dir}")
    ls = csub.add_parser("list", help="one line per entry: kernel, target, size, age, key",
                         description="List the cache entries, oldest first.")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead")
    ls.set_defaults(run=cmd_list)
    cl = csub.add_parser("clear", help="remove entries",
                         description="Remove every entry, or only those of one kernel.")
    cl.add_argument("--kernel", default=None, metavar="NAME",
                    help="remove only the entries of the kernel called NAME")
    cl.set_defaults(run=cmd_clear)
    d = csub.add_parser("dir", help="print the cache directory",
                        description="Print the cache directory.")
    d.set_defaults(run=cmd_dir)
