"""``tilelang tune FILE.py:KERNEL --sizes M=256,N=256 ...``: run an autotuning sweep and
write its report (CSV, JSON, PNG) into ``-o DIR``.

The file provides the inputs: a function ``tune_inputs(**sizes)`` returning a dict
with ``args`` (the launch's positional arguments), ``grid`` (a tuple, or a callable
of the configuration's constexprs) and optionally ``kwargs`` (constexprs that are
not tuned), ``reference`` (``reference(**inputs)`` giving the expected output),
``rtol`` and ``atol``. The candidates are ``--space`` when given, else those of
``KERNEL`` when it is a ``@tl.autotune``, else the file's ``TUNE_SPACE`` dict.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any, Sequence

from tilelang.cli.common import UsageError, load_target, one_line


def parse_sizes(text: str | None) -> dict[str, Any]:
    """``M=256,N=256`` as a dict of Python literals."""
    out: dict[str, Any] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"--sizes: expected NAME=VALUE[,NAME=VALUE...], got {part!r}")
        try:
            out[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise UsageError(f"--sizes: {name.strip()}={value.strip()} is not a number") from None
    return out


def parse_space(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--space BM=32,64 --space num_warps=4,8`` as the grid form of a search space."""
    space: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip().isidentifier() or not values.strip():
            raise UsageError(f"--space: expected NAME=V1,V2,..., got {item!r}")
        try:
            space[name.strip()] = [ast.literal_eval(v.strip()) for v in values.split(",")]
        except (ValueError, SyntaxError):
            raise UsageError(f"--space: bad value in {item!r}") from None
    return space


def _load(spec: str) -> tuple[Any, Any]:
    """The module of ``FILE.py`` and its object ``KERNEL``."""
    module, name, _ = load_target(spec, "tune")
    return module, getattr(module, name, None)


def cmd_tune(args: argparse.Namespace) -> int:
    from tilelang.errors import LaunchError
    from tilelang.runtime.kernel import Kernel
    from tilelang.autotune.bench import EmulatorBenchmarker, GpuBenchmarker
    from tilelang.autotune.report import summary, write_report
    from tilelang.autotune.space import expand_space
    from tilelang.autotune.tuner import Autotuner
    from tilelang.runtime.targets import NVIDIA_TARGETS, get_target
    try:
        get_target(args.target)
    except LaunchError as e:
        raise UsageError(one_line(e)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: expected at least 1")
    sizes = parse_sizes(args.sizes)
    space = parse_space(args.space)
    module, obj = _load(args.kernel)
    kernel = getattr(obj, "kernel", obj)
    if not isinstance(kernel, Kernel):
        raise UsageError(f"{args.kernel.rpartition(':')[0]} has no @tl.kernel or "
                         f"@tl.autotune named {args.kernel.rpartition(':')[2]!r}")
    make_inputs = getattr(module, "tune_inputs", None)
    if not callable(make_inputs):
        raise UsageError(f"{module.__file__} defines no tune_inputs(**sizes) returning "
                         f"dict(args=..., grid=...)")
    if space:
        configs = expand_space(space)
    elif isinstance(obj, Autotuner):
        configs = obj.configs
    elif isinstance(getattr(module, "TUNE_SPACE", None), dict):
        configs = expand_space(module.TUNE_SPACE)
    else:
        raise UsageError("no candidates: pass --space NAME=V1,V2 or define TUNE_SPACE in the file")
    try:
        inputs = make_inputs(**sizes)
    except TypeError as e:
        raise UsageError(f"--sizes: tune_inputs rejected them: {e}") from None
    call_args = tuple(inputs["args"])
    call_kwargs = dict(inputs.get("kwargs") or {})
    if args.target in NVIDIA_TARGETS:
        bench: Any = GpuBenchmarker(warmup=args.warmup, repeats=args.repeats)
    else:
        bench = EmulatorBenchmarker(args.target, warmup=args.warmup, repeats=args.repeats)
    names = list(kernel.signature.parameters)
    key = [n for n, v in zip(names, call_args) if hasattr(v, "shape")]
    tuner = Autotuner(kernel, configs=configs, key=key, benchmarker=bench,
                      reference=None if args.no_check else inputs.get("reference"),
                      rtol=inputs.get("rtol", 1e-2), atol=inputs.get("atol", 0.0),
                      jobs=args.jobs, progress=None if not args.quiet else False,
                      cache_results=not args.no_cache, ray=args.ray)
    result = tuner.tune(inputs["grid"], call_args, call_kwargs, target=args.target)
    try:
        paths = write_report(result, args.output)
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(summary(result))
    for p in paths:
        print(f"wrote {p}")
    return 0


def add_tune_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``tune`` to the ``tilelang`` parser."""
    p = sub.add_parser("tune", help="run an autotuning sweep and write a report",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("kernel", help="FILE.py:KERNEL")
    p.add_argument("--sizes", default=None, metavar="NAME=V,...",
                   help="keywords of the file's tune_inputs, e.g. M=256,N=256,K=256")
    p.add_argument("--space", action="append", default=[], metavar="NAME=V1,V2",
                   help="a tuned constexpr or num_warps/num_stages and its values (repeatable)")
    p.add_argument("--target", default="emulate:sm_90a",
                   help="sm_80, sm_90a (GPU timings) or emulate:sm_80, emulate:sm_90a, interp "
                        "(CPU timings, labelled as such) (default: emulate:sm_90a)")
    p.add_argument("-o", "--output", default="tune-report", metavar="DIR",
                   help="folder for tune.csv, tune.json and tune.png (default: tune-report)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="compile in N worker processes (default: up to 8)")
    p.add_argument("--ray", default=None, metavar="ADDRESS|auto",
                   help="compile the candidates on the Ray cluster at ADDRESS and time "
                        "them on its benchmark workers, one GPU each for a GPU target "
                        "(needs the ray extra; --jobs is then the number of compile "
                        "workers)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up runs per config (default: 1)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per config; the median is kept (default: 3)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the correctness check against the file's reference")
    p.add_argument("--no-cache", action="store_true",
                   help="neither read nor store the tuning result on disk")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_tune)
