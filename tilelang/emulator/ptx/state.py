"""State of one CTA in the PTX interpreter: registers, shared and parameter memory,
and the global memory map.

Registers: one 2-D array per register class (``pred``, 16, 32, 64 bits) of shape
``(registers, threads)``, so an instruction reads one row over the active threads
with one numpy indexing. Typed views (``f32`` over the 32-bit file, ...) are made
once. Values of a narrower or wider type than the register are truncated or
extended as the PTX ISA says for ``ld``/``cvt`` (sign extension for ``.s`` types).

Memory: ``GlobalMemory`` maps device addresses to numpy byte buffers (the
launcher's arrays); every access is bounds-checked against the region it
starts in and alignment-checked against its size. ``Space`` is a flat byte
space (shared, param) with the same checks. Shared memory also keeps, per byte,
its last writer and that writer's vector clock entry (``races``) and whether a
``cp.async`` is still in flight to it.
"""

from __future__ import annotations

import bisect
from typing import Any

import ml_dtypes
import numpy as np

from tilelang.emulator.ptx.errors import PtxError

UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
SINT = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
REG_DTYPE = {"pred": np.bool_, "16": np.uint16, "32": np.uint32, "64": np.uint64}


def type_dtype(t: str) -> Any:
    """The numpy dtype of a PTX type name (``f32``, ``s64``, ``bf16``, ``pred`` ...)."""
    if t == "pred":
        return np.bool_
    if t == "bf16":
        return ml_dtypes.bfloat16
    if t in ("f16", "f32", "f64"):
        return {"f16": np.float16, "f32": np.float32, "f64": np.float64}[t]
    bits = int(t[1:])
    return SINT[bits] if t[0] == "s" else UINT[bits]


def type_bits(t: str) -> int:
    return 1 if t == "pred" else (16 if t == "bf16" else int(t[1:]))


class Registers:
    """The register files of one CTA (see the module docstring)."""

    def __init__(self, counts: dict[str, int], threads: int) -> None:
        self.threads = threads
        self.files = {k: np.zeros((max(counts.get(k, 0), 1), threads), d)
                      for k, d in REG_DTYPE.items()}
        self.views: dict[tuple[str, Any], np.ndarray] = {}

    def view(self, kind: str, dtype: Any) -> np.ndarray:
        """The ``kind`` file seen as ``dtype`` (same width), made once."""
        key = (kind, dtype)
        v = self.views.get(key)
        if v is None:
            v = self.views[key] = self.files[kind].view(dtype)
        return v


def convert_width(value: np.ndarray, dtype: Any) -> np.ndarray:
    """``value`` brought to ``dtype``'s width as bits: truncated, or extended (sign
    extension when ``value`` is a signed integer), then seen as ``dtype``."""
    value = np.asarray(value)
    dt = np.dtype(dtype)
    if value.dtype.itemsize == dt.itemsize:
        return value.view(dt) if value.dtype != dt else value
    if value.dtype == np.bool_:
        return value.astype(UINT[8 * dt.itemsize]).view(dt)
    src_bits = 8 * value.dtype.itemsize
    if value.dtype.kind == "i":
        wide = value.astype(SINT[8 * dt.itemsize]).view(UINT[8 * dt.itemsize])
    else:
        wide = value.view(UINT[src_bits]).astype(UINT[8 * dt.itemsize])
    return wide.view(dt)


class GlobalMemory:
    """Device address -> numpy byte buffer, for the arrays of one launch."""

    def __init__(self) -> None:
        self.bases: list[int] = []
        self.regions: list[tuple[int, np.ndarray, str]] = []   # (base, bytes, name)

    def add(self, base: int, buffer: np.ndarray, name: str) -> None:
        """Map ``buffer`` (a byte array) at device address ``base``."""
        i = bisect.bisect(self.bases, base)
        self.bases.insert(i, base)
        self.regions.insert(i, (base, buffer, name))

    def remove(self, base: int) -> None:
        i = self.bases.index(base)
        del self.bases[i]
        del self.regions[i]

    def locate(self, addr: np.ndarray, nbytes: int, what: str,
               align: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The region buffer and offsets of ``nbytes``-wide accesses at ``addr``; a
        ``PtxError`` for an address outside every region or one not aligned to ``align``
        (default ``nbytes``)."""
        addr = np.asarray(addr, dtype=np.uint64)
        if addr.size == 0:
            return np.zeros(0, np.uint8), addr.astype(np.int64)
        lo = int(addr.min())
        i = bisect.bisect(self.bases, lo) - 1
        if i >= 0:
            base, buf, _ = self.regions[i]
            off = addr.astype(np.int64) - base
            if int(off.max()) + nbytes <= buf.size:
                check_alignment(addr, nbytes if align is None else align, what)
                return buf, off
        bad = next((int(a) for a in addr if not self._inside(int(a), nbytes)), None)
        if bad is None:
            raise PtxError(f"{what}: the threads of one atomic access several arrays "
                           f"(unsupported by the interpreter)")
        self._outside(bad, nbytes, what)
        raise AssertionError("unreachable")

    def parts(self, addr: np.ndarray, nbytes: int, what: str,
              align: int | None = None) -> list[tuple[np.ndarray | None, np.ndarray,
                                                      np.ndarray]]:
        """``(mask, buffer, offsets)`` per array the accesses at ``addr`` touch (``mask``
        ``None``: all of them, the common case); the checks of ``locate``."""
        addr = np.asarray(addr, dtype=np.uint64)
        lo = int(addr.min()) if addr.size else 0
        i = bisect.bisect(self.bases, lo) - 1
        if addr.size == 0 or (i >= 0 and int(addr.max()) + nbytes <=
                              self.regions[i][0] + self.regions[i][1].size):
            buf, off = self.locate(addr, nbytes, what, align)
            return [(None, buf, off)]
        check_alignment(addr, nbytes if align is None else align, what)
        which = np.searchsorted(np.array(self.bases, np.uint64), addr, side="right") - 1
        out = []
        for r in np.unique(which).tolist():
            m = which == r
            if r < 0:
                self._outside(int(addr[m][0]), nbytes, what)
            base, buf, _ = self.regions[r]
            off = addr[m].astype(np.int64) - base
            if int(off.max()) + nbytes > buf.size:
                self._outside(int(addr[m][int(np.argmax(off))]), nbytes, what)
            out.append((m, buf, off))
        return out

    def _outside(self, bad: int, nbytes: int, what: str) -> None:
        raise PtxError(f"{what}: global address {bad:#x} (+{nbytes} bytes) is outside every "
                       f"array of the launch{self._nearest(bad)}",
                       hint="an out-of-bounds access in the emitted code (a wrong address "
                            "computation or a missing bounds predicate)")

    def _inside(self, a: int, n: int) -> bool:
        i = bisect.bisect(self.bases, a) - 1
        return i >= 0 and a + n <= self.regions[i][0] + self.regions[i][1].size

    def _nearest(self, a: int) -> str:
        i = bisect.bisect(self.bases, a) - 1
        if i < 0:
            return ""
        base, buf, name = self.regions[i]
        return f" (array '{name}' spans {base:#x}..{base + buf.size:#x})"


def check_alignment(addr: np.ndarray, nbytes: int, what: str) -> None:
    if nbytes > 1:
        bad = np.flatnonzero(addr % np.uint64(nbytes))
        if bad.size:
            raise PtxError(f"{what}: address {int(addr[bad[0]]):#x} is not aligned to "
                           f"{nbytes} bytes", hint="a misaligned access in the emitted code")


class Space:
    """A flat byte space (shared or param memory) of ``size`` bytes at ``base``."""

    def __init__(self, name: str, size: int, base: int = 0) -> None:
        self.name, self.base = name, base
        self.data = np.zeros(size, np.uint8)

    def offsets(self, addr: np.ndarray, nbytes: int, what: str,
                align: int | None = None) -> np.ndarray:
        off = np.asarray(addr).astype(np.int64) - self.base
        if off.size and (int(off.min()) < 0 or int(off.max()) + nbytes > self.data.size):
            i = int(np.flatnonzero((off < 0) | (off + nbytes > self.data.size))[0])
            raise PtxError(f"{what}: {self.name} address {int(off[i]) + self.base:#x} "
                           f"(+{nbytes} bytes) is outside the {self.data.size} bytes of "
                           f"{self.name} memory", hint="an out-of-bounds access in the "
                                                       "emitted code")
        check_alignment(np.asarray(addr, dtype=np.uint64), nbytes if align is None else align,
                        what)
        return off


def gather(buf: np.ndarray, off: np.ndarray, nbytes: int) -> np.ndarray:
    """``nbytes`` bytes at each offset: shape ``(n, nbytes)``."""
    if nbytes == 1:
        return buf[off][:, None]
    return buf[off[:, None] + np.arange(nbytes)]


def scatter(buf: np.ndarray, off: np.ndarray, data: np.ndarray) -> None:
    """Write the rows of ``data`` (``(n, nbytes)`` bytes) at the offsets."""
    nbytes = data.shape[1]
    buf[(off[:, None] + np.arange(nbytes)).ravel()] = data.ravel()


def swizzle(addr: np.ndarray, width: int) -> np.ndarray:
    """The shared address of logical byte address ``addr`` under a ``width``-byte swizzle."""
    if width == 0:
        return addr
    b = {32: 1, 64: 2, 128: 3}[width]
    mask = (1 << b) - 1
    return addr ^ (((addr >> 7) & mask) << 4)


__all__ = ["GlobalMemory", "Registers", "Space", "check_alignment", "convert_width",
           "gather", "scatter", "swizzle", "type_bits", "type_dtype"]
