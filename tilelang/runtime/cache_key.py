"""The disk cache's key: what a compiled kernel depends on, as stable JSON and its sha256.

A key covers the kernel's source (its text, the text of the ``@tl.func`` helpers
and plain functions it names, and the values of the global constants it
reads), the constexprs, each runtime parameter's dtype, rank and tensor facts,
``num_warps``/``num_stages``, the kernel options (``persistent``, ``group_m``), the
target, the toolchain the target uses and a hash of tilelang's own sources.
Anything the key cannot describe stably (a constexpr or global whose only
printable form is an address) makes the kernel uncacheable on disk:
``cache_key`` returns ``None`` and the kernel compiles as if there were no disk
cache.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilelang.ir.types import DType

KEY_FORMAT = 1  # bump when the meaning of a key field changes

_compiler_hash: str | None = None
_toolchains: dict[str, str] = {}


class Uncacheable(Exception):
    """A value the key cannot describe without an object address."""


def compiler_hash() -> str:
    """sha256 of the package's own sources (``tilelang/**/*.py`` and the IR grammar),
    computed once per process: editing the compiler invalidates every entry."""
    global _compiler_hash
    if _compiler_hash is None:
        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        files = sorted([*root.rglob("*.py"), *root.rglob("*.lark")])
        for f in files:
            h.update(f.relative_to(root).as_posix().encode())
            h.update(b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
        _compiler_hash = h.hexdigest()
    return _compiler_hash


def toolchain(target: str) -> str:
    """The outside tools a target's artifacts depend on (LLVM through llvmlite for
    NVIDIA's PTX); empty for the CPU targets, whose output is tilelang's alone."""
    if target.startswith("emulate:") or target == "interp":
        return ""
    if target not in _toolchains:
        from importlib import metadata
        try:
            _toolchains[target] = "llvmlite " + metadata.version("llvmlite")
        except metadata.PackageNotFoundError:
            _toolchains[target] = "llvmlite ?"
    return _toolchains[target]


def encode_value(v: Any) -> Any:
    """A JSON form of a constexpr or global value that is equal exactly when the
    values trace the same; ``Uncacheable`` for values without one."""
    from tilelang.frontend.kernel_def import KernelDef, TLFunc
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}  # bool already handled; str keeps big ints exact
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, DType):
        return {"dtype": v.name}
    if isinstance(v, (tuple, list)):
        return {type(v).__name__: [encode_value(x) for x in v]}
    if isinstance(v, (TLFunc, KernelDef)):
        # what it names counts too: two closures of one source differ by their cells
        return {"func": resolved_hash(v.source)}
    if isinstance(v, types.ModuleType):
        return {"module": v.__name__}
    if isinstance(v, types.BuiltinFunctionType) or isinstance(v, type):
        return {"object": f"{getattr(v, '__module__', '')}.{v.__qualname__}"}
    if isinstance(v, types.FunctionType):
        try:
            return {"pyfunc": inspect.getsource(v)}
        except (OSError, TypeError):
            raise Uncacheable(v) from None
    # Other objects (numpy scalars included) print with their type: stable if the
    # repr is, and refused when it shows an address.
    text = repr(v)
    if " at 0x" in text:
        raise Uncacheable(v)
    return {"repr": f"{type(v).__module__}.{type(v).__qualname__}:{text}"}


def _names(node: ast.AST) -> list[str]:
    return sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)})


def resolved_hash(source: Any) -> str:
    """sha256 of a function's source and of what its names resolve to outside it
    (globals and closure variables): the ``@tl.func`` helpers it names, followed
    transitively, plain functions and constants."""
    from tilelang.frontend.kernel_def import TLFunc
    h = hashlib.sha256(source.text.encode())
    seen: set[int] = set()
    pending = [source]
    while pending:
        src = pending.pop()
        for name in _names(src.node):
            if name not in src.globals:
                continue  # a local, a builtin or a parameter
            value = src.globals[name]
            if isinstance(value, TLFunc):
                # hashed when its turn comes (once, so helpers naming each other end)
                if id(value) not in seen:
                    seen.add(id(value))
                    pending.append(value.source)
                h.update(json.dumps([name, "tl.func", value.source.text]).encode())
                continue
            h.update(json.dumps([name, encode_value(value)], sort_keys=True).encode())
    return h.hexdigest()


def source_hash(kernel: Any) -> str:
    """``resolved_hash`` of the kernel's source. Memoized on the kernel: its globals
    are read at the first compile, as the tracer reads them."""
    memo = kernel.__dict__.get("_source_hash")
    if memo is not None:
        return memo
    digest = resolved_hash(kernel.source)
    kernel.__dict__["_source_hash"] = digest
    return digest


@dataclass(frozen=True)
class CacheKey:
    """A specialization's key fields (JSON-ready) and their sha256, the entry's name."""

    fields: dict[str, Any]
    digest: str


def make_key(kernel: Any, spec: Any, target: str) -> CacheKey | None:
    """The disk-cache key of ``kernel`` specialized as ``spec`` for ``target``, or
    ``None`` when something in it has no stable form."""
    try:
        fields = {
            "format": KEY_FORMAT,
            "kernel": kernel.name,
            "source": source_hash(kernel),
            "params": [str(p) for p in spec.params],
            "constexprs": [[n, encode_value(v)] for n, v in spec.constexprs],
            "num_warps": spec.num_warps,
            "num_stages": spec.num_stages,
            "options": [[n, encode_value(v)] for n, v in getattr(spec, "options", ())],
            "target": target,
            "toolchain": toolchain(target),
            "compiler": compiler_hash(),
        }
    except Uncacheable:
        return None
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return CacheKey(fields, hashlib.sha256(text.encode()).hexdigest())


__all__ = ["CacheKey", "Uncacheable", "compiler_hash", "encode_value", "make_key",
           "resolved_hash", "source_hash", "toolchain"]
