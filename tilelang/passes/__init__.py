"""Compiler passes: one per file, one explicit registry, a named pipeline per target."""

from __future__ import annotations

from tilelang.errors import LaunchError
from tilelang.passes.gpu import allocate_shared
from tilelang.passes.gpu import assign_layouts
from tilelang.passes.tile import cse
from tilelang.passes.tile import dce
from tilelang.passes.gpu import insert_barriers
from tilelang.passes.gpu import lower_to_threads
from tilelang.passes.tile import simplify
from tilelang.passes.manager import PassFn, PassResult, run_pipeline
from tilelang.passes.tile import persistent
from tilelang.passes.gpu import vectorize
# "pipeline" the pass module; the name ``pipeline`` below is the pipeline lookup function
from tilelang.passes.gpu import pipeline as software_pipeline
from tilelang.passes.gpu import stage_through_shared  # noqa: E402
from tilelang.passes.nvidia import pipeline_tma
from tilelang.passes.nvidia import tma_store
from tilelang.passes.nvidia import wgmma_overlap  # noqa: E402

PASSES: dict[str, PassFn] = {
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
    "interp": ("persistent-tiles", "eliminate-common-subexpressions", "eliminate-dead-code"),
    # every GPU target, NVIDIA and AMD: the function attributes of target_facts (warp
    # size, matrix unit, cp.async / ldmatrix / TMA) decide what each pass does
    "gpu": ("persistent-tiles", "eliminate-common-subexpressions", "eliminate-dead-code",
            "assign-layouts", "stage-through-shared", "pipeline-tma", "tma-store", "pipeline",
            "vectorize",
            "allocate-shared", "lower-to-threads", "overlap-wgmma", "insert-barriers", "simplify",
            "eliminate-common-subexpressions", "eliminate-dead-code"),
}


def pipeline(name: str) -> list[tuple[str, PassFn]]:
    """The ``(pass name, function)`` list of the pipeline called ``name``."""
    if name not in PIPELINES:
        raise LaunchError(f"no pass pipeline named '{name}'",
                          hint=f"pipelines: {', '.join(PIPELINES)}")
    return [(p, PASSES[p]) for p in PIPELINES[name]]


__all__ = ["PASSES", "PIPELINES", "PassResult", "pipeline", "run_pipeline"]
