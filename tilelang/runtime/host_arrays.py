"""Launching with numpy arrays on any target: ``kernel[grid].with_host_arrays(...)``.

GPU targets take device arrays (a numpy array passed to one is a ``LaunchError``).
For scripts and examples that keep their data in numpy, ``with_host_arrays``
copies every numpy argument to device memory, launches, waits, copies the arrays
back and frees the copies; on ``interp`` and ``emulate:*`` it is a plain launch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilelang.ir.lowbit import PackedArray
from tilelang.ir.numpy_dtypes import from_numpy
from tilelang.runtime.lowbit_args import chain, packed_copy


class DeviceCopy:
    """Device memory holding a copy of a C-contiguous numpy array, exposed through
    ``__cuda_array_interface__``."""

    def __init__(self, driver: Any, host: np.ndarray) -> None:
        self.driver = driver
        self.host = host
        self.address = driver.alloc(host.nbytes)
        driver.copy_to_device(self.address, host)
        self.shape = host.shape
        self.dtype = host.dtype
        self.__cuda_array_interface__ = {
            "shape": host.shape, "typestr": host.dtype.str, "strides": None,
            "data": (self.address, False), "version": 3}

    def copy_back(self) -> None:
        self.driver.copy_to_host(self.host, self.address)

    def free(self) -> None:
        self.driver.free(self.address)


def launch_with_host_arrays(kernel: Any, grid: Any, args: tuple, kwargs: dict[str, Any],
                            driver: Any = None) -> None:
    """``kernel[grid](*args, **kwargs)`` with numpy arguments staged through device
    memory when the launch's target is a GPU (see the module docstring)."""
    from tilelang.runtime.amd_target import AmdTarget
    from tilelang.runtime.cuda_driver import default_driver
    from tilelang.runtime.targets import NvidiaTarget, resolve_target
    target = resolve_target(kwargs.get("target"))
    if not isinstance(target, (NvidiaTarget, AmdTarget)):
        kernel[grid](*args, **kwargs)
        return
    if driver is None and isinstance(target, AmdTarget):   # HipDriver: the same calls
        from tilelang.runtime import hip_driver
        driver = target.driver or hip_driver.default_driver()
    driver = driver or getattr(target, "driver", None) or default_driver()
    args, kwargs, write_back = _packed(args, kwargs)
    hosts = {id(a): a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)}
    packed = {id(a): a for a in (*args, *kwargs.values())
              if isinstance(a, PackedArray) and isinstance(a.data, np.ndarray)}
    copies: dict[int, DeviceCopy] = {}
    try:
        for key, host in hosts.items():
            copies[key] = DeviceCopy(driver, np.ascontiguousarray(host))
        for key, pk in packed.items():    # a packed low-bit tensor: its bytes
            copies[key] = DeviceCopy(driver, pk.data)
        devices = {k: PackedArray(copies[k], pk.shape, pk.dtype) for k, pk in packed.items()}
        devices.update({k: copies[k] for k in hosts})
        dev_args = [devices.get(id(a), a) for a in args]
        dev_kwargs = {k: devices.get(id(v), v) for k, v in kwargs.items()}
        dev_kwargs["target"] = target.name
        kernel[grid](*dev_args, **dev_kwargs)
        driver.synchronize()
        for key, copy in copies.items():
            copy.copy_back()
            if key in hosts and copy.host is not hosts[key]:   # a non-contiguous original
                hosts[key][...] = copy.host
        write_back()
    finally:
        for copy in copies.values():
            copy.free()


def _packed(args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any], Any]:
    """Numpy arrays of sub-byte formats ml_dtypes has (int4, float4_e2m1fn...) hold one
    element per byte; GPU kernels read tensors of them packed: pack them into
    ``PackedArray`` copies, and return how to unpack the results back."""
    backs = []

    def convert(a: Any) -> Any:
        dt = from_numpy(a.dtype) if isinstance(a, np.ndarray) else None
        if dt is None or not dt.is_lowbit or dt.bits >= 8:
            return a
        packed, back = packed_copy(a, dt)
        backs.append(back)
        return packed

    args = tuple(convert(a) for a in args)
    kwargs = {k: convert(v) for k, v in kwargs.items()}
    return args, kwargs, chain(backs)


__all__ = ["DeviceCopy", "launch_with_host_arrays"]
