"""Compiler passes: one per file, one explicit registry, a named pipeline per target.

``tile/`` holds the target-neutral tile-IR passes, ``gpu/`` the lowering every GPU
shares (layouts, pipelining, shared memory, tile IR -> thread IR, barriers),
``nvidia/`` and ``amd/`` what only one vendor has; the GPU-common passes reach a
vendor only through the ``VendorLowering`` registered below.
"""

from __future__ import annotations

from tilelang.errors import LaunchError
from tilelang.passes.amd.vendor import AMD
from tilelang.passes.gpu import (allocate_shared, assign_layouts, insert_barriers,
                                 lower_to_threads, stage_through_shared, vectorize, vendor)
from tilelang.passes.gpu import pipeline as software_pipeline   # ``pipeline`` is the lookup below
from tilelang.passes.manager import PassFn, PassResult, run_pipeline
from tilelang.passes.nvidia import pipeline_tma, tma_store, wgmma_overlap
from tilelang.passes.nvidia.vendor import NVIDIA
from tilelang.passes.tile import cse, dce, lower_lowbit, persistent, simplify

PASSES: dict[str, PassFn] = {
    "check-lowbit": lower_lowbit.check,
    "lower-lowbit": lower_lowbit.run,
    "eliminate-common-subexpressions": cse.run,
    "eliminate-dead-code": dce.run,
    "persistent-tiles": persistent.run,
    "vectorize": vectorize.run,
    "assign-layouts": assign_layouts.run,
    "stage-through-shared": stage_through_shared.run,
    "pipeline-tma": pipeline_tma.run,
    "tma-store": tma_store.run,
    "pipeline": software_pipeline.run,
    "allocate-shared": allocate_shared.run,
    "lower-to-threads": lower_to_threads.run,
    "overlap-wgmma": wgmma_overlap.run,
    "insert-barriers": insert_barriers.run,
    "simplify": simplify.run,
}

PIPELINES: dict[str, tuple[str, ...]] = {
    "interp": ("persistent-tiles", "check-lowbit", "eliminate-common-subexpressions",
               "eliminate-dead-code"),
    # every GPU target, NVIDIA and AMD: the function attributes of target_facts (warp
    # size, matrix unit, cp.async / ldmatrix / TMA) decide what each pass does
    "gpu": ("persistent-tiles", "lower-lowbit", "eliminate-common-subexpressions",
            "eliminate-dead-code",
            # (dead code again: what assign-layouts recomputed in another layout)
            "assign-layouts", "eliminate-dead-code", "stage-through-shared", "pipeline-tma",
            "tma-store", "pipeline", "vectorize", "allocate-shared", "lower-to-threads",
            "overlap-wgmma",
            "insert-barriers", "simplify", "eliminate-common-subexpressions",
            "eliminate-dead-code"),
}

# what the GPU-common lowering asks each vendor (passes/gpu/vendor.py)
for _vendor in (NVIDIA, AMD):
    vendor.register(_vendor)


def pipeline(name: str) -> list[tuple[str, PassFn]]:
    """The ``(pass name, function)`` list of the pipeline called ``name``."""
    if name not in PIPELINES:
        raise LaunchError(f"no pass pipeline named '{name}'",
                          hint=f"pipelines: {', '.join(PIPELINES)}")
    return [(p, PASSES[p]) for p in PIPELINES[name]]


__all__ = ["PASSES", "PIPELINES", "PassResult", "pipeline", "run_pipeline"]
