"""What the GPU-common lowering asks of a vendor's passes.

``passes/gpu/`` lowers what every GPU shares. Where a step depends on the
vendor's hardware -- which matrix instruction a ``tl.dot`` becomes (mma.sync or
wgmma on NVIDIA, MFMA on AMD), how much scratch such a dot stages, an
accumulator layout the instruction fixes (wgmma's), the ops only one vendor has
(TMA and mbarrier rings) -- it asks the ``VendorLowering`` of the function.
``passes/nvidia/vendor.py`` and ``passes/amd/vendor.py`` define one each and the
``tilelang.passes`` package registers both, so no module of ``passes/gpu``
imports a vendor's.

Which vendor a function belongs to is a target fact: AMD functions carry
``mfma_shapes`` (``target_facts.with_target_facts``), NVIDIA ones do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir.layouts import Layout
from tilelang.ir.types import TileType
from tilelang.ir.values import Function, Value

if TYPE_CHECKING:
    from tilelang.passes.gpu.dot_instr import DotInstr

# ``lower_dot(L, ins, a, b, acc, out_type)``: the accumulator slots of
# ``acc + a @ b`` on the instruction ``ins`` the dot unit selected.
DotLowering = Callable[[Any, "DotInstr", Any, Any, Any, TileType], list[Value]]
# ``dot_scratch(fn)``: a function giving the scratch bytes each ``tl.dot`` of ``fn``
# stages on the instruction it becomes (what it reads in place, or keeps in
# fragments, takes none).
DotScratch = Callable[[Function], Callable[[o.DotOp], int]]
# ``fixed_accumulator(fn, a, b, acc)``: a ``(m, n, warps) -> Layout`` builder when
# the vendor's instruction for this dot fixes the accumulator layout, else None.
FixedAccumulator = Callable[[Function, TileType, TileType, TileType],
                            Callable[[int, int, int], Layout] | None]


@dataclass(frozen=True)
class VendorLowering:
    """One vendor's answers to the GPU-common lowering (see the module docstring)."""

    name: str
    applies: Callable[[Function], bool]
    lower_dot: DotLowering
    dot_scratch: DotScratch
    fixed_accumulator: FixedAccumulator = lambda fn, a, b, acc: None
    op_lowerings: Mapping[type[o.Op], Callable[[Any, Any], None]] = field(default_factory=dict)


_VENDORS: dict[str, VendorLowering] = {}


def register(vendor: VendorLowering) -> None:
    """Make ``vendor`` answer for the functions it ``applies`` to."""
    _VENDORS[vendor.name] = vendor


def of(fn: Function) -> VendorLowering:
    """The vendor lowering that applies to ``fn``."""
    found = [v for v in _VENDORS.values() if v.applies(fn)]
    if len(found) != 1:
        names = ", ".join(v.name for v in found) or "none"
        raise IRError(f"@{fn.name}: expected one vendor lowering to apply, found {names} "
                      f"(registered: {', '.join(_VENDORS) or 'none'}; import tilelang.passes)")
    return found[0]


__all__ = ["DotLowering", "DotScratch", "FixedAccumulator", "VendorLowering", "of", "register"]
