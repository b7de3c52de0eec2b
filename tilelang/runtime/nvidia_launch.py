"""Launching a compiled kernel on an NVIDIA GPU: device arrays, streams, parameter packing.

``LaunchPlan`` is built once per compiled specialization from the kernel ABI
(``codegen.abi.kernel_abi``), with the parameter buffer of ``param_buffer``
(shared with the AMD plan). A launch then only reads each array's address,
shape and strides, packs them with the scalars and calls ``cuLaunchKernel``;
a cache hit does that in one generated function (``LaunchPlan.runner``).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from tilelang.ir.lowbit import PackedArray
from tilelang.runtime.cuda_driver import CudaDriver, LoadedFunction
from tilelang.runtime.param_buffer import PackedParams
from tilelang.runtime.param_buffer import launch_error as _fail

# DLPack device types whose memory a CUDA kernel can address
_DL_CUDA, _DL_CUDA_MANAGED = 2, 13


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

# (address, shape, strides in elements, device ordinal or None when unknown)
DeviceView = tuple[int, tuple[int, ...], tuple[int, ...], "int | None"]


def device_view(x: Any, itemsize: int) -> DeviceView | None:
    """Where a device array lives, or ``None`` for a host array; a ``ValueError`` for
    strides that are not whole elements. A ``PackedArray`` is where its bytes are,
    with its logical shape and element strides."""
    if isinstance(x, PackedArray):
        view = device_view(x.data, 1)
        return None if view is None else (view[0], x.shape, x.strides, view[3])
    is_cuda = getattr(x, "is_cuda", None)
    if is_cuda is not None and callable(getattr(x, "data_ptr", None)):   # torch.Tensor
        if not is_cuda:
            return None
        return x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.device.index
    if isinstance(x, np.ndarray):
        return None
    iface = getattr(x, "__cuda_array_interface__", None)
    if iface is not None:
        shape = tuple(iface["shape"])
        strides = iface.get("strides")
        if strides is None:
            elems = contiguous_strides(shape)
        else:
            if any(s % itemsize for s in strides):
                raise ValueError(f"byte strides {tuple(strides)} are not multiples of the "
                                 f"element size {itemsize}")
            elems = tuple(s // itemsize for s in strides)
        device = getattr(getattr(x, "device", None), "id", None)             # cupy
        return int(iface["data"][0]), shape, elems, device if isinstance(device, int) else None
    if hasattr(x, "__dlpack_device__"):
        kind, ordinal = x.__dlpack_device__()
        if int(kind) not in (_DL_CUDA, _DL_CUDA_MANAGED):
            return None
        return _dlpack_view(x, int(ordinal))
    return None


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


def _dlpack_view(x: Any, ordinal: int) -> DeviceView:
    """Read a DLPack capsule's tensor (borrowed: the capsule's deleter runs when it is freed;
    the memory stays owned by ``x``, which the caller holds for the launch)."""
    capsule = x.__dlpack__()
    address = _capsule_pointer(capsule, b"dltensor")
    t = _DLTensor.from_address(address)   # DLManagedTensor starts with its DLTensor
    ndim = t.ndim
    shape = tuple(t.shape[i] for i in range(ndim))
    strides = tuple(t.strides[i] for i in range(ndim)) if t.strides else contiguous_strides(shape)
    return (t.data or 0) + t.byte_offset, shape, strides, ordinal


class LaunchPlan(PackedParams):
    """What a launch of one compiled specialization needs, computed once."""

    def __init__(self, compiled: Any, driver: CudaDriver, kernel: Any = None) -> None:
        from tilelang.codegen.abi import kernel_abi
        from tilelang.ir.numpy_dtypes import to_numpy
        abi = kernel_abi(compiled.function)
        super().__init__(compiled, abi)
        self.name = compiled.name
        self.threads = abi.num_threads
        self.shared_bytes = abi.shared_bytes
        self.driver = driver
        self.np_dtypes = [to_numpy(p.dtype) for p in self.params]
        # TMA tensor maps (sm_90a pipelines), encoded per (address, shape, strides)
        from tilelang.runtime.tensor_maps import TensorMapCache, tma_specs
        specs = tma_specs(compiled.function)
        self.tensor_maps = [TensorMapCache(driver, specs[p.name], compiled.name)
                            if p.name in specs else None for p in self.params]
        self.function: LoadedFunction | None = None
        use_cubin = check_arch(compiled.target, driver.capability, kernel)
        self.cubin = compiled.cubin if use_cubin else None
        self.ptx = compiled.ptx

    def load(self) -> LoadedFunction:
        """Load the module on first use (cubin when there is one, else PTX by driver JIT)."""
        if self.function is None:
            self.function = self.driver.load(self.name, self.shared_bytes, cubin=self.cubin,
                                             ptx=self.ptx)
        return self.function

    DEVICE_LABEL = "cuda:{}"

    def current_device(self) -> int:
        return self.driver.ordinal

    def view(self, i: int, x: Any, kernel: Any, target: str) -> DeviceView:
        """The device view of tensor argument ``i``; a ``LaunchError`` for a host array."""
        p = self.params[i]
        try:
            view = device_view(x, self.itemsizes[i])
        except ValueError as e:
            raise _fail(kernel, f"argument '{p.name}': {e}") from None
        if view is None:
            raise _fail(kernel, f"argument '{p.name}' is a host array "
                                f"({type(x).__module__}.{type(x).__name__}); target '{target}' "
                                f"runs on the GPU and needs device memory",
                        "pass a torch CUDA tensor, a cupy array or another "
                        "__cuda_array_interface__/DLPack device array; or run on the CPU "
                        "with target='interp' or 'emulate:" + target + "'")
        return view

    def runner(self, kernel: Any, target: str, current_stream: Any, current_driver: Any,
               fallback: Any) -> Any:
        """``run(grid, args, views, stream)``: ``values`` and ``launch`` in one generated
        function (``hit_codegen.plan_runner``), for the launcher's cache hits.
        ``current_stream()`` gives the stream when the launch names none;
        ``fallback(grid, args, stream)`` launches when ``current_driver()`` is no longer
        this plan's driver."""
        from tilelang.runtime.hit_codegen import plan_runner

        namespace = self.hit_namespace(kernel, target, current_stream, current_driver,
                                       fallback)
        namespace["cu_launch"] = self.driver.raw.cuLaunchKernel
        return plan_runner([p.rank for p in self.params], self.converters, namespace,
                           [m is not None for m in self.tensor_maps])


def check_arch(arch: str, capability: tuple[int, int], kernel: Any) -> bool:
    """Whether a cubin for ``arch`` runs on a device of ``capability`` (else its PTX goes
    through the driver's JIT); a ``LaunchError`` when neither can: sm_90a needs exactly
    9.0, sm_80 PTX runs on 8.0 and later (its cubin on 8.x only)."""
    major, minor = capability
    if arch == "sm_90a":
        ok = (major, minor) == (9, 0)
    else:
        ok = (major, minor) >= (8, 0)
    if not ok:
        raise _fail(kernel, f"target '{arch}' cannot run on this GPU (compute capability "
                            f"{major}.{minor})",
                    "launch without target= (the default follows the device) or on the CPU "
                    "with target='emulate:" + arch + "'")
    return arch == "sm_90a" or major == 8


__all__ = ["LaunchPlan", "check_arch", "contiguous_strides", "device_view"]
