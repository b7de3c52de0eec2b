"""Shared-memory layouts: tile coordinate -> element offset, with XOR swizzles.

``row_major(*shape)`` is the plain layout; ``swizzled(row_major(...), Swizzle(b, m, s))``
permutes 16-byte chunks the way CuTe's ``Swizzle<B, M, S>`` does::

    offset ^ ((offset & (((1 << bits) - 1) << (base + shift))) >> shift)

i.e. the ``bits`` offset bits starting at ``base + shift`` (row bits) are XORed
into the ``bits`` bits starting at ``base`` (the 16-byte chunk within a row).
Offsets are in elements; ``base`` is where a 16-byte chunk starts (3 for 16-bit
elements), so a swizzle never splits a 16-byte vector access.

``bank_conflicts`` counts what the hardware does with an access, and
``choose_swizzle`` picks the smallest swizzle with none for the access
patterns a buffer sees (``"ldmatrix"``, ``"vec16"``). ``str`` prints a layout
and ``parse_shared_layout`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Callable, Iterable, Sequence

import numpy as np

from tilelang.ir.layouts import LayoutError, parse_expr

NUM_BANKS = 32
BANK_BYTES = 4
WAVEFRONT_BYTES = NUM_BANKS * BANK_BYTES   # 128: what one shared-memory wavefront serves
WARP_SIZE = 32


@dataclass(frozen=True)
class Swizzle:
    """CuTe's ``Swizzle<bits, base, shift>`` on element offsets (an involution)."""

    bits: int
    base: int
    shift: int

    def __post_init__(self) -> None:
        if min(self.bits, self.base, self.shift) < 0:
            raise LayoutError(f"{self}: bits, base and shift must be >= 0")
        # Overlapping source and target bits would make it no longer a bijection.
        if self.bits and self.shift < self.bits:
            raise LayoutError(f"{self}: shift must be >= bits so source and target bits differ")

    @property
    def is_identity(self) -> bool:
        return self.bits == 0

    @property
    def period(self) -> int:
        """Offsets move only within aligned blocks of this many elements."""
        return 1 << (self.base + self.bits)

    @property
    def span(self) -> int:
        """The smallest buffer (in elements) whose offsets use every source bit."""
        return 1 << (self.base + self.shift + self.bits)

    def apply(self, offset: np.ndarray | int) -> np.ndarray | int:
        mask = ((1 << self.bits) - 1) << (self.base + self.shift)
        return offset ^ ((offset & mask) >> self.shift)

    def __str__(self) -> str:
        return f"Swizzle({self.bits}, {self.base}, {self.shift})"


@dataclass(frozen=True)
class BlockSwizzle:
    """A ``rows x cols`` tile stored as ``cols/block`` column blocks of ``rows x block``
    elements one after another, each permuted by ``swizzle`` (Hopper's canonical
    layout for rows wider than one swizzle atom, e.g. ``[2][64][64]`` bf16 atoms with
    the 128-byte swizzle for a 64 x 128 tile).

    On element offsets of the row-major tile, element ``(r, c)`` moves to
    ``(c // block) * rows * block + r * block + c % block`` and then ``swizzle``
    applies. ``rows``, ``cols`` and ``block`` are powers of two, so the move is a
    permutation of offset bits: the column-block bits go above the row bits. Bits
    above the tile (leading dimensions such as pipeline stages) are unchanged, so
    a ring of such tiles keeps each stage's layout. Being a bit permutation, the
    move is linear over OR: ``move(a | b) == move(a) | move(b)``.
    """

    rows: int
    cols: int
    block: int
    swizzle: Swizzle

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "block"):
            v = getattr(self, name)
            if v < 1 or v & (v - 1):
                raise LayoutError(f"{self}: {name} must be a power of two, got {v}")
        if self.cols <= self.block:
            raise LayoutError(f"{self}: cols must be wider than one block")
        if (self.rows * self.block) % self.swizzle.period:
            raise LayoutError(f"{self}: a block of {self.rows * self.block} elements is not "
                              f"a multiple of {self.swizzle}'s period")

    is_identity = False

    @property
    def period(self) -> int:
        """Offsets move only within aligned tiles of this many elements."""
        return self.rows * self.cols

    @property
    def blocks(self) -> int:
        return self.cols // self.block

    def move_fields(self) -> tuple[int, int, int, int]:
        """``(block_bits, row_bits, col_bits, tile_bits)``: log2 of block, rows, cols, tile."""
        lb, lr, lc = (self.block.bit_length() - 1, self.rows.bit_length() - 1,
                      self.cols.bit_length() - 1)
        return lb, lr, lc, lr + lc

    def move(self, offset: np.ndarray | int) -> np.ndarray | int:
        """The column-block move alone (before the atom swizzle)."""
        lb, lr, lc, lt = self.move_fields()
        low = offset & ((1 << lb) - 1)
        blk = (offset >> lb) & (self.blocks - 1)
        row = (offset >> lc) & (self.rows - 1)
        return (offset & ~((1 << lt) - 1)) | low | (row << lb) | (blk << (lb + lr))

    def apply(self, offset: np.ndarray | int) -> np.ndarray | int:
        return self.swizzle.apply(self.move(offset))

    def __str__(self) -> str:
        return f"BlockSwizzle({self.rows}, {self.cols}, {self.block}, {self.swizzle})"


def block_swizzle(rows: int, cols: int, elem_bits: int) -> BlockSwizzle | None:
    """The Hopper blocked layout of a ``rows x cols`` tile whose rows are wider than
    128 bytes: 128-byte column blocks under the 128-byte swizzle (TMA's
    ``SWIZZLE_128B``, wgmma's 128-byte canonical atom), or ``None`` where it does
    not apply (rows of at most 128 bytes, sizes that are not powers of two, fewer
    than 8 rows)."""
    if elem_bits % 8 or elem_bits > 64:
        return None
    block = 128 // (elem_bits // 8)
    if cols <= block or cols & (cols - 1) or rows < 8 or rows & (rows - 1):
        return None
    base = (16 // (elem_bits // 8)).bit_length() - 1
    return BlockSwizzle(rows, cols, block, Swizzle(3, base, 3))


class SharedLayout:
    """Base of shared layouts; subclasses are frozen dataclasses."""

    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def _offsets(self) -> np.ndarray:
        raise NotImplementedError

    @cached_property
    def _cached_offsets(self) -> np.ndarray:
        o = self._offsets().astype(np.int64)
        o.setflags(write=False)
        return o

    def offsets(self) -> np.ndarray:
        """Element offset of every coordinate, an int array of ``shape``; read-only, cached."""
        return self._cached_offsets

    def offset(self, *coord: int) -> int:
        return int(self.offsets()[coord])

    def byte_offsets(self, elem_bits: int) -> np.ndarray:
        """Byte offset of every coordinate (elements of at least 8 bits)."""
        if elem_bits % 8:
            raise LayoutError("byte offsets need whole-byte elements")
        return self.offsets() * (elem_bits // 8)

    def is_bijective(self) -> bool:
        """The offsets are exactly ``0 .. numel-1``, each once."""
        return bool(np.array_equal(np.sort(self.offsets(), axis=None), np.arange(self.numel)))


@dataclass(frozen=True)
class RowMajor(SharedLayout):
    """Offsets in row-major order, no padding."""

    shape: tuple[int, ...]

    def _offsets(self) -> np.ndarray:
        return np.arange(self.numel).reshape(self.shape)

    def __str__(self) -> str:
        return f"row_major({', '.join(map(str, self.shape))})"


@dataclass(frozen=True)
class Swizzled(SharedLayout):
    """``swizzle`` applied to the offsets of ``inner``."""

    inner: SharedLayout
    swizzle: Swizzle | BlockSwizzle

    def __post_init__(self) -> None:
        if self.inner.numel % self.swizzle.period:
            raise LayoutError(f"{self.swizzle} moves offsets in blocks of {self.swizzle.period} "
                              f"elements; {self.inner} has {self.inner.numel}")

    shape = property(lambda self: self.inner.shape)   # type: ignore[assignment]

    def _offsets(self) -> np.ndarray:
        return self.swizzle.apply(self.inner.offsets())

    def __str__(self) -> str:
        return f"swizzled({self.inner}, {self.swizzle})"


def row_major(*shape: int | Sequence[int]) -> RowMajor:
    """The row-major layout of ``shape`` (``row_major(64, 32)`` or ``row_major((64, 32))``)."""
    dims = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
    if not dims or any(not isinstance(d, int) or d < 1 for d in dims):
        raise LayoutError(f"row_major needs positive integer sizes, got {dims}")
    return RowMajor(tuple(dims))   # type: ignore[arg-type]


def swizzled(layout: SharedLayout, swizzle: Swizzle | BlockSwizzle) -> SharedLayout:
    """``layout`` with ``swizzle`` applied to its offsets (itself for the identity)."""
    return layout if swizzle.is_identity else Swizzled(layout, swizzle)


def _swizzle(*args: int) -> Swizzle:
    if len(args) != 3 or not all(isinstance(a, int) for a in args):
        raise LayoutError("Swizzle takes three integers: bits, base, shift")
    return Swizzle(*args)


def _block_swizzle(*args: object) -> BlockSwizzle:
    if len(args) != 4 or not all(isinstance(a, int) for a in args[:3]) or \
            not isinstance(args[3], Swizzle):
        raise LayoutError("BlockSwizzle takes rows, cols, block and a Swizzle")
    return BlockSwizzle(*args)   # type: ignore[arg-type]


def _swizzled(layout: object, swz: object) -> SharedLayout:
    if not isinstance(layout, SharedLayout) or not isinstance(swz, (Swizzle, BlockSwizzle)):
        raise LayoutError("swizzled takes a shared layout and a Swizzle")
    return Swizzled(layout, swz)   # as printed, even for an identity swizzle


SHARED_CONSTRUCTORS: dict[str, Callable] = {
    "row_major": row_major, "swizzled": _swizzled, "Swizzle": _swizzle,
    "BlockSwizzle": _block_swizzle,
}


def parse_swizzle(text: str) -> Swizzle | BlockSwizzle:
    """The swizzle written as ``text`` (``str(Swizzle(...))`` or ``str(BlockSwizzle(...))``,
    as shared types print it)."""
    result = parse_expr(text, {"Swizzle": _swizzle, "BlockSwizzle": _block_swizzle}, "swizzle")
    if not isinstance(result, (Swizzle, BlockSwizzle)):
        raise LayoutError(f"{text!r} is not a swizzle")
    return result


def parse_shared_layout(text: str) -> SharedLayout:
    """The shared layout written as ``text`` (as ``str`` prints it)."""
    result = parse_expr(text, SHARED_CONSTRUCTORS, "shared layout")
    if not isinstance(result, SharedLayout):
        raise LayoutError(f"{text!r} is not a shared layout")
    return result


# ---------------------------------------------------------------------------
# bank conflicts
# ---------------------------------------------------------------------------

def lanes_per_phase(access_bytes: int) -> int:
    """Lanes served together: a wavefront is 128 bytes, so 32 lanes of 4 bytes,
    16 of 8 bytes, 8 of 16 bytes (narrower accesses still go 32 at a time)."""
    if access_bytes not in (1, 2, 4, 8, 16):
        raise LayoutError(f"shared accesses are 1, 2, 4, 8 or 16 bytes, not {access_bytes}")
    return WARP_SIZE * 4 // max(access_bytes, 4)


def warp_phases(addresses: Sequence[int], access_bytes: int) -> list[list[int]]:
    """Split one warp's per-lane byte addresses into the phases the hardware serves."""
    n = lanes_per_phase(access_bytes)
    return [list(addresses[i:i + n]) for i in range(0, len(addresses), n)]


def bank_conflicts(byte_addresses_per_phase: Iterable[Sequence[int]], access_bytes: int) -> int:
    """Extra wavefronts: for each phase, the wavefronts it needs minus the fewest possible.

    A phase needs as many wavefronts as the most distinct 4-byte words any one
    bank must deliver (lanes reading the same word share it: broadcast). The
    fewest is ``ceil(distinct words / 32)``. Each lane accesses ``access_bytes``
    bytes from its address.
    """
    phases = [np.asarray(p, dtype=np.int64) for p in byte_addresses_per_phase]
    phases = [p for p in phases if p.size]
    if not phases:
        return 0
    width = max(len(p) for p in phases)
    # Pad short phases by repeating their first address: a repeat adds no words.
    addr = np.stack([np.concatenate([p, np.full(width - len(p), p[0])]) for p in phases])
    first, last = addr // BANK_BYTES, (addr + access_bytes - 1) // BANK_BYTES
    k = int((last - first).max()) + 1
    words = np.minimum(first[..., None] + np.arange(k), last[..., None]).reshape(len(addr), -1)
    words = np.sort(words, axis=1)
    distinct = np.ones_like(words, dtype=bool)
    distinct[:, 1:] = words[:, 1:] != words[:, :-1]
    per_bank = np.zeros((len(addr), NUM_BANKS), dtype=np.int64)
    rows = np.broadcast_to(np.arange(len(addr))[:, None], words.shape)
    np.add.at(per_bank, (rows[distinct], words[distinct] % NUM_BANKS), 1)
    needed = per_bank.max(axis=1)
    fewest = -(-distinct.sum(axis=1) // NUM_BANKS)
    return int((needed - fewest).sum())


PATTERNS = ("ldmatrix", "vec16")


def pattern_phases(layout: SharedLayout, elem_bits: int, pattern: str) -> list[list[int]]:
    """The byte addresses, phase by phase, of every access of ``pattern`` to ``layout``.

    ``"ldmatrix"``: a phase is eight 16-byte row segments of an 8x8 matrix of
    16-bit elements, rows ``8i..8i+7`` of one 16-byte column chunk (what both
    ``ldmatrix`` and ``ldmatrix.trans`` read, for A (BM x BK) and B (BK x BN) tiles);
    ``"vec16"``: consecutive lanes store consecutive 16-byte chunks of the rows in
    row-major order, 8 lanes a phase (``cp.async`` and vector stores).
    Leading dimensions (e.g. pipeline stages) are separate buffers.
    """
    if len(layout.shape) < 2:
        raise LayoutError("access patterns need a layout of rank >= 2")
    chunk = 128 // elem_bits           # elements in 16 bytes
    rows, cols = layout.shape[-2:]
    if cols % chunk:
        raise LayoutError(f"rows of {cols} {elem_bits}-bit elements are not whole 16-byte chunks")
    byte = layout.byte_offsets(elem_bits).reshape(-1, rows, cols)
    if pattern == "ldmatrix":
        if rows % 8:
            raise LayoutError(f"ldmatrix reads 8 rows at a time; {rows} rows")
        seg = byte[:, :, ::chunk].reshape(len(byte), rows // 8, 8, cols // chunk)
        return seg.transpose(0, 1, 3, 2).reshape(-1, 8).tolist()
    if pattern == "vec16":
        flat = byte[:, :, ::chunk].ravel().tolist()
        return [flat[i:i + 8] for i in range(0, len(flat), 8)]
    raise LayoutError(f"unknown access pattern {pattern!r}; expected one of {PATTERNS}")


def choose_swizzle(shape: Sequence[int], elem_bits: int,
                   pattern: str | Sequence[str] = PATTERNS) -> Swizzle:
    """The smallest swizzle of 16-byte chunks under which every access of ``pattern``
    (one name or several) to a row-major ``shape`` buffer is free of bank conflicts.

    Fewest XOR bits first (0: no swizzle needed), then the smallest shift. For
    16-bit rows of 16/32/64/128 elements this gives ``Swizzle(1, 3, 3)``,
    ``Swizzle(2, 3, 3)``, ``Swizzle(3, 3, 3)``, ``Swizzle(3, 3, 4)``: the row bits
    just above a 128-byte line are XORed into the chunk index.
    """
    patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
    if elem_bits not in (8, 16, 32, 64):
        raise LayoutError(f"swizzles are chosen for 8- to 64-bit elements, not {elem_bits}")
    plain = row_major(*shape)
    base = (128 // elem_bits).bit_length() - 1
    for bits in range(4):
        for shift in range(max(bits, 1), 10):
            swz = Swizzle(bits, base, shift if bits else 0)
            if plain.numel % swz.period or (bits and plain.numel < swz.span):
                continue
            lay = swizzled(plain, swz)
            if all(bank_conflicts(pattern_phases(lay, elem_bits, p), 16) == 0 for p in patterns):
                return swz
            if not bits:
                break
    raise LayoutError(f"no XOR swizzle makes {patterns} conflict-free on {tuple(shape)} "
                      f"{elem_bits}-bit elements", hint="pad the rows or change the tile shape")
