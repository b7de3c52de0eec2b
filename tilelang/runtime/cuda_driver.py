"""A thin layer over the CUDA driver API (``cuda.bindings.driver`` of cuda-python).

Every driver call returns ``(CUresult, *values)``; ``CudaDriver`` checks each code
and turns a failure into a ``LaunchError`` carrying the driver's error name and
message. The driver is initialized lazily, on the first launch (or GPU
detection), so importing and compiling never need a GPU or ``libcuda``.

The bindings module is injected (``CudaDriver(cu=...)``): tests pass a fake
object with the same call surface, the runtime uses the real one.

Context: the context current on the calling thread (torch or cupy make their
device's primary context current) or else device 0's primary context, made
current. Modules are loaded into it from a cubin (``cuModuleLoadData``) or from
PTX through the driver's JIT (``cuModuleLoadDataEx``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tilelang.errors import LaunchError

CPU_TARGETS_HINT = "CPU targets: interp, emulate:sm_80, emulate:sm_90a"
# the static limit; more dynamic shared memory needs the function attribute raised
DEFAULT_SHARED_LIMIT = 48 * 1024


@dataclass
class LoadedFunction:
    """A kernel function loaded into the context: the module and function handles."""

    module: Any
    function: Any
    shared_bytes: int


class CudaDriver:
    """The CUDA driver, initialized on first use; ``cu`` is the bindings module (or a fake)."""

    def __init__(self, cu: Any = None) -> None:
        self._cu = cu
        self._lock = threading.Lock()
        self._ready = False
        self._failure: str | None = None
        self.device: Any = None
        self.ordinal = 0
        self.context: Any = None
        self.capability: tuple[int, int] = (0, 0)

    @property
    def raw(self) -> Any:
        """The bindings module itself (set once ``ensure`` has run), for the calls on
        the launch hot path."""
        return self._cu

    # -- errors ----------------------------------------------------------------------

    def describe(self, code: Any) -> str:
        """``NAME: message`` of a driver result code."""
        cu = self._cu
        name = message = None
        try:
            err, raw = cu.cuGetErrorName(code)
            if int(err) == 0 and raw:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
            err, raw = cu.cuGetErrorString(code)
            if int(err) == 0 and raw:
                message = raw.decode() if isinstance(raw, bytes) else str(raw)
        except Exception:  # the description of an error must not hide the error
            pass
        name = name or f"CUresult {int(code)}"
        return f"{name}: {message}" if message else name

    def check(self, result: Any, call: str) -> Any:
        """The values of a driver call's ``(CUresult, *values)``; a ``LaunchError`` on failure."""
        if isinstance(result, tuple):
            code, values = result[0], result[1:]
        else:
            code, values = result, ()
        if int(code) != 0:
            raise LaunchError(f"CUDA driver call {call} failed: {self.describe(code)}",
                              hint=_hint_for(self.describe(code)))
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    # -- initialization ----------------------------------------------------------------

    def ensure(self) -> None:
        """Initialize the driver and pick the context; a ``LaunchError`` when there is no
        device (the reason is remembered: later calls fail the same way, cheaply)."""
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
                raise _no_device(e.message, e.hint) from None
            except ImportError as e:
                self._failure = f"cuda-python is not installed ({e})"
                raise _no_device(self._failure, NO_BINDINGS_HINT) from None
            except Exception as e:  # the binding raises when libcuda cannot be loaded
                self._failure = f"{type(e).__name__}: {e}"
                hint = NO_DRIVER_HINT if "DynamicLibNotFound" in self._failure else None
                raise _no_device(self._failure, hint) from None
            self._ready = True

    def _initialize(self) -> None:
        if self._cu is None:
            from cuda.bindings import driver
            self._cu = driver
        cu = self._cu
        self.check(cu.cuInit(0), "cuInit")
        if self.check(cu.cuDeviceGetCount(), "cuDeviceGetCount") == 0:
            raise LaunchError("the driver reports 0 devices")
        ctx = self.check(cu.cuCtxGetCurrent(), "cuCtxGetCurrent")
        if ctx is not None and int(ctx) != 0:
            self.device = self.check(cu.cuCtxGetDevice(), "cuCtxGetDevice")
        else:
            self.device = self.check(cu.cuDeviceGet(0), "cuDeviceGet")
            ctx = self.check(cu.cuDevicePrimaryCtxRetain(self.device), "cuDevicePrimaryCtxRetain")
            self.check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.context = ctx
        self.ordinal = int(self.device)
        attr = cu.CUdevice_attribute
        major = self.check(cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.device), "cuDeviceGetAttribute")
        minor = self.check(cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.device), "cuDeviceGetAttribute")
        self.capability = (int(major), int(minor))

    def make_current(self) -> None:
        """Make the driver's context current on this thread (a new thread has none)."""
        self.ensure()
        cu = self._cu
        ctx = self.check(cu.cuCtxGetCurrent(), "cuCtxGetCurrent")
        if ctx is None or int(ctx) != int(self.context):
            self.check(cu.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")

    def probe(self) -> tuple[int, int] | None:
        """The compute capability of the device, or ``None`` where there is none (never raises)."""
        try:
            self.ensure()
        except LaunchError:
            return None
        return self.capability

    # -- modules -----------------------------------------------------------------------

    def load(self, name: str, shared_bytes: int, cubin: bytes | None = None,
             ptx: str | None = None) -> LoadedFunction:
        """Load ``name`` from a cubin, else JIT-compile it from PTX; raise the dynamic
        shared-memory limit when the kernel needs more than 48 KiB."""
        self.make_current()
        cu = self._cu
        if cubin is not None:
            module = self.check(cu.cuModuleLoadData(cubin), "cuModuleLoadData")
        elif ptx is not None:
            image = ptx.encode() + b"\0"
            opts = [cu.CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES]
            module = self._load_ptx(image, opts)
        else:
            raise LaunchError(f"kernel '{name}' has neither a cubin nor PTX to load")
        function = self.check(cu.cuModuleGetFunction(module, name.encode()),
                              "cuModuleGetFunction")
        if shared_bytes > DEFAULT_SHARED_LIMIT:
            self.check(cu.cuFuncSetAttribute(
                function, cu.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared_bytes), "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)")
        return LoadedFunction(module, function, shared_bytes)

    def _load_ptx(self, image: bytes, opts: list[Any]) -> Any:
        """``cuModuleLoadDataEx`` with an error-log buffer, whose text joins the error."""
        cu = self._cu
        # the binding passes a bytes-like option value as its char*: a bytearray is
        # writable storage the driver fills (an int address is a TypeError there)
        log = bytearray(8192)
        result = cu.cuModuleLoadDataEx(
            image, 2, [opts[0], cu.CUjit_option.CU_JIT_ERROR_LOG_BUFFER], [len(log), log])
        if int(result[0]) != 0:
            text = bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip()
            detail = self.describe(result[0]) + (f"\n{text}" if text else "")
            raise LaunchError(f"CUDA driver call cuModuleLoadDataEx (PTX JIT) failed: {detail}",
                              hint=_hint_for(detail))
        return result[1]

    # -- launch ------------------------------------------------------------------------

    def launch(self, function: Any, grid: tuple[int, int, int], threads: int,
               shared_bytes: int, stream: Any, params_address: int) -> None:
        """``cuLaunchKernel``; ``params_address`` is the address of the ``void*`` array."""
        try:
            result = self._cu.cuLaunchKernel(function, grid[0], grid[1], grid[2], threads, 1,
                                             1, shared_bytes, stream, params_address, 0)
        except (OverflowError, TypeError) as e:
            raise launch_arguments_error(e, grid, stream) from None
        if result[0]:  # CUresult is an int enum: CUDA_SUCCESS is falsy
            self.check(result, "cuLaunchKernel")

    def synchronize(self) -> None:
        """Wait for all work in the context."""
        self.make_current()
        self.check(self._cu.cuCtxSynchronize(), "cuCtxSynchronize")

    # -- memory (used by the GPU tests and benchmarks to stage numpy data) --------------

    def alloc(self, nbytes: int) -> int:
        """``cuMemAlloc``: a device address."""
        self.make_current()
        return int(self.check(self._cu.cuMemAlloc(max(nbytes, 1)), "cuMemAlloc"))

    def free(self, address: int) -> None:
        self.check(self._cu.cuMemFree(address), "cuMemFree")

    def copy_to_device(self, address: int, host: Any) -> None:
        """Copy a C-contiguous numpy array to device memory at ``address``."""
        self.check(self._cu.cuMemcpyHtoD(address, host.ctypes.data, host.nbytes), "cuMemcpyHtoD")

    def copy_to_host(self, host: Any, address: int) -> None:
        """Copy device memory at ``address`` into a C-contiguous numpy array."""
        self.check(self._cu.cuMemcpyDtoH(host.ctypes.data, address, host.nbytes), "cuMemcpyDtoH")


def _no_device(reason: str, hint: str | None = None) -> LaunchError:
    return LaunchError(f"no CUDA device found: {reason}",
                       hint=f"{hint}; or run on the CPU ({CPU_TARGETS_HINT})" if hint
                       else CPU_TARGETS_HINT)


def launch_arguments_error(error: Exception, grid: tuple[int, int, int],
                           stream: Any) -> LaunchError:
    """The ``LaunchError`` of launch arguments that the binding cannot convert (a grid
    dimension outside ``unsigned int``, a stream that is no handle)."""
    return LaunchError(f"cuLaunchKernel cannot take grid {tuple(grid)} on stream "
                       f"{stream!r}: {type(error).__name__}: {error}",
                       hint="grid dimensions are at most 2^31-1 x 65535 x 65535; the stream "
                            "is a CUstream, an int handle or a torch/cupy stream")


NO_DRIVER_HINT = ("this machine has no NVIDIA driver (libcuda.so.1 was not found): install "
                  "the driver, or make libcuda visible through LD_LIBRARY_PATH")
NO_BINDINGS_HINT = "pip install cuda-python"


def _hint_for(detail: str) -> str | None:
    if "NO_DEVICE" in detail:
        return "the driver sees no GPU: check nvidia-smi and CUDA_VISIBLE_DEVICES"
    if "NO_BINARY_FOR_GPU" in detail or "UNSUPPORTED_PTX_VERSION" in detail:
        return "the driver cannot run this code on this GPU: compile for the GPU's " \
               "architecture, or update the NVIDIA driver"
    if "OUT_OF_RESOURCES" in detail or "INVALID_VALUE" in detail:
        return "check the grid (at most 2^31-1 x 65535 x 65535), num_warps and shared memory"
    return None


_DEFAULT: CudaDriver | None = None


def default_driver() -> CudaDriver:
    """The process-wide driver over ``cuda.bindings.driver``."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CudaDriver()
    return _DEFAULT


def set_default_driver(driver: CudaDriver | None) -> CudaDriver | None:
    """Install ``driver`` as the process-wide driver (``None``: the real one on next use);
    returns the previous one."""
    global _DEFAULT
    previous, _DEFAULT = _DEFAULT, driver
    return previous


__all__ = ["CPU_TARGETS_HINT", "CudaDriver", "LoadedFunction", "NO_DRIVER_HINT",
           "default_driver", "launch_arguments_error", "set_default_driver"]
