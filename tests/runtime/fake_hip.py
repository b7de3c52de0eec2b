"""Stand-ins for hip-python's ``hip.hip`` and ``hip.hiprtc``: the calls ``HipDriver``
makes, recorded.

Each call returns ``(code, *values)`` like hip-python, and goes through
``hip_binding_check``, which holds name, arity and answer to hip-python's real
signatures; ``fail`` maps a call name to the error code it returns. ``hipModuleLaunchKernel`` reads the packed parameters
back through the ``void*`` array it is given, as the real runtime would.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from tests.runtime.hip_binding_check import check_call, check_result

ERRORS = {
    100: ("hipErrorNoDevice", "no ROCm-capable device is detected"),
    98: ("hipErrorInvalidDeviceFunction", "invalid device function"),
    209: ("hipErrorNoBinaryForGpu", "no kernel image is available for execution on the device"),
}


class FakeHip:
    """The HIP runtime surface ``HipDriver`` uses, with one device of ``arch``."""

    class hipDeviceProp_t:
        def __init__(self) -> None:
            self.gcnArchName = b""

    class hipMemcpyKind:
        hipMemcpyHostToDevice = 1
        hipMemcpyDeviceToHost = 2

    def __init__(self, arch: str = "gfx90a:sramecc+:xnack-", devices: int = 1,
                 fail: dict[str, int] | None = None) -> None:
        self.arch = arch
        self.devices = devices
        self.fail = fail or {}
        self.calls: list[tuple[str, tuple]] = []
        self.launches: list[dict[str, Any]] = []
        self.loaded: list[bytes] = []
        self.memory: dict[int, bytearray] = {}
        self.param_formats = ""   # set by a test to read the parameters back

    def _ret(self, name: str, args: tuple, *values: Any, record: tuple | None = None) -> tuple:
        """Check and record ``name(*args)`` (``record``: what ``calls`` keeps, when not
        ``args``) and answer ``(code, *values)``."""
        check_call("hip", name, args)
        self.calls.append((name, args if record is None else record))
        if name in self.fail:
            return check_result("hip", name, (self.fail[name],) + (None,) * len(values))
        return check_result("hip", name, (0,) + values)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def hipGetErrorName(self, code: int) -> tuple:
        check_call("hip", "hipGetErrorName", (code,))
        return (0, ERRORS.get(int(code), (f"hipError{int(code)}", ""))[0].encode())

    def hipGetErrorString(self, code: int) -> tuple:
        check_call("hip", "hipGetErrorString", (code,))
        return (0, ERRORS.get(int(code), ("", "unknown error"))[1].encode())

    def hipInit(self, flags: int) -> tuple:
        return self._ret("hipInit", (flags,))

    def hipGetDeviceCount(self) -> tuple:
        return self._ret("hipGetDeviceCount", (), self.devices)

    def hipGetDevice(self) -> tuple:
        return self._ret("hipGetDevice", (), 0)

    def hipGetDeviceProperties(self, device: int) -> tuple:
        props = self.hipDeviceProp_t()
        props.gcnArchName = self.arch.encode()
        return self._ret("hipGetDeviceProperties", (device,), props)

    def hipModuleLoadData(self, image: bytes) -> tuple:
        self.loaded.append(bytes(image))
        return self._ret("hipModuleLoadData", (image,), 0x1000 + len(self.loaded),
                         record=(len(image),))

    def hipModuleGetFunction(self, module: int, name: bytes) -> tuple:
        return self._ret("hipModuleGetFunction", (module, name), ("function", name.decode()))

    def hipModuleLaunchKernel(self, f: Any, gx: int, gy: int, gz: int, bx: int, by: int,
                              bz: int, shared: int, stream: Any, params: int,
                              extra: Any) -> tuple:
        values = []
        if self.param_formats:
            pointers = (ctypes.c_void_p * len(self.param_formats)).from_address(params)
            for code, address in zip(self.param_formats, pointers):
                size = struct.calcsize(code)
                values.append(struct.unpack(code, ctypes.string_at(address, size))[0])
        self.launches.append({"function": f, "grid": (gx, gy, gz), "block": (bx, by, bz),
                              "shared": shared, "stream": stream, "values": values})
        return self._ret("hipModuleLaunchKernel", (f, gx, gy, gz, bx, by, bz, shared, stream,
                                                   params, extra), record=(f,))

    def hipDeviceSynchronize(self) -> tuple:
        return self._ret("hipDeviceSynchronize", ())

    def hipMalloc(self, nbytes: int) -> tuple:
        address = 0x100000 * (len(self.memory) + 1)
        self.memory[address] = bytearray(nbytes)
        return self._ret("hipMalloc", (nbytes,), address)

    def hipFree(self, address: int) -> tuple:
        del self.memory[address]
        return self._ret("hipFree", (address,))

    def hipMemcpy(self, dst: int, src: int, nbytes: int, kind: int) -> tuple:
        if kind == self.hipMemcpyKind.hipMemcpyHostToDevice:
            self.memory[dst][:nbytes] = ctypes.string_at(src, nbytes)
        else:
            ctypes.memmove(dst, bytes(self.memory[src][:nbytes]), nbytes)
        return self._ret("hipMemcpy", (dst, src, nbytes, kind))

    def hipStreamCreate(self) -> tuple:
        return self._ret("hipStreamCreate", (), 0x5000)

    def hipStreamDestroy(self, stream: Any) -> tuple:
        return self._ret("hipStreamDestroy", (stream,))


class FakeHiprtc:
    """hiprtc: a compile "succeeds" unless the source contains ``broken``, whose log
    then names the line."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.programs: dict[int, dict[str, Any]] = {}

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _rtc(self, name: str, args: tuple, result: tuple) -> tuple:
        check_call("hiprtc", name, args)
        return check_result("hiprtc", name, result)

    def hiprtcGetErrorString(self, code: int) -> tuple:
        text = {6: "HIPRTC_ERROR_COMPILATION"}.get(int(code), "HIPRTC_ERROR")
        return self._rtc("hiprtcGetErrorString", (code,), (0, text.encode()))

    def hiprtcCreateProgram(self, src: bytes, name: bytes, n: int, headers: list,
                            names: list) -> tuple:
        handle = len(self.programs) + 1
        self.programs[handle] = {"src": src.decode(), "name": name.decode()}
        self.calls.append(("hiprtcCreateProgram", (name,)))
        return self._rtc("hiprtcCreateProgram", (src, name, n, headers, names), (0, handle))

    def hiprtcCompileProgram(self, prog: int, n: int, options: list) -> tuple:
        self.calls.append(("hiprtcCompileProgram", tuple(options)))
        p = self.programs[prog]
        p["options"] = [o.decode() for o in options]
        if "broken" in p["src"]:
            p["log"] = b"x.py:12:3: error: use of undeclared identifier 'broken'\0"
            return self._rtc("hiprtcCompileProgram", (prog, n, options), (6,))
        arch = next(o for o in p["options"] if o.startswith("--offload-arch="))
        p["code"] = b"\x7fELF-from-hiprtc-" + arch.encode()
        return self._rtc("hiprtcCompileProgram", (prog, n, options), (0,))

    def hiprtcGetProgramLogSize(self, prog: int) -> tuple:
        return self._rtc("hiprtcGetProgramLogSize", (prog,),
                         (0, len(self.programs[prog].get("log", b""))))

    def hiprtcGetProgramLog(self, prog: int, buf: bytearray) -> tuple:
        log = self.programs[prog].get("log", b"")
        buf[:len(log)] = log
        return self._rtc("hiprtcGetProgramLog", (prog, buf), (0,))

    def hiprtcGetCodeSize(self, prog: int) -> tuple:
        return self._rtc("hiprtcGetCodeSize", (prog,), (0, len(self.programs[prog]["code"])))

    def hiprtcGetCode(self, prog: int, buf: bytearray) -> tuple:
        code = self.programs[prog]["code"]
        buf[:len(code)] = code
        return self._rtc("hiprtcGetCode", (prog, buf), (0,))

    def hiprtcDestroyProgram(self, prog: int) -> tuple:
        self.calls.append(("hiprtcDestroyProgram", (prog,)))
        return self._rtc("hiprtcDestroyProgram", (prog,), (0,))


class FakeDeviceArray:
    """A device array seen through ``__cuda_array_interface__`` (cupy-rocm's way)."""

    def __init__(self, address: int, shape: tuple[int, ...], typestr: str = "<f4",
                 strides: tuple[int, ...] | None = None) -> None:
        self.__cuda_array_interface__ = {"data": (address, False), "shape": shape,
                                         "typestr": typestr, "strides": strides, "version": 3}
        self.shape = shape
        import numpy as np
        self.dtype = np.dtype(typestr)
