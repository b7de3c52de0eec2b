"""A stand-in for ``cuda.bindings.driver``: the calls ``CudaDriver`` makes, recorded.

Each call returns ``(code, *values)`` like cuda-python; ``fail`` maps a call name to
the error code it returns. ``cuLaunchKernel`` reads the packed parameters back
through the ``void*`` array it is given, as the real driver would.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

ERRORS = {700: (b"CUDA_ERROR_ILLEGAL_ADDRESS", b"an illegal memory access was encountered"),
          100: (b"CUDA_ERROR_NO_DEVICE", b"no CUDA-capable device is detected"),
          209: (b"CUDA_ERROR_NO_BINARY_FOR_GPU", b"no kernel image is available for execution "
                                                 b"on the device")}


class FakeCu:
    """The driver API surface ``CudaDriver`` uses, with a device of ``capability``."""

    class CUdevice_attribute:
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76

    class CUjit_option:
        CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 4
        CU_JIT_ERROR_LOG_BUFFER = 5

    class CUfunction_attribute:
        CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8

    def __init__(self, capability: tuple[int, int] = (8, 0), devices: int = 1,
                 fail: dict[str, int] | None = None, current_context: int = 0) -> None:
        self.capability = capability
        self.devices = devices
        self.fail = fail or {}
        self.context = current_context
        self.calls: list[tuple[str, tuple]] = []
        self.launches: list[dict[str, Any]] = []
        self.param_formats: str = ""   # set by a test to read the parameters back

    def _ret(self, name: str, args: tuple, *values: Any) -> tuple:
        self.calls.append((name, args))
        if name in self.fail:
            return (self.fail[name],) + (None,) * len(values)
        return (0,) + values

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def cuGetErrorName(self, code: int) -> tuple:
        return (0, ERRORS[int(code)][0]) if int(code) in ERRORS else (1, None)

    def cuGetErrorString(self, code: int) -> tuple:
        return (0, ERRORS[int(code)][1]) if int(code) in ERRORS else (1, None)

    def cuInit(self, flags: int) -> tuple:
        return self._ret("cuInit", (flags,))

    def cuDeviceGetCount(self) -> tuple:
        return self._ret("cuDeviceGetCount", (), self.devices)

    def cuCtxGetCurrent(self) -> tuple:
        return self._ret("cuCtxGetCurrent", (), self.context)

    def cuCtxGetDevice(self) -> tuple:
        return self._ret("cuCtxGetDevice", (), 0)

    def cuDeviceGet(self, ordinal: int) -> tuple:
        return self._ret("cuDeviceGet", (ordinal,), ordinal)

    def cuDevicePrimaryCtxRetain(self, dev: int) -> tuple:
        return self._ret("cuDevicePrimaryCtxRetain", (dev,), 0x1000)

    def cuCtxSetCurrent(self, ctx: int) -> tuple:
        self.context = ctx
        return self._ret("cuCtxSetCurrent", (ctx,))

    def cuDeviceGetAttribute(self, attr: int, dev: int) -> tuple:
        return self._ret("cuDeviceGetAttribute", (attr, dev),
                         self.capability[0] if attr == 75 else self.capability[1])

    def cuModuleLoadData(self, image: bytes) -> tuple:
        return self._ret("cuModuleLoadData", (image,), 0x2000)

    def cuModuleLoadDataEx(self, image: bytes, n: int, options: list, values: list) -> tuple:
        return self._ret("cuModuleLoadDataEx", (image, n, options, values), 0x2000)

    def cuModuleGetFunction(self, module: int, name: bytes) -> tuple:
        return self._ret("cuModuleGetFunction", (module, name), 0x3000)

    def cuFuncSetAttribute(self, function: int, attr: int, value: int) -> tuple:
        return self._ret("cuFuncSetAttribute", (function, attr, value))

    def cuCtxSynchronize(self) -> tuple:
        return self._ret("cuCtxSynchronize", ())

    def cuLaunchKernel(self, f: int, gx: int, gy: int, gz: int, bx: int, by: int, bz: int,
                       shared: int, stream: int, params: int, extra: int) -> tuple:
        record = {"function": f, "grid": (gx, gy, gz), "block": (bx, by, bz),
                  "shared": shared, "stream": stream, "params": None}
        if self.param_formats:
            pointers = (ctypes.c_void_p * len(self.param_formats)).from_address(params)
            record["params"] = [
                struct.unpack(code, ctypes.string_at(pointers[i], struct.calcsize(code)))[0]
                for i, code in enumerate(self.param_formats)]
        self.launches.append(record)
        return self._ret("cuLaunchKernel", (f,))


class FakeDeviceArray:
    """A device array described by ``__cuda_array_interface__`` (no memory behind it)."""

    def __init__(self, shape: tuple[int, ...], typestr: str = "<f4", address: int = 0x10000,
                 strides: tuple[int, ...] | None = None, device: int | None = None) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (address, False),
                                         "strides": strides, "version": 3}
        self.shape = shape
        self._device = device

    @property
    def device(self) -> object:
        """Like cupy's ``ndarray.device``: an object with the ordinal as ``id``."""
        return type("Device", (), {"id": self._device})()
