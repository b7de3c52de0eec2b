"""NVIDIA's answers to the GPU-common lowering (``passes/gpu/vendor.py``).

A ``tl.dot`` becomes wgmma where ``lower_wgmma`` applies (sm_90a, its shape and
layout rule), else mma.sync (``lower_mma``); wgmma fixes the accumulator layout
(``lower_wgmma.accumulator_layout``) and stages A and B unless it reads them in
place (``lower_wgmma.wgmma_scratch_bytes``), mma.sync may
also stash the accumulator (``shared_operands.fragment_dot_scratch``). The TMA
and mbarrier ring ops and the warp specialization of ``pipeline-tma`` lower in
``lower_tma``.
"""

from __future__ import annotations

from typing import Any, Callable

from tilelang.ir import tma_staging_ops as ts
from tilelang.ir.layouts import Layout
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.ir.types import TileType
from tilelang.ir.values import Function, Value
from tilelang.passes.gpu import target_facts
from tilelang.passes.gpu.dot_instr import DotUnit
from tilelang.passes.gpu.shared_operands import (fragment_dot_scratch, in_place_sources,
                                                 shared_operand_values)
from tilelang.passes.gpu.vendor import VendorLowering
from tilelang.passes.nvidia import lower_tma
from tilelang.passes.nvidia.lower_mma import lower_dot_mma
from tilelang.passes.nvidia.lower_wgmma import (accumulator_layout, target_has_wgmma,
                                                try_lower_dot_wgmma, wgmma_applies,
                                                wgmma_scratch_bytes)


def _applies(fn: Function) -> bool:
    return not target_facts.mfma_shapes(fn)


def _lower_dot(L: Any, ins: Any, a: Any, b: Any, acc: Any, out_t: TileType) -> list[Value]:
    slots = try_lower_dot_wgmma(L, a, b, acc, out_t)
    return slots if slots is not None else lower_dot_mma(L, a, b, acc, out_t)


def _dot_scratch(fn: Function) -> Callable[[Any], int]:
    wgmma = target_has_wgmma(fn)
    in_place = shared_operand_values(fn.body, DotUnit.of(fn))
    mma = fragment_dot_scratch(fn, in_place)
    source = in_place_sources(fn, in_place) if wgmma else None

    def dot(op: Any) -> int:
        staged = wgmma_scratch_bytes(fn, op, source) if wgmma else None
        return staged if staged is not None else mma(op)

    return dot


def _fixed_accumulator(fn: Function, a: TileType, b: TileType,
                       acc: TileType) -> Callable[[int, int, int], Layout] | None:
    return accumulator_layout if wgmma_applies(fn, a, b, acc) else None


NVIDIA = VendorLowering(
    name="nvidia", applies=_applies, lower_dot=_lower_dot, dot_scratch=_dot_scratch,
    fixed_accumulator=_fixed_accumulator,
    op_lowerings={
        ts.MbarrierInitRingOp: lower_tma.lower_init,
        ts.MbarrierExpectOp: lower_tma.lower_expect,
        ts.TmaCopyOp: lower_tma.lower_copy,
        ts.MbarrierWaitRingOp: lower_tma.lower_wait,
        ts.MbarrierInvalRingOp: lower_tma.lower_inval,
        ts.TmaStoreTileOp: lower_tma.lower_store,
        ts.MbarrierArriveRingOp: lower_tma.lower_arrive,
        WarpSpecializeOp: lower_tma.lower_warp_specialize,
    })
