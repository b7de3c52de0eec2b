"""Runs a named pipeline of passes, verifying between passes and keeping each stage's IR."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tilelang.errors import IRError
from tilelang.ir.values import Module
from tilelang.ir.verifier import VerifiedOps, verify_module

PassFn = Callable[[Module], Module]


@dataclass
class PassResult:
    """The final module and, when asked, the module after each pass (in order)."""

    module: Module
    stages: list[tuple[str, Module]] = field(default_factory=list)


def run_pipeline(module: Module, passes: list[tuple[str, PassFn]], *,
                 keep_stages: bool = False, verify: bool = True) -> PassResult:
    """Apply ``passes`` in order; ``keep_stages`` records the input and each output."""
    result = PassResult(module)
    verified = VerifiedOps()   # ops a pass keeps unchanged are not re-verified
    if keep_stages:
        result.stages.append(("input", module))
    checked: tuple = ()   # the functions of the module verified last
    for name, fn in passes:
        module = fn(module)
        # functions are immutable: a pass that kept every one of them (it had nothing
        # to do) leaves nothing new to verify
        if verify and not _same(module.functions, checked):
            try:
                verify_module(module, verified)
            except IRError as e:
                raise IRError(f"IR is invalid after pass '{name}': {e}") from None
            checked = tuple(module.functions)
        if keep_stages:
            result.stages.append((name, module))
    result.module = module
    return result


def _same(functions: list | tuple, checked: tuple) -> bool:
    return len(functions) == len(checked) and all(a is b for a, b in zip(functions, checked))
