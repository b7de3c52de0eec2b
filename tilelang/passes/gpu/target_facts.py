"""The target facts the passes read, recorded as function attributes.

Passes know no targets (they import neither ``runtime`` nor ``codegen``): before
the pipeline runs, the runtime's target writes what the lowering must know
about its GPU (``tilelang.hardware.GpuArch``) onto every function, and each
pass reads the attribute with a default that is the NVIDIA behaviour, so IR
written by hand or lowered without a target keeps its meaning:

=====================  ======================================  ===========
attribute              meaning                                 default
=====================  ======================================  ===========
``max_shared_bytes``   the per-block shared (LDS) budget       unchecked
``warp_size``          lanes per warp / wavefront              32
``mfma_shapes``        ``th.mfma`` shapes ``tl.dot`` may use   none (mma)
``async_copy``         whether ``th.cp_async`` may be emitted  true
``mma``                NVIDIA tensor-core instruction          mma.sync
``tma``                pipelined copies may be TMA loads       false
=====================  ======================================  ===========

``num_warps`` counts warps of ``warp_size`` lanes, so a block has
``num_warps * warp_size`` threads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tilelang.hardware import GpuArch
from tilelang.ir.values import Function, Module

WARP_SIZE_ATTR = "warp_size"
MFMA_ATTR = "mfma_shapes"
ASYNC_COPY_ATTR = "async_copy"
MMA_ATTR = "mma"
TMA_ATTR = "tma"


def with_target_facts(module: Module, arch: GpuArch) -> Module:
    """``module`` with every function carrying ``arch``'s facts (see the module doc)."""
    facts: dict[str, Any] = {"max_shared_bytes": arch.max_shared_bytes,
                             WARP_SIZE_ATTR: arch.warp_size}
    if arch.mfma_shapes:
        facts[MFMA_ATTR] = tuple(arch.mfma_shapes)
    if not arch.has_cp_async:
        facts[ASYNC_COPY_ATTR] = False
    if arch.mma != "mma.sync":
        facts[MMA_ATTR] = arch.mma      # lower_wgmma reads it
    if arch.has_tma:
        facts[TMA_ATTR] = True          # pipeline-tma reads it
    return Module(tuple(_with(f, facts) for f in module.functions))


def _with(fn: Function, facts: dict[str, Any]) -> Function:
    attrs = [(k, v) for k, v in fn.attrs if k not in facts]
    attrs.extend(facts.items())
    return replace(fn, attrs=tuple(attrs))


def warp_size(fn: Function) -> int:
    """Lanes per warp of ``fn``'s target (32 unless recorded)."""
    w = fn.attr(WARP_SIZE_ATTR, 32)
    return w if isinstance(w, int) and w in (32, 64) else 32


def num_threads(fn: Function) -> int:
    """Threads per block: ``num_warps * warp_size`` (``num_warps`` 4 unless set; a
    bad hand-written value also reads as 4, and lowering rejects it elsewhere)."""
    warps = fn.attr("num_warps", 4)
    return (warps if isinstance(warps, int) and warps > 0 else 4) * warp_size(fn)


def mfma_shapes(fn: Function) -> tuple[str, ...]:
    """The ``th.mfma`` shapes ``fn``'s target offers, preferred first (empty: none)."""
    shapes = fn.attr(MFMA_ATTR, ())
    return tuple(shapes) if isinstance(shapes, (tuple, list)) else ()


def async_copy(fn: Function) -> bool:
    """Whether ``fn``'s target has asynchronous global-to-shared copies (cp.async)."""
    return fn.attr(ASYNC_COPY_ATTR, True) is not False
