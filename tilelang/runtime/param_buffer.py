"""The kernel parameters of one compiled specialization, packed for a driver launch.

Both vendors' kernels take the parameters ``codegen.abi.kernel_abi`` lists (the
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
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from tilelang.errors import LaunchError
from tilelang.ir.lowbit import PackedArray
from tilelang.runtime.streams import resolve_stream


def launch_error(kernel: Any, message: str, hint: str | None = None) -> LaunchError:
    """A ``LaunchError`` located at ``kernel``'s definition."""
    return LaunchError(message, kernel=getattr(kernel, "name", None),
                       loc=getattr(getattr(kernel, "source", None), "def_loc", None), hint=hint)


def bf16_bits(value: Any) -> int:
    """A bf16 scalar argument as the raw 16 bits the kernel parameter holds."""
    import ml_dtypes
    return int(np.array(value, dtype=ml_dtypes.bfloat16).view(np.uint16))


# alignment of a by-value CUtensorMap parameter ("128s"), as cuda.h declares the type
MAP_ALIGN = 64


def param_layout(codes: list[str]) -> tuple[str, list[int]]:
    """The ``struct`` format of parameters with format ``codes`` and each one's offset:
    native alignment (``@``), and a 128-byte tensor map (``128s``, alignment 1 to
    ``struct``) padded to a ``MAP_ALIGN`` offset."""
    fmt, offsets = "@", []
    for code in codes:
        if code.endswith("s"):
            pad = -struct.calcsize(fmt) % MAP_ALIGN
            if pad:
                fmt += f"{pad}x"
        offsets.append(struct.calcsize(fmt + code) - struct.calcsize(code))
        fmt += code
    return fmt, offsets


class PackedParams(ABC):
    """The parameter buffer of one compiled specialization (see the module docstring):
    ``params`` (the specialization's runtime parameters), ``itemsizes``,
    ``converters`` (bf16 scalars travel as raw bits, bool as 0/1, the others as
    ``struct`` packs them), ``struct``, ``buffer``, ``params_address`` and ``lock``;
    ``tensor_maps[i]`` is ``None``, or for a tensor whose launch passes one more
    parameter after its strides (a TMA tensor map on sm_90a), an object whose
    ``get(address, shape, strides)`` gives it. Subclasses set ``driver``,
    ``threads``, ``shared_bytes`` (dynamic) and ``function``, and give ``load()``,
    ``view`` (a tensor's device view, its errors raised), ``current_device()`` and
    ``DEVICE_LABEL``."""

    DEVICE_LABEL = "GPU {}"

    def __init__(self, compiled: Any, abi: Any) -> None:
        self.params = compiled.spec.params
        order = [p.source for p in abi.params if p.role in ("ptr", "scalar")]
        if order != [p.name for p in self.params]:
            raise LaunchError(f"the kernel ABI parameters {order} do not match the "
                              f"specialization's {[p.name for p in self.params]}",
                              kernel=compiled.name)
        self.itemsizes = [max(1, p.dtype.bits // 8) for p in self.params]
        # tensors of sub-byte formats must come packed (docs/lowbit.md)
        self.packed = [p.is_tensor and p.dtype.is_lowbit and p.dtype.bits < 8
                       for p in self.params]
        self.converters = [bf16_bits if not p.is_tensor and p.dtype.name == "bf16" else
                           (int if not p.is_tensor and p.dtype.name == "bool" else None)
                           for p in self.params]
        fmt, offsets = param_layout([p.format for p in abi.params])
        self.struct = struct.Struct(fmt)
        # the storage starts on a 64-byte boundary, so that each offset's alignment is
        # an address's alignment (a CUtensorMap is 64-byte aligned, as the CUDA headers
        # declare it)
        self._storage = ctypes.create_string_buffer(max(self.struct.size, 1) + MAP_ALIGN)
        start = -ctypes.addressof(self._storage) % MAP_ALIGN
        self.buffer = memoryview(self._storage).cast("B")[start:]
        base = ctypes.addressof(self._storage) + start
        self.pointers = (ctypes.c_void_p * max(len(offsets), 1))(*[base + o for o in offsets])
        self.params_address = ctypes.addressof(self.pointers)
        self.lock = threading.Lock()
        self.tensor_maps: list[Any] = [None] * len(self.params)

    @abstractmethod
    def view(self, i: int, x: Any, kernel: Any, target: str) -> Any:
        """Tensor argument ``i``'s device view; a ``LaunchError`` for a host array."""

    @abstractmethod
    def current_device(self) -> int:
        """The driver's current device number."""

    def checked_view(self, i: int, x: Any, kernel: Any, target: str) -> Any:
        """``view`` with the specialization's rank checked."""
        p = self.params[i]
        if self.packed[i] and not isinstance(x, PackedArray):
            raise launch_error(kernel, f"argument '{p.name}' of {p.dtype} must be a packed "
                                       f"tl.PackedArray, got a {type(x).__name__}",
                               "pass tl.pack(values, tl." + p.dtype.name + ") (docs/lowbit.md), "
                               "or use kernel[grid].with_host_arrays(...), which packs")
        got = self.view(i, x, kernel, target)
        if len(got[1]) != p.rank:
            raise launch_error(kernel, f"argument '{p.name}' has rank {len(got[1])}, the "
                                       f"kernel was specialized for rank {p.rank}")
        return got

    def device_fail(self, kernel: Any, i: int, device: int) -> None:
        label = self.DEVICE_LABEL
        raise launch_error(kernel, f"argument '{self.params[i].name}' is on "
                                   f"{label.format(device)}, but the current device is "
                                   f"{label.format(self.current_device())}",
                           "move the arrays to one device and make it current "
                           "(torch.cuda.set_device / cupy.cuda.Device(...).use())")

    def values(self, args: list[Any], views: list[Any] | None, kernel: Any,
               target: str) -> list[Any]:
        """The kernel parameter values in ABI order; a ``LaunchError`` for a host array, a
        tensor on another device or a rank that differs from the specialization's.
        ``views[i]`` is tensor ``i``'s view when the dispatch key was read from it (the
        key then fixed the rank), else ``None`` and the view is read here."""
        out: list[Any] = []
        device = self.current_device()
        for i, p in enumerate(self.params):
            conv = self.converters[i]
            if p.rank is None:
                out.append(args[i] if conv is None else conv(args[i]))
                continue
            view = views[i] if views is not None else None
            if view is None:
                view = self.checked_view(i, args[i], kernel, target)
            address, shape, strides, where = view
            if where is not None and where != device:
                self.device_fail(kernel, i, where)
            out.append(address)
            out += shape
            out += strides
            if self.tensor_maps[i] is not None:
                out.append(self.tensor_maps[i].get(address, shape, strides))
        return out

    def pack_failed(self, error: Exception, kernel: Any) -> None:
        """The error of a value that ``struct`` cannot pack into its parameter."""
        raise launch_error(kernel, f"a launch argument does not fit its kernel parameter "
                                   f"({error}); shapes and strides are passed as i32",
                           "split the tensor: dimensions and strides must be below 2^31") \
            from None

    def launch(self, grid: tuple[int, int, int], values: list[Any], stream: Any,
               kernel: Any) -> None:
        """Pack ``values`` and launch through ``driver.launch`` (the module loaded by
        ``load`` on first use)."""
        function = self.function or self.load()
        with self.lock:
            try:
                self.struct.pack_into(self.buffer, 0, *values)
            except struct.error as e:
                self.pack_failed(e, kernel)
            self.driver.launch(function.function, grid, self.threads, self.shared_bytes,
                               stream, self.params_address)

    def hit_namespace(self, kernel: Any, target: str, current_stream: Any,
                      current_driver: Any, fallback: Any) -> dict:
        """What ``hit_codegen.plan_runner``'s source names, but a raw launch call
        (``cu_launch``)."""
        from tilelang.runtime.cuda_driver import launch_arguments_error
        namespace = {
            "fallback": fallback, "current_driver": current_driver, "driver": self.driver,
            "plan": self,
            "view_of": lambda i, x: self.checked_view(i, x, kernel, target),
            "device_fail": lambda i, device: self.device_fail(kernel, i, device),
            "pack_fail": lambda e: self.pack_failed(e, kernel),
            "current_stream": current_stream, "resolve_stream": resolve_stream,
            "lock": self.lock, "pack": self.struct.pack_into, "buffer": self.buffer,
            "threads": self.threads, "shared_bytes": self.shared_bytes,
            "params_address": self.params_address,
            "struct_error": struct.error,
            "arguments_error": launch_arguments_error,
        }
        namespace.update({f"conv{i}": c for i, c in enumerate(self.converters) if c is not None})
        namespace.update({f"tmap{i}": m.get for i, m in enumerate(self.tensor_maps)
                          if m is not None})
        return namespace


__all__ = ["MAP_ALIGN", "PackedParams", "bf16_bits", "launch_error", "param_layout"]
