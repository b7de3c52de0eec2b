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


def launch_error(kernel: Any, message: str, hint: str | None = None) -> LaunchError:
    """A ``LaunchError`` located at ``kernel``'s definition."""
    return LaunchError(message, kernel=getattr(kernel, "name", None),
                       loc=getattr(getattr(kernel, "source", None), "def_loc", None), hint=hint)


def bf16_bits(value: Any) -> int:
    """A bf16 scalar argument as the raw 16 bits the kernel parameter holds."""
    import ml_dtypes
    return int(np.array(value, dtype=ml_dtypes.bfloat16).view(np.uint16))


class PackedParams:
    """The parameter buffer of one compiled specialization (see the module docstring):
    ``params`` (the specialization's runtime parameters), ``itemsizes``,
    ``converters`` (bf16 scalars travel as raw bits, bool as 0/1, the others as
    ``struct`` packs them), ``struct``, ``buffer``, ``params_address`` and ``lock``.
    Subclasses set ``driver`` and ``threads``."""

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

    def pack_failed(self, error: Exception, kernel: Any) -> None:
        """The error of a value that ``struct`` cannot pack into its parameter."""
        raise launch_error(kernel, f"a launch argument does not fit its kernel parameter "
                                   f"({error}); shapes and strides are passed as i32",
                           "split the tensor: dimensions and strides must be below 2^31") \
            from None

    def hit_namespace(self, kernel: Any, view: Any, device_name: Any, current_device: Any,
                      current_stream: Any, current_driver: Any, fallback: Any) -> dict:
        """What ``hit_codegen.plan_runner``'s source names, but the vendor's launch call:
        ``view(i, x)`` reads tensor ``i``'s device view (its errors raised), a device
        number prints as ``device_name(n)``, ``current_device()`` is the driver's."""
        params = self.params

        def view_of(i: int, x: Any) -> Any:
            got = view(i, x)
            if len(got[1]) != params[i].rank:
                raise launch_error(kernel, f"argument '{params[i].name}' has rank "
                                           f"{len(got[1])}, the kernel was specialized for "
                                           f"rank {params[i].rank}")
            return got

        def device_fail(i: int, device: int) -> None:
            raise launch_error(kernel, f"argument '{params[i].name}' is on "
                                       f"{device_name(device)}, but the current device is "
                                       f"{device_name(current_device())}",
                               "move the arrays to one device and make it current "
                               "(torch.cuda.set_device / cupy.cuda.Device(...).use())")

        from tilelang.runtime.nvidia_launch import resolve_stream
        namespace = {
            "fallback": fallback, "current_driver": current_driver, "driver": self.driver,
            "plan": self, "view_of": view_of, "device_fail": device_fail,
            "pack_fail": lambda e: self.pack_failed(e, kernel),
            "current_stream": current_stream, "resolve_stream": resolve_stream,
            "lock": self.lock, "pack": self.struct.pack_into, "buffer": self.buffer,
            "threads": self.threads, "params_address": self.params_address,
            "struct_error": struct.error,
        }
        namespace.update({f"conv{i}": c for i, c in enumerate(self.converters) if c is not None})
        return namespace


__all__ = ["PackedParams", "bf16_bits", "launch_error"]
