"""Counter-based random numbers: Philox4x32 (``tl.randint``, ``tl.rand``, ``tl.randn``).

Philox4x32-R (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC'11; Random123) maps a 128-bit counter and a 64-bit key to 128 random bits
with R rounds of 32x32->64-bit multiplies and xors. As in Triton and curand,
the key is the seed and the counter is ``(offset, 0, 0, 0)``, so every element
draws from its own counter and no state is kept between calls.

The generator is spelled here as ordinary elementwise tile ops on ``u32`` and
``u64`` (multiply, shift, xor, casts): there is no random op in the IR. Integer
arithmetic is exact on every target, so the bits are identical in the
interpreter, the emulator and the PTX and HIP code, by construction; the only
target-dependent step is ``tl.randn``'s ``log``/``cos``/``sqrt`` (see
docs/semantics.md).
"""

from __future__ import annotations

from typing import Any

from tilelang.errors import CompileError
from tilelang.frontend import semantic as sem
from tilelang.frontend.handles import TileHandle
from tilelang.ir.types import f32, u32, u64

# Philox4x32 multipliers and Weyl key increments (Random123, philox.h)
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
DEFAULT_ROUNDS = 10


def _u32(x: Any) -> TileHandle:
    return sem.cast(x, u32)


def _mulhilo(m: int, x: TileHandle) -> tuple[TileHandle, TileHandle]:
    """(high, low) 32-bit halves of the 64-bit product ``m * x``."""
    p = sem.binary("mul", sem.cast(x, u64), sem.constant(m, u64))
    hi = _u32(sem.binary("shr", p, sem.constant(32, u64)))
    return hi, _u32(p)


def philox(seed: Any, c0: Any, c1: Any, c2: Any, c3: Any,
           n_rounds: int = DEFAULT_ROUNDS) -> tuple[TileHandle, ...]:
    """The four u32 outputs of Philox4x32-``n_rounds`` for key ``seed`` (split into
    its low and high 32 bits) and counter ``(c0, c1, c2, c3)``."""
    if not isinstance(n_rounds, int) or isinstance(n_rounds, bool) or n_rounds < 1:
        raise CompileError(f"n_rounds must be a positive compile-time int, got {n_rounds!r}")
    k0, k1 = _key(seed)
    c = [_u32(v) for v in (c0, c1, c2, c3)]
    for r in range(n_rounds):
        if r:   # the key is bumped between rounds
            k0 = sem.binary("add", k0, sem.constant(PHILOX_W0, u32))
            k1 = sem.binary("add", k1, sem.constant(PHILOX_W1, u32))
        hi0, lo0 = _mulhilo(PHILOX_M0, c[0])
        hi1, lo1 = _mulhilo(PHILOX_M1, c[2])
        c = [sem.binary("xor", sem.binary("xor", hi1, c[1]), k0), lo1,
             sem.binary("xor", sem.binary("xor", hi0, c[3]), k1), lo0]
    return tuple(c)


def _key(seed: Any) -> tuple[TileHandle, TileHandle]:
    if isinstance(seed, bool) or not isinstance(seed, (int, TileHandle)):
        raise CompileError(f"the seed must be an integer scalar, got {seed!r}",
                           hint="pass an int kernel argument or a Python int")
    if isinstance(seed, int):
        seed &= (1 << 64) - 1
        return sem.constant(seed & 0xFFFFFFFF, u32), sem.constant(seed >> 32, u32)
    if not seed.is_scalar or not (seed.dtype.is_int or seed.dtype.is_bool):
        raise CompileError(f"the seed must be an integer scalar, got a {seed.value.type}",
                           hint="use one seed per launch; vary the offsets per element")
    if seed.dtype.bits <= 32:   # a 32-bit seed is the low word; the high word is 0
        return _u32(seed), sem.constant(0, u32)
    wide = sem.cast(seed, u64)
    return _u32(wide), _u32(sem.binary("shr", wide, sem.constant(32, u64)))


def _offsets(offsets: Any) -> TileHandle:
    x = sem.to_handle(offsets, like=None) if not isinstance(offsets, TileHandle) else offsets
    if not (x.dtype.is_int or x.dtype.is_bool):
        raise CompileError(f"random offsets must be integers, got {x.dtype}",
                           hint="e.g. offsets = start + tl.arange(0, BLOCK)")
    return x


def randint(seed: Any, offsets: Any, n_rounds: int = DEFAULT_ROUNDS) -> TileHandle:
    """A random u32 per element of ``offsets``: Philox's first output word."""
    return randint4x(seed, offsets, n_rounds)[0]


def randint4x(seed: Any, offsets: Any, n_rounds: int = DEFAULT_ROUNDS) -> tuple[TileHandle, ...]:
    """All four random u32 words of each element's Philox block."""
    x = _offsets(offsets)
    zero = sem.constant(0, u32)
    return philox(seed, x, zero, zero, zero, n_rounds)


def _uniform(bits: TileHandle) -> TileHandle:
    # the top 24 bits times 2**-24: exact in f32, in [0, 1), never 1.0
    top = sem.binary("shr", bits, sem.constant(8, u32))
    return sem.binary("mul", sem.cast(top, f32), sem.constant(2.0 ** -24, f32))


def rand(seed: Any, offsets: Any, n_rounds: int = DEFAULT_ROUNDS) -> TileHandle:
    """A uniform f32 in [0, 1) per element of ``offsets``."""
    return _uniform(randint(seed, offsets, n_rounds))


def randn(seed: Any, offsets: Any, n_rounds: int = DEFAULT_ROUNDS) -> TileHandle:
    """A standard normal f32 per element of ``offsets`` (Box-Muller on two uniforms)."""
    w0, w1, _, _ = randint4x(seed, offsets, n_rounds)
    u1 = sem.binary("maximum", _uniform(w0), sem.constant(1.0e-7, f32))
    u2 = _uniform(w1)
    r = sem.unary("sqrt", sem.binary("mul", sem.constant(-2.0, f32), sem.unary("log", u1)))
    theta = sem.binary("mul", sem.constant(6.283185307179586, f32), u2)
    return sem.binary("mul", r, sem.unary("cos", theta))
