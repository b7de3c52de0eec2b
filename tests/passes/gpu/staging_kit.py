"""Helpers for the stage-through-shared and pipeline tests: IR-text pass runs,
lowering a traced kernel through a chosen list of passes, running it in the
emulator and the interpreter."""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import numpy as np

from tilelang.ir import ops
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.values import Function, Module
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES, run_pipeline
from tilelang.emulator.emulator import prepare_threads
from tilelang.interp.interpreter import run_kernel

# The passes around the staging ones that the lowering needs, without the other
# optimizations of the "gpu" pipeline, so these tests see only their effect.
LOWER = ("lower-to-threads", "overlap-wgmma", "insert-barriers", "eliminate-common-subexpressions",
         "eliminate-dead-code")
STAGING = ("stage-through-shared", "pipeline")


def apply(pass_name: str, text: str) -> str:
    """Run one pass on IR text; return the printed result (both sides verified)."""
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES[pass_name](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


def tile_ir(kernel: Any, sig: str, **constexprs: Any) -> Module:
    """The kernel's tile IR after the interp pipeline (CSE, DCE)."""
    return kernel.compile(sig, target="interp", **constexprs).module


def run_passes(module: Module, names: Sequence[str]) -> Module:
    return run_pipeline(module, [(n, PASSES[n]) for n in names]).module


def thread_ops_of(fn: Function, cls: type) -> list:
    return [op for op in ops.walk(fn.body) if isinstance(op, cls)]


def emulate(module: Module, grid: tuple[int, ...], args: list) -> None:
    """Lower ``module`` (tile IR) and run it in the emulator on ``args`` in place."""
    fn = run_passes(module, LOWER).function()
    prepare_threads(fn).run(grid, args, kernel_name=fn.name)


def interpret(module: Module, grid: tuple[int, ...], args: list) -> None:
    fn = module.function()
    run_kernel(fn, tuple(grid) + (1,) * (3 - len(grid)), args)


def random_bf16(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    import ml_dtypes
    return rng.standard_normal(shape).astype(ml_dtypes.bfloat16)
