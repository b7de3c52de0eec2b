"""Counter-based random numbers: Philox4x32-10, as Triton, cuRAND and Random123 define it.

``tl.randint4x(seed, offset)`` runs ten Philox rounds on the counter
``(offset_lo, offset_hi, 0, 0)`` with the key ``(seed_lo, seed_hi)`` and
returns the four u32 words; ``tl.randint`` the first. The rounds are integer
multiplies (a 32 x 32 -> 64-bit product, split into its halves), xors and adds,
built here from ordinary tile ops, so every target computes the same bits.

``tl.rand(seed, offset)``: f32 uniform in [0, 1), the top 24 bits of the first
word times 2**-24 (exact in f32). ``tl.randn``: a standard normal by the
Box-Muller transform of the first two words (``u1`` in (0, 1), so the logarithm
is finite); its bits depend on the targets' ``log``, ``sqrt`` and ``cos``
(exactly the interpreter's on the CPU targets).

``seed`` is an integer scalar (a runtime argument or a Python int; 64 bits
used), ``offset`` an integer tile or scalar: the same ``(seed, offset)`` always
gives the same number, and different offsets independent ones.
"""

from __future__ import annotations

import math
from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.handles import TileHandle
from tilelang.ir.types import f32, u32, u64

ROUNDS = 10
M0, M1 = 0xD2511F53, 0xCD9E8D57          # the multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85          # the Weyl key increments


def _u32(x: Any) -> TileHandle:
    return sem.cast(sem.to_handle(x), u32)


def _split(x: Any, what: str) -> tuple[TileHandle, TileHandle]:
    """The low and high 32 bits of an integer value, as u32."""
    if not sem.is_runtime(x) and (not isinstance(x, int) or isinstance(x, bool)):
        raise CompileError(f"{what} must be an integer, got {x!r}",
                           hint="pass an integer seed and integer offsets")
    h = sem.to_handle(x, u64) if not sem.is_runtime(x) else sem.to_handle(x)
    if not (h.dtype.is_int or h.dtype.is_bool):
        raise CompileError(f"{what} must be an integer, got {h.value.type}",
                           hint="pass an integer seed and integer offsets")
    if h.dtype.bits <= 32:
        return _u32(h), _u32(sem.binary("mul", _u32(h), 0))
    wide = sem.cast(h, u64)
    return sem.cast(wide, u32), sem.cast(sem.binary("shr", wide, sem.constant(32, u64)), u32)


def _mulhilo(m: int, x: TileHandle) -> tuple[TileHandle, TileHandle]:
    p = sem.binary("mul", sem.cast(x, u64), sem.constant(m, u64))
    return sem.cast(sem.binary("shr", p, sem.constant(32, u64)), u32), sem.cast(p, u32)


def philox(seed: Any, offset: Any) -> tuple[TileHandle, ...]:
    """The four u32 words of Philox4x32-10 at counter ``offset`` under key ``seed``."""
    k0, k1 = _split(seed, "tl.rand's seed")
    c0, c1 = _split(offset, "tl.rand's offset")
    zero = sem.binary("mul", c0, 0)
    c2, c3 = zero, zero
    for r in range(ROUNDS):
        hi0, lo0 = _mulhilo(M0, c0)
        hi1, lo1 = _mulhilo(M1, c2)
        c0, c1, c2, c3 = (sem.binary("xor", sem.binary("xor", hi1, c1), k0), lo1,
                          sem.binary("xor", sem.binary("xor", hi0, c3), k1), lo0)
        if r + 1 < ROUNDS:
            k0 = sem.binary("add", k0, sem.constant(W0, u32))
            k1 = sem.binary("add", k1, sem.constant(W1, u32))
    return c0, c1, c2, c3


def uniform(word: TileHandle, half: bool = False) -> TileHandle:
    """The top 24 bits of ``word`` as f32 in [0, 1) (in (0, 1) with ``half``)."""
    top = sem.cast(sem.binary("shr", word, sem.constant(8, u32)), f32)
    if half:
        top = sem.binary("add", top, 0.5)
    return sem.binary("mul", top, 2.0 ** -24)


def normal(w0: TileHandle, w1: TileHandle) -> TileHandle:
    u1, u2 = uniform(w0, half=True), uniform(w1)
    radius = sem.unary("sqrt", sem.binary("mul", sem.unary("log", u1), -2.0))
    return sem.binary("mul", radius, sem.unary("cos", sem.binary("mul", u2, 2.0 * math.pi)))


__all__ = ["M0", "M1", "ROUNDS", "W0", "W1", "normal", "philox", "uniform"]
