"""Parse a textual kernel signature: ``'A=bf16[2],B=bf16[2],eps=f32'``."""

from __future__ import annotations

import re
from typing import Any

from tilelang.errors import CompileError
from tilelang.ir.types import DTYPES_BY_NAME

_ENTRY = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z0-9_]+)\s*(?:\[\s*(\d+)\s*\])?\s*$")


def parse_signature(kernel: Any, signature: Any) -> tuple:
    """The ``ParamSpec`` of each runtime parameter of ``kernel``, in order."""
    from tilelang.frontend.kernel import ParamSpec
    if signature is None:
        signature = {}
    if isinstance(signature, str):
        entries = [e for e in signature.split(",") if e.strip()]
        signature = {}
        for e in entries:
            m = _ENTRY.match(e)
            if not m:
                raise CompileError(f"bad signature entry {e.strip()!r}", kernel=kernel.name,
                                   hint="write NAME=dtype[rank] for tensors, NAME=dtype for "
                                        "scalars, e.g. 'A=bf16[2],eps=f32'")
            signature[m.group(1)] = f"{m.group(2)}[{m.group(3)}]" if m.group(3) else m.group(2)
    runtime = [n for n, k in kernel.param_kinds.items() if k != "constexpr"]
    unknown = set(signature) - set(runtime)
    if unknown:
        raise CompileError(f"signature names unknown parameter(s) {sorted(unknown)}",
                           kernel=kernel.name, hint=f"runtime parameters: {runtime}")
    out = []
    for name in runtime:
        if name not in signature:
            raise CompileError(f"signature is missing parameter '{name}'", kernel=kernel.name,
                               hint="give every non-constexpr parameter, e.g. A=f32[2]")
        text = str(signature[name]).strip()
        m = re.match(r"^([A-Za-z0-9_]+)(?:\[(\d+)\])?$", text)
        if not m or m.group(1) not in DTYPES_BY_NAME:
            raise CompileError(f"bad type {text!r} for '{name}'", kernel=kernel.name,
                               hint=f"dtypes: {', '.join(DTYPES_BY_NAME)}")
        rank = int(m.group(2)) if m.group(2) is not None else None
        if kernel.param_kinds[name] == "tensor" and rank is None:
            raise CompileError(f"'{name}' is a tensor: give its rank, e.g. {text}[2]",
                               kernel=kernel.name)
        out.append(ParamSpec(name, DTYPES_BY_NAME[m.group(1)], rank))
    return tuple(out)
