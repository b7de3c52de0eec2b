"""Parse a textual kernel signature: ``'A=bf16[2]:16,B=bf16[2],eps=f32'``.

A tensor entry is ``NAME=dtype[rank]``, optionally followed by the facts to
specialize on (``TensorType``): ``:16`` for the three alignment facts (Triton's
``*fp32:16``) or a ``+``-joined list such as ``:aligned+unit_stride`` or
``:16+wide`` (``wide``: shapes and strides need 64 bits). No suffix: no facts.
"""

from __future__ import annotations

import re
from typing import Any

from tilelang.errors import CompileError
from tilelang.ir.types import ALIGNMENT_FACTS, DTYPES_BY_NAME, TENSOR_FACTS

_ENTRY = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z0-9_]+)\s*(?:\[\s*(\d+)\s*\])?\s*"
                    r"(?::\s*([\w+]+))?\s*$")
_TYPE = re.compile(r"^([A-Za-z0-9_]+)(?:\[(\d+)\])?(?::([\w+]+))?$")


def parse_signature(kernel: Any, signature: Any) -> tuple:
    """The ``ParamSpec`` of each runtime parameter of ``kernel``, in order."""
    from tilelang.frontend.kernel_def import ParamSpec
    if signature is None:
        signature = {}
    if isinstance(signature, str):
        entries = [e for e in signature.split(",") if e.strip()]
        signature = {}
        for e in entries:
            m = _ENTRY.match(e)
            if not m:
                raise CompileError(f"bad signature entry {e.strip()!r}", kernel=kernel.name,
                                   hint="write NAME=dtype[rank] for tensors (NAME=dtype[rank]:16 "
                                        "when 16-byte aligned and contiguous), NAME=dtype for "
                                        "scalars, e.g. 'A=bf16[2]:16,eps=f32'")
            text = f"{m.group(2)}[{m.group(3)}]" if m.group(3) else m.group(2)
            signature[m.group(1)] = text + (f":{m.group(4)}" if m.group(4) else "")
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
        text = re.sub(r"\s+", "", str(signature[name]))
        m = _TYPE.match(text)
        if not m or m.group(1) not in DTYPES_BY_NAME:
            raise CompileError(f"bad type {text!r} for '{name}'", kernel=kernel.name,
                               hint=f"dtypes: {', '.join(DTYPES_BY_NAME)}")
        rank = int(m.group(2)) if m.group(2) is not None else None
        if kernel.param_kinds[name] == "tensor" and rank is None:
            raise CompileError(f"'{name}' is a tensor: give its rank, e.g. {text}[2]",
                               kernel=kernel.name)
        facts = _facts(kernel, name, m.group(3), rank)
        out.append(ParamSpec(name, DTYPES_BY_NAME[m.group(1)], rank, facts))
    return tuple(out)


def _facts(kernel: Any, name: str, text: str | None, rank: int | None) -> tuple[str, ...]:
    """The facts of a ``:16`` / ``:aligned+unit_stride`` suffix, in ``TENSOR_FACTS`` order."""
    if text is None:
        return ()
    if rank is None:
        raise CompileError(f"'{name}' is a scalar: only tensors take facts (':{text}')",
                           kernel=kernel.name)
    names = set(text.split("+"))
    if "16" in names:           # the three alignment facts, e.g. ':16+wide'
        names = (names - {"16"}) | set(ALIGNMENT_FACTS)
    unknown = sorted(names - set(TENSOR_FACTS))
    if unknown or "" in names:
        raise CompileError(f"bad facts ':{text}' for '{name}'", kernel=kernel.name,
                           hint=f"write :16 for the alignment facts or join some of "
                                f"16, {', '.join(TENSOR_FACTS)} with '+'")
    return tuple(f for f in TENSOR_FACTS if f in names)
