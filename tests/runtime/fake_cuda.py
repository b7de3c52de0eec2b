"""A stand-in for ``cuda.bindings.driver``: the calls ``CudaDriver`` makes, recorded.

Each call returns what cuda-python returns: ``(CUresult, *values)`` with the real
handle types (``CUcontext``, ``CUmodule``, ``CUfunction``, ...), and the enums are the
real ones. Every call and answer goes through ``cuda_binding_check``, which holds
them against the real binding's signatures, argument conversion and documented
returns, so a test on the fake cannot pass where the real binding would fail.
``fail`` maps a call name to the error code it returns. ``cuLaunchKernel`` reads
the packed parameters back through the ``void*`` array it is given, as the real
driver would.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from cuda.bindings import driver as real

from tests.runtime.cuda_binding_check import check_call, check_result

ERRORS = {700: (b"CUDA_ERROR_ILLEGAL_ADDRESS", b"an illegal memory access was encountered"),
          100: (b"CUDA_ERROR_NO_DEVICE", b"no CUDA-capable device is detected"),
          209: (b"CUDA_ERROR_NO_BINARY_FOR_GPU", b"no kernel image is available for execution "
                                                 b"on the device")}


class FakeCu:
    """The driver API surface ``CudaDriver`` uses, with a device of ``capability``."""

    CUresult = real.CUresult
    CUdevice_attribute = real.CUdevice_attribute
    CUjit_option = real.CUjit_option
    CUfunction_attribute = real.CUfunction_attribute
    CUtensorMapDataType = real.CUtensorMapDataType
    CUtensorMapInterleave = real.CUtensorMapInterleave
    CUtensorMapSwizzle = real.CUtensorMapSwizzle
    CUtensorMapL2promotion = real.CUtensorMapL2promotion
    CUtensorMapFloatOOBfill = real.CUtensorMapFloatOOBfill
    cuuint32_t = real.cuuint32_t
    cuuint64_t = real.cuuint64_t

    def __init__(self, capability: tuple[int, int] = (8, 0), devices: int = 1,
                 fail: dict[str, int] | None = None, current_context: int = 0,
                 sms: int = 108, mimic: bool = False) -> None:
        self.capability = capability
        # raise the real binding's conversion errors instead of failing the test
        self.mimic = mimic
        self.sms = sms
        self.devices = devices
        self.fail = fail or {}
        self.context = current_context
        self.calls: list[tuple[str, tuple]] = []
        self.launches: list[dict[str, Any]] = []
        self.param_formats: str = ""   # set by a test to read the parameters back

    def _ret(self, name: str, args: tuple, *values: Any) -> tuple:
        """Record ``name(*args)`` (``args``: every argument, as the real call takes them)
        and answer ``(CUresult, *values)``, or the error code of ``fail`` with ``None``s."""
        check_call(name, args, self.mimic)
        self.calls.append((name, args))
        if name in self.fail:
            return check_result(name, (real.CUresult(self.fail[name]),) + (None,) * len(values))
        return check_result(name, (real.CUresult.CUDA_SUCCESS,) + values)

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def calls_as_ints(self) -> list[tuple[str, tuple]]:
        """``calls`` with the binding's handles and enums as ints, for comparisons."""
        def plain(a: Any) -> Any:
            return int(a) if isinstance(a, int) or hasattr(a, "getPtr") else a
        return [(n, tuple(plain(a) for a in args)) for n, args in self.calls]

    def _error_text(self, name: str, code: Any, i: int) -> tuple:
        check_call(name, (code,))
        if int(code) in ERRORS:
            return check_result(name, (real.CUresult.CUDA_SUCCESS, ERRORS[int(code)][i]))
        return check_result(name, (real.CUresult.CUDA_ERROR_INVALID_VALUE, None))

    def cuGetErrorName(self, code: Any) -> tuple:
        return self._error_text("cuGetErrorName", code, 0)

    def cuGetErrorString(self, code: Any) -> tuple:
        return self._error_text("cuGetErrorString", code, 1)

    def cuInit(self, flags: int) -> tuple:
        return self._ret("cuInit", (flags,))

    def cuDeviceGetCount(self) -> tuple:
        return self._ret("cuDeviceGetCount", (), self.devices)

    def cuCtxGetCurrent(self) -> tuple:
        return self._ret("cuCtxGetCurrent", (), real.CUcontext(int(self.context)))

    def cuCtxGetDevice(self) -> tuple:
        return self._ret("cuCtxGetDevice", (), real.CUdevice(0))

    def cuDeviceGet(self, ordinal: int) -> tuple:
        return self._ret("cuDeviceGet", (ordinal,), real.CUdevice(ordinal))

    def cuDevicePrimaryCtxRetain(self, dev: Any) -> tuple:
        return self._ret("cuDevicePrimaryCtxRetain", (dev,), real.CUcontext(0x1000))

    def cuCtxSetCurrent(self, ctx: Any) -> tuple:
        self.context = int(ctx)
        return self._ret("cuCtxSetCurrent", (ctx,))

    def cuDeviceGetAttribute(self, attr: Any, dev: Any) -> tuple:
        a = real.CUdevice_attribute
        values = {a.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: self.capability[0],
                  a.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: self.capability[1],
                  a.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: self.sms}
        if attr not in values:   # an attribute this fake does not model: as an old driver
            check_call("cuDeviceGetAttribute", (attr, dev))
            return check_result("cuDeviceGetAttribute",
                                (real.CUresult.CUDA_ERROR_INVALID_VALUE, None))
        return self._ret("cuDeviceGetAttribute", (attr, dev), values[attr])

    def cuModuleLoadData(self, image: bytes) -> tuple:
        return self._ret("cuModuleLoadData", (image,), real.CUmodule(0x2000))

    def cuModuleLoadDataEx(self, image: bytes, n: int, options: list, values: list) -> tuple:
        return self._ret("cuModuleLoadDataEx", (image, n, options, values),
                         real.CUmodule(0x2000))

    def cuModuleGetFunction(self, module: Any, name: bytes) -> tuple:
        return self._ret("cuModuleGetFunction", (module, name), real.CUfunction(0x3000))

    def cuFuncSetAttribute(self, function: Any, attr: Any, value: int) -> tuple:
        return self._ret("cuFuncSetAttribute", (function, attr, value))

    def cuCtxSynchronize(self) -> tuple:
        return self._ret("cuCtxSynchronize", ())

    def cuLaunchKernel(self, f: Any, gx: int, gy: int, gz: int, bx: int, by: int, bz: int,
                       shared: int, stream: Any, params: int, extra: int) -> tuple:
        check_call("cuLaunchKernel", (f, gx, gy, gz, bx, by, bz, shared, stream, params, extra),
                   self.mimic)
        record = {"function": f, "grid": (gx, gy, gz), "block": (bx, by, bz),
                  "shared": shared, "stream": stream, "params": None}
        if self.param_formats:
            pointers = (ctypes.c_void_p * len(self.param_formats)).from_address(params)
            record["params"] = [
                struct.unpack(code, ctypes.string_at(pointers[i], struct.calcsize(code)))[0]
                for i, code in enumerate(self.param_formats)]
        self.launches.append(record)
        return self._ret("cuLaunchKernel", (f, gx, gy, gz, bx, by, bz, shared, stream, params,
                                            extra))


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
