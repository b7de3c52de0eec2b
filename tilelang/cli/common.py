"""What the verbs share: loading FILE.py:KERNEL, -D constexprs, compiling from arguments,
and the one-line usage error (exit status 2)."""

from __future__ import annotations

import argparse
import ast
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
    from tilelang.runtime.kernel import Kernel
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


def one_line(e: Exception) -> str:
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
        raise UsageError(one_line(e)) from None
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
            from tilelang.frontend.kernel_def import with_tile_params as _with_tile_params
            signature = _with_tile_params(signature)
        parse_signature(kernel, signature)
    except TileLangError as e:
        raise UsageError(f"--signature: {one_line(e)}") from None
    num_warps = getattr(args, "num_warps", None)
    return kernel.compile(args.signature, target=args.target, num_warps=num_warps, **defines)


def shared_memory_line(compiled: Any) -> str | None:
    """``// shared memory: N bytes per block (target limit L)`` for a kernel compiled
    for a GPU (buffers and exchange scratch as allocate-shared placed them), else
    ``None``."""
    fn = getattr(compiled, "function", None)
    used = fn.attr("shared_bytes") if fn is not None else None
    if not isinstance(used, int):
        return None
    limit = fn.attr("max_shared_bytes")
    tail = f" (target limit {limit})" if isinstance(limit, int) else ""
    return f"// shared memory: {used} bytes per block{tail}"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage dump), exit status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
