"""AMD's answers to the GPU-common lowering (``passes/gpu/vendor.py``).

A ``tl.dot`` the dot unit gives an MFMA instruction lowers in ``lower_mfma``;
what it stages in LDS is what every fragment instruction stages
(``shared_operands.fragment_dot_scratch``). MFMA fixes no accumulator layout
beyond the one assign-layouts picks, and AMD has no ops of its own for
lower-to-threads.
"""

from __future__ import annotations

from typing import Any

from tilelang.ir.types import TileType
from tilelang.ir.values import Function, Value
from tilelang.passes.gpu import target_facts
from tilelang.passes.gpu.shared_operands import fragment_dot_scratch
from tilelang.passes.gpu.vendor import VendorLowering
from tilelang.passes.amd.lower_mfma import lower_dot_mfma


def _applies(fn: Function) -> bool:
    return bool(target_facts.mfma_shapes(fn))


def _lower_dot(L: Any, ins: Any, a: Any, b: Any, acc: Any, out_t: TileType) -> list[Value]:
    return lower_dot_mfma(L, ins, a, b, acc, out_t)


AMD = VendorLowering(name="amd", applies=_applies, lower_dot=_lower_dot,
                     dot_scratch=fragment_dot_scratch)
