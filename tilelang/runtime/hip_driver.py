"""A thin layer over HIP's module API and hiprtc (``hip.hip`` / ``hip.hiprtc`` of hip-python).

Every call returns ``(hipError_t or hiprtcResult, *values)``; ``HipDriver`` checks
each code and turns a failure into a ``LaunchError`` carrying HIP's error name
and message. The runtime is initialized lazily, on the first launch (or GPU
detection), so importing and compiling never need a GPU or ``libamdhip64``.

The bindings are injected (``HipDriver(hip=..., hiprtc=...)``): tests pass fake
modules with the same call surface, the runtime imports hip-python (the ``amd``
extra: ``pip install "tilelang[amd]"``).

Device: the current device of the calling thread (torch and cupy set it).
Modules are loaded from a code object (``hipModuleLoadData``), compiled by hipcc
at compile time or, where the machine had no hipcc, by hiprtc for the device's
own architecture (``compile``). Launches pass the parameters as a ``void*``
array (``hipModuleLaunchKernel``); LDS is static in the generated source, so the
dynamic size is whatever the caller asks (0 for tilelang's kernels).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tilelang.errors import LaunchError

CPU_TARGETS_HINT = "CPU targets: interp, emulate:gfx90a, emulate:gfx942"


@dataclass
class LoadedHipFunction:
    """A kernel function loaded on the device: the module and function handles."""

    module: Any
    function: Any
    shared_bytes: int


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw).split(b"\0", 1)[0].decode(errors="replace")
    return str(raw)


def _split(result: Any) -> tuple[Any, tuple[Any, ...]]:
    if isinstance(result, tuple):
        return result[0], result[1:]
    return result, ()


def base_arch(gcn_arch_name: str) -> str:
    """``gfx90a`` from a device's ``gcnArchName`` such as ``gfx90a:sramecc+:xnack-``."""
    return gcn_arch_name.split(":", 1)[0].strip()


class HipDriver:
    """The HIP runtime, initialized on first use; ``hip``/``hiprtc`` are the bindings
    modules (or fakes)."""

    def __init__(self, hip: Any = None, hiprtc: Any = None) -> None:
        self._hip = hip
        self._hiprtc = hiprtc
        self._lock = threading.Lock()
        self._ready = False
        self._failure: str | None = None
        self.device = 0
        self.arch = ""

    @property
    def raw(self) -> Any:
        return self._hip

    # -- errors --------------------------------------------------------------------------

    def describe(self, code: Any) -> str:
        """``NAME: message`` of a HIP result code."""
        name = message = None
        try:
            # hip-python answers with the text itself (older releases: a 1-tuple)
            raw = self._hip.hipGetErrorName(code)
            name = _text(raw[-1] if isinstance(raw, tuple) else raw)
            raw = self._hip.hipGetErrorString(code)
            message = _text(raw[-1] if isinstance(raw, tuple) else raw)
        except Exception:  # the description of an error must not hide the error
            pass
        name = name or getattr(code, "name", None) or f"hipError_t {int(code)}"
        return f"{name}: {message}" if message and message != name else name

    def _describe_rtc(self, code: Any) -> str:
        try:
            raw = self._hiprtc.hiprtcGetErrorString(code)
            text = _text(raw[-1] if isinstance(raw, tuple) else raw)
        except Exception:
            text = None
        return text or getattr(code, "name", None) or f"hiprtcResult {int(code)}"

    def check(self, result: Any, call: str) -> Any:
        """The values of a HIP call's ``(hipError_t, *values)``; a ``LaunchError`` on failure."""
        code, values = _split(result)
        if int(code) != 0:
            detail = self.describe(code)
            raise LaunchError(f"HIP call {call} failed: {detail}", hint=_hint_for(detail))
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def _check_rtc(self, result: Any, call: str, log: str = "") -> Any:
        code, values = _split(result)
        if int(code) != 0:
            detail = self._describe_rtc(code) + (f"\n{log}" if log else "")
            raise LaunchError(f"hiprtc call {call} failed: {detail}",
                              hint="a bug in the HIP code generator or a feature this hiprtc "
                                   "lacks; report it with the HIP source")
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    # -- initialization --------------------------------------------------------------------

    def ensure(self) -> None:
        """Initialize HIP and read the current device's architecture; a ``LaunchError``
        naming the CPU targets when there is no AMD GPU (remembered: later calls fail the
        same way, cheaply)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self._failure is not None:
                raise _no_device(self._failure)
            try:
                self._initialize()
            except LaunchError as e:
                self._failure = e.message
                raise _no_device(e.message) from None
            except Exception as e:  # no hip-python, no libamdhip64: no device
                self._failure = f"{type(e).__name__}: {e}"
                raise _no_device(self._failure) from None
            self._ready = True

    def _initialize(self) -> None:
        if self._hip is None:
            from hip import hip
            self._hip = hip
        hip = self._hip
        self.check(hip.hipInit(0), "hipInit")
        if self.check(hip.hipGetDeviceCount(), "hipGetDeviceCount") == 0:
            raise LaunchError("the HIP runtime reports 0 devices")
        self.device = int(self.check(hip.hipGetDevice(), "hipGetDevice"))
        self.arch = base_arch(_text(self._properties(self.device).gcnArchName) or "")

    def _properties(self, device: int) -> Any:
        """``hipDeviceProp_t`` of ``device``: hip-python returns it, as
        ``(hipError_t, props)`` (its signature is ``hipGetDeviceProperties(deviceId)``)."""
        return self.check(self._hip.hipGetDeviceProperties(device), "hipGetDeviceProperties")

    def probe(self) -> str | None:
        """The device's architecture (``gfx90a``), or ``None`` where there is none."""
        try:
            self.ensure()
        except LaunchError:
            return None
        return self.arch

    # -- compiling and loading ------------------------------------------------------------------

    def compile(self, source: str, name: str, arch: str | None = None,
                options: tuple[str, ...] = ()) -> bytes:
        """A code object of HIP ``source`` for ``arch`` (the device's by default) through
        hiprtc; the compiler's log joins the ``LaunchError`` of a failure."""
        self.ensure()
        if self._hiprtc is None:
            from hip import hiprtc
            self._hiprtc = hiprtc
        rtc = self._hiprtc
        prog = self._check_rtc(rtc.hiprtcCreateProgram(source.encode(), f"{name}.hip".encode(),
                                                       0, [], []), "hiprtcCreateProgram")
        try:
            opts = [f"--offload-arch={arch or self.arch}".encode()] + [o.encode() for o in options]
            result = rtc.hiprtcCompileProgram(prog, len(opts), opts)
            code, _ = _split(result)
            if int(code) != 0:
                self._check_rtc(result, "hiprtcCompileProgram", self._program_log(prog))
            size = int(self._check_rtc(rtc.hiprtcGetCodeSize(prog), "hiprtcGetCodeSize"))
            buf = bytearray(size)
            self._check_rtc(rtc.hiprtcGetCode(prog, buf), "hiprtcGetCode")
            return bytes(buf)
        finally:
            try:
                rtc.hiprtcDestroyProgram(prog)
            except Exception:  # cleanup must not hide the compile's own error
                pass

    def _program_log(self, prog: Any) -> str:
        try:
            size = int(_split(self._hiprtc.hiprtcGetProgramLogSize(prog))[1][0])
            buf = bytearray(size)
            self._hiprtc.hiprtcGetProgramLog(prog, buf)
            return _text(buf) or ""
        except Exception:
            return ""

    def load(self, name: str, code_object: bytes, shared_bytes: int = 0) -> LoadedHipFunction:
        """Load ``name`` from a code object (an AMDGPU ELF or an offload bundle)."""
        self.ensure()
        hip = self._hip
        module = self.check(hip.hipModuleLoadData(code_object), "hipModuleLoadData")
        function = self.check(hip.hipModuleGetFunction(module, name.encode()),
                              "hipModuleGetFunction")
        return LoadedHipFunction(module, function, shared_bytes)

    # -- launch ------------------------------------------------------------------------------

    def launch(self, function: Any, grid: tuple[int, int, int], threads: int,
               shared_bytes: int, stream: Any, params_address: int) -> None:
        """``hipModuleLaunchKernel``; ``params_address`` is the address of the ``void*`` array."""
        result = self._hip.hipModuleLaunchKernel(function, grid[0], grid[1], grid[2], threads,
                                                 1, 1, shared_bytes, stream, params_address,
                                                 None)
        code, _ = _split(result)
        if int(code) != 0:
            self.check(result, "hipModuleLaunchKernel")

    def synchronize(self) -> None:
        self.ensure()
        self.check(self._hip.hipDeviceSynchronize(), "hipDeviceSynchronize")

    def create_stream(self) -> Any:
        """A new stream (``hipStreamCreate``)."""
        self.ensure()
        return self.check(self._hip.hipStreamCreate(), "hipStreamCreate")

    def destroy_stream(self, stream: Any) -> None:
        self.check(self._hip.hipStreamDestroy(stream), "hipStreamDestroy")

    # -- memory (the GPU tests stage numpy data with these) ------------------------------------

    def alloc(self, nbytes: int) -> int:
        self.ensure()
        return int(self.check(self._hip.hipMalloc(max(nbytes, 1)), "hipMalloc"))

    def free(self, address: int) -> None:
        self.check(self._hip.hipFree(address), "hipFree")

    def copy_to_device(self, address: int, host: Any) -> None:
        kind = self._hip.hipMemcpyKind.hipMemcpyHostToDevice
        self.check(self._hip.hipMemcpy(address, host.ctypes.data, host.nbytes, kind), "hipMemcpy")

    def copy_to_host(self, host: Any, address: int) -> None:
        kind = self._hip.hipMemcpyKind.hipMemcpyDeviceToHost
        self.check(self._hip.hipMemcpy(host.ctypes.data, address, host.nbytes, kind), "hipMemcpy")


def _no_device(reason: str) -> LaunchError:
    return LaunchError(f"no AMD GPU found: {reason}", hint=CPU_TARGETS_HINT)


def _hint_for(detail: str) -> str | None:
    if "NoBinaryForGpu" in detail or "InvalidImage" in detail or "InvalidKernelFile" in detail:
        return "the code object was built for another architecture: compile for the GPU's " \
               "own (gfx90a for MI200, gfx942 for MI300)"
    if "OutOfResources" in detail or "InvalidValue" in detail or "InvalidConfiguration" in detail:
        return "check the grid (at most 2^31-1 x 65535 x 65535), num_warps and LDS size"
    return None


_DEFAULT: HipDriver | None = None


def default_driver() -> HipDriver:
    """The process-wide driver over hip-python."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = HipDriver()
    return _DEFAULT


def set_default_driver(driver: HipDriver | None) -> HipDriver | None:
    """Install ``driver`` as the process-wide HIP driver (``None``: the real one on next
    use); returns the previous one."""
    global _DEFAULT
    previous, _DEFAULT = _DEFAULT, driver
    return previous


__all__ = ["CPU_TARGETS_HINT", "HipDriver", "LoadedHipFunction", "base_arch",
           "default_driver", "set_default_driver"]
