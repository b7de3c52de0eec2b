"""The blocked register layout used by lower-to-threads for every tile.

A tile of ``numel`` elements (row-major flat index ``e``) is spread over ``T``
threads in chunks of ``vec`` consecutive elements: thread ``t``'s slot ``r``
holds ``e = ((r // vec) * T + t) * vec + r % vec``. Slots whose ``e >= numel``
are padding (``valid`` is false) and never reach memory. The layout depends only
on ``numel`` and ``T`` (not on the dtype), so ``reshape`` and elementwise ops
between dtypes (casts, comparisons) pair slots one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Blocked:
    """``numel`` elements over ``threads`` threads, ``vec`` consecutive per chunk."""

    numel: int
    threads: int
    vec: int

    @property
    def slots(self) -> int:
        return math.ceil(self.numel / (self.vec * self.threads)) * self.vec

    def slot_base(self, r: int) -> int:
        """``e - t * vec`` for slot ``r``: the flat index is ``tid * vec + slot_base(r)``."""
        return (r // self.vec) * self.threads * self.vec + r % self.vec

    def always_valid(self, r: int) -> bool:
        """Whether slot ``r`` holds a real element in every thread."""
        return self.slot_base(r) + (self.threads - 1) * self.vec < self.numel

    def never_valid(self, r: int) -> bool:
        return self.slot_base(r) >= self.numel

    def __str__(self) -> str:
        return f"blocked(numel={self.numel}, threads={self.threads}, vec={self.vec})"


MAX_VEC = 8  # 16 bytes of a 16-bit dtype


def blocked(numel: int, threads: int) -> Blocked:
    """The blocked layout for a tile: chunks of up to 8 elements when every thread
    gets one."""
    vec = MAX_VEC
    while vec > 1 and vec * threads > numel:
        vec //= 2
    return Blocked(numel, threads, vec)


def row_major_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    return tuple(reversed(strides))
