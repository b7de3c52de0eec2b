"""The kernel parameters of one compiled specialization, packed for a driver launch.

Both vendors' kernels take the parameters ``codegen.ptx.kernel_abi`` lists (the
HIP kernel is generated with the PTX kernel's parameters), and both drivers take
them as an array of ``void*``, one per parameter. ``PackedParams`` builds, once
per compiled specialization, one ``struct.Struct`` for all of them, the buffer it
packs into and the pointer array into that buffer. The driver copies the values
before the launch call returns, so the buffer is reused under a lock.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from typing import Any

import numpy as np

from tilelang.errors import LaunchError


def bf16_bits(value: Any) -> int:
    """A bf16 scalar argument as the raw 16 bits the kernel parameter holds."""
    import ml_dtypes
    return int(np.array(value, dtype=ml_dtypes.bfloat16).view(np.uint16))


class PackedParams:
    """The parameter buffer of one compiled specialization (see the module docstring):
    ``params`` (the specialization's runtime parameters), ``itemsizes``,
    ``converters`` (bf16 scalars travel as raw bits, bool as 0/1, the others as
    ``struct`` packs them), ``struct``, ``buffer``, ``params_address`` and ``lock``."""

    def __init__(self, compiled: Any, abi: Any) -> None:
        self.params = compiled.spec.params
        order = [p.source for p in abi.params if p.role in ("ptr", "scalar")]
        if order != [p.name for p in self.params]:
            raise LaunchError(f"the kernel ABI parameters {order} do not match the "
                              f"specialization's {[p.name for p in self.params]}",
                              kernel=compiled.name)
        self.itemsizes = [max(1, p.dtype.bits // 8) for p in self.params]
        self.converters = [bf16_bits if not p.is_tensor and p.dtype.name == "bf16" else
                           (int if not p.is_tensor and p.dtype.name == "bool" else None)
                           for p in self.params]
        codes = [p.format for p in abi.params]
        self.struct = struct.Struct("@" + "".join(codes))
        self.buffer = ctypes.create_string_buffer(max(self.struct.size, 1))
        base = ctypes.addressof(self.buffer)
        offsets = [struct.calcsize("@" + "".join(codes[:i + 1])) - struct.calcsize(codes[i])
                   for i in range(len(codes))]
        self.pointers = (ctypes.c_void_p * max(len(codes), 1))(*[base + o for o in offsets])
        self.params_address = ctypes.addressof(self.pointers)
        self.lock = threading.Lock()


__all__ = ["PackedParams", "bf16_bits"]
