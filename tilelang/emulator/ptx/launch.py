"""Running a PTX kernel as the CUDA driver would: a module from PTX text, a launch from
the grid, the block, the dynamic shared-memory size and the kernel parameters as the
driver receives them (one pointer per parameter, each read with the size its PTX
declaration gives and placed at its offset in the parameter space).

``PtxDevice`` is the device side the emulated driver (``runtime/emulate_ptx.py``)
talks to: ``alloc``/``free`` device memory (numpy byte buffers at device addresses),
``map_host`` (a host array's own memory, at its own address), ``load`` a module and
``launch``.
"""

from __future__ import annotations

import ctypes
import itertools

import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.executor import MAX_STEPS, Program
from tilelang.emulator.ptx.parser import PtxModule, parse_ptx
from tilelang.emulator.ptx.state import GlobalMemory

MAX_PROGRAMS = 32   # compiled entries kept per device (a long test session loads hundreds)


class PtxDevice:
    """Device memory and loaded modules of the emulated GPU."""

    def __init__(self) -> None:
        self.gmem = GlobalMemory()
        self.allocations: dict[int, np.ndarray] = {}
        self.next_address = 0x7E00_0000_0000
        self.modules: dict[int, PtxModule] = {}
        self.programs: dict[tuple[int, str, int], Program] = {}
        self.ids = itertools.count(1)
        self.max_steps = MAX_STEPS
        self.host_maps: list[tuple[int, int, str, bool]] = []   # (lo, hi, names, writeable)

    # -- memory --------------------------------------------------------------------------

    def alloc(self, nbytes: int) -> int:
        address = self.next_address
        self.next_address += -(-max(nbytes, 1) // 256) * 256 + 256
        buf = np.zeros(max(nbytes, 1), np.uint8)
        self.allocations[address] = buf
        self.gmem.add(address, buf, f"allocation at {address:#x}")
        return address

    def free(self, address: int) -> None:
        self.allocations.pop(address)
        self.gmem.remove(address)

    def buffer(self, address: int, nbytes: int) -> np.ndarray:
        buf, off = self.gmem.locate(np.array([address], np.uint64), 1, "memcpy")
        return buf[int(off[0]):int(off[0]) + nbytes]

    def map_host(self, array: np.ndarray, name: str) -> int:
        """Map a host array's memory (its whole extent) at its own address; arrays that
        overlap (views of one buffer) become one region. Returns the array's lowest
        address."""
        bounds = np.lib.array_utils.byte_bounds if hasattr(np.lib, "array_utils") \
            else np.byte_bounds
        lo, hi = bounds(array)
        hi = max(hi, lo + 1)
        writeable = bool(array.flags.writeable)
        for base, end, names, w in list(self.host_maps):
            if base < hi and lo < end:               # overlapping: merge
                self.host_maps.remove((base, end, names, w))
                self.gmem.remove(base)
                lo, hi, name = min(lo, base), max(hi, end), f"{names}/{name}"
                writeable = writeable and w
        buf = np.frombuffer((ctypes.c_uint8 * (hi - lo)).from_address(lo), np.uint8)
        if not writeable:
            buf = buf.view()
            buf.flags.writeable = False
        self.host_maps.append((lo, hi, name, writeable))
        self.gmem.add(lo, buf, name)
        return lo

    def unmap_host(self) -> None:
        """Remove every host mapping (after a launch)."""
        for base, *_ in self.host_maps:
            self.gmem.remove(base)
        self.host_maps.clear()

    # -- modules and launches ---------------------------------------------------------

    def load(self, ptx: str) -> int:
        handle = next(self.ids)
        self.modules[handle] = parse_ptx(ptx)
        return handle

    def function(self, module: int, name: str) -> tuple[int, str]:
        if name not in self.modules[module].entries:
            raise PtxError(f"the PTX module has no entry '{name}'")
        return module, name

    def launch(self, function: tuple[int, str], grid: tuple[int, int, int],
               block: tuple[int, int, int], shared_bytes: int, params_address: int) -> None:
        """Run ``function``; ``params_address`` is the driver's ``void**`` parameter array."""
        module_id, name = function
        module = self.modules[module_id]
        entry = module.entries[name]
        if block[1] != 1 or block[2] != 1:
            raise PtxError("the PTX interpreter runs one-dimensional blocks")
        threads = block[0]
        key = (module_id, name, threads)
        program = self.programs.pop(key, None)
        if program is None:
            program = Program(module, entry, threads)
        self.programs[key] = program            # the most recently used last
        while len(self.programs) > MAX_PROGRAMS:  # each holds its register files
            self.programs.pop(next(iter(self.programs)))
        program.gmem = self.gmem
        buf = bytearray(entry.param_bytes)
        if entry.params:
            pointers = (ctypes.c_void_p * len(entry.params)).from_address(params_address)
            for i, prm in enumerate(entry.params):
                buf[prm.offset:prm.offset + prm.size] = ctypes.string_at(pointers[i], prm.size)
        program.run_grid(grid, shared_bytes, bytes(buf), self.max_steps)


__all__ = ["PtxDevice"]
