"""``emulate-ptx:sm_80`` / ``emulate-ptx:sm_90a``: the NVIDIA path down to the PTX text,
run by the PTX interpreter (``tilelang/emulator/ptx``) instead of a GPU.

The target is the NVIDIA target with a different driver: ``EmulatedCu`` has the call
surface of ``cuda.bindings.driver`` that ``CudaDriver``, ``LaunchPlan`` and
``TensorMapCache`` use, backed by a ``PtxDevice``. So a launch packs its parameters
exactly as on the GPU (``param_buffer``), encodes TMA tensor maps through
``cuTensorMapEncodeTiled`` (into the interpreter's documented 128-byte form),
loads the module from PTX (``cuModuleLoadDataEx``) and calls ``cuLaunchKernel``,
which reads the parameters back through the ``void*`` array. ``with_host_arrays``
stages numpy arrays through ``cuMemAlloc``/``cuMemcpy*`` as on a GPU; a numpy array
passed straight to a launch is mapped at its own address for the launch.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from tilelang.emulator.ptx.launch import PtxDevice
from tilelang.emulator.ptx.tensormap import encode_tiled
from tilelang.errors import LaunchError
from tilelang.ir.lowbit import PackedArray
from tilelang.runtime.arrays import as_host_numpy
from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.cuda_driver import CudaDriver
from tilelang.runtime.nvidia_launch import LaunchPlan, device_view
from tilelang.runtime.nvidia_target import NvidiaTarget

_CAPABILITY = {"sm_80": (8, 0), "sm_90a": (9, 0)}
# CUtensorMapDataType values (CUDA driver API) and their element sizes
_DATA_TYPES = {"UINT8": (0, 1), "UINT16": (1, 2), "UINT32": (2, 4), "INT32": (3, 4),
               "UINT64": (4, 8), "INT64": (5, 8), "FLOAT16": (6, 2), "FLOAT32": (7, 4),
               "FLOAT64": (8, 8), "BFLOAT16": (9, 2)}


def _enum(prefix: str, values: dict[str, int]) -> type:
    return type(prefix, (), {f"{prefix}_{k}": v for k, v in values.items()})


class _Word(int):
    """The binding's ``cuuint64_t``/``cuuint32_t``: an integer the caller wraps."""


class EmulatedCu:
    """The driver API calls the runtime makes, answered by a ``PtxDevice``."""

    cuuint64_t = cuuint32_t = _Word

    class CUdevice_attribute:
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76

    class CUjit_option:
        CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 4
        CU_JIT_ERROR_LOG_BUFFER = 5

    class CUfunction_attribute:
        CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8

    CUtensorMapDataType = _enum("CU_TENSOR_MAP_DATA_TYPE",
                                {k: v[0] for k, v in _DATA_TYPES.items()})
    CUtensorMapInterleave = _enum("CU_TENSOR_MAP_INTERLEAVE", {"NONE": 0})
    CUtensorMapSwizzle = _enum("CU_TENSOR_MAP_SWIZZLE", {"NONE": 0, "32B": 1, "64B": 2,
                                                         "128B": 3})
    CUtensorMapL2promotion = _enum("CU_TENSOR_MAP_L2_PROMOTION", {"NONE": 0, "L2_64B": 1,
                                                                  "L2_128B": 2, "L2_256B": 3})
    CUtensorMapFloatOOBfill = _enum("CU_TENSOR_MAP_FLOAT_OOB_FILL", {"NONE": 0})

    def __init__(self, capability: tuple[int, int], device: PtxDevice) -> None:
        self.capability = capability
        self.device = device
        self.context = 0
        self.functions: dict[int, tuple[int, str]] = {}
        self.max_shared: dict[int, int] = {}

    def cuGetErrorName(self, code: int) -> tuple:
        return (1, None)

    def cuGetErrorString(self, code: int) -> tuple:
        return (1, None)

    def cuInit(self, flags: int) -> tuple:
        return (0,)

    def cuDeviceGetCount(self) -> tuple:
        return (0, 1)

    def cuCtxGetCurrent(self) -> tuple:
        return (0, self.context)

    def cuCtxGetDevice(self) -> tuple:
        return (0, 0)

    def cuDeviceGet(self, ordinal: int) -> tuple:
        return (0, ordinal)

    def cuDevicePrimaryCtxRetain(self, dev: int) -> tuple:
        return (0, 1)

    def cuCtxSetCurrent(self, ctx: int) -> tuple:
        self.context = ctx
        return (0,)

    def cuDeviceGetAttribute(self, attr: int, dev: int) -> tuple:
        return (0, self.capability[0] if attr == 75 else self.capability[1])

    def cuModuleLoadDataEx(self, image: bytes, n: int, options: list, values: list) -> tuple:
        return (0, self.device.load(image.rstrip(b"\0").decode()))

    def cuModuleGetFunction(self, module: int, name: bytes) -> tuple:
        handle = len(self.functions) + 1
        self.functions[handle] = self.device.function(module, name.decode())
        return (0, handle)

    def cuFuncSetAttribute(self, function: int, attr: int, value: int) -> tuple:
        self.max_shared[function] = value
        return (0,)

    def cuLaunchKernel(self, f: int, gx: int, gy: int, gz: int, bx: int, by: int, bz: int,
                       shared: int, stream: int, params: int, extra: int) -> tuple:
        if shared > 48 * 1024 and self.max_shared.get(f, 0) < shared:
            raise LaunchError(f"a launch with {shared} bytes of dynamic shared memory without "
                              f"raising CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES")
        self.device.launch(self.functions[f], (gx, gy, gz), (bx, by, bz), shared, params)
        return (0,)

    def cuCtxSynchronize(self) -> tuple:
        return (0,)

    def cuMemAlloc(self, nbytes: int) -> tuple:
        return (0, self.device.alloc(nbytes))

    def cuMemFree(self, address: int) -> tuple:
        self.device.free(address)
        return (0,)

    def cuMemcpyHtoD(self, address: int, host: int, nbytes: int) -> tuple:
        self.device.buffer(address, nbytes)[:] = np.frombuffer(
            (ctypes.c_uint8 * nbytes).from_address(host), np.uint8)
        return (0,)

    def cuMemcpyDtoH(self, host: int, address: int, nbytes: int) -> tuple:
        np.frombuffer((ctypes.c_uint8 * nbytes).from_address(host), np.uint8)[:] = \
            self.device.buffer(address, nbytes)
        return (0,)

    def cuTensorMapEncodeTiled(self, dtype: int, rank: int, address: int, dims: list,
                               strides: list, box: list, elem: list, interleave: int,
                               swizzle: int, l2: int, oob: int) -> tuple:
        itemsize = {v[0]: v[1] for v in _DATA_TYPES.values()}[dtype]
        words = [[int(x) for x in xs] for xs in (dims, strides, box, elem)]
        return (0, encode_tiled(dtype, itemsize, rank, address, *words, swizzle))


class EmulatedLaunchPlan(LaunchPlan):
    """``LaunchPlan`` whose tensors may also be host arrays (numpy, or anything
    ``arrays.as_host_numpy`` views as numpy), mapped at their own address for the launch;
    device arrays (``with_host_arrays``' copies) are addresses in the emulated device
    memory, as on a GPU."""

    def __init__(self, compiled: Any, driver: CudaDriver, kernel: Any, device: PtxDevice) \
            -> None:
        super().__init__(compiled, driver, kernel)
        self.device = device

    def view(self, i: int, x: Any, kernel: Any, target: str) -> Any:
        if isinstance(x, PackedArray) and isinstance(x.data, np.ndarray):
            self.device.map_host(x.data, self.params[i].name)     # its bytes
            return (x.data.ctypes.data, x.shape, x.strides, None)
        try:
            host = None if device_view(x, self.itemsizes[i]) is not None else as_host_numpy(x)
        except ValueError as e:
            raise LaunchError(f"argument '{self.params[i].name}': {e}",
                              kernel=kernel.name) from None
        if host is not None:              # numpy, or a CPU tensor seen as numpy
            x = host
            itemsize = x.dtype.itemsize
            if any(s % itemsize for s in x.strides):
                raise LaunchError(f"argument '{self.params[i].name}': byte strides "
                                  f"{x.strides} are not multiples of the element size",
                                  kernel=kernel.name)
            self.device.map_host(x, self.params[i].name)
            return (x.ctypes.data, tuple(x.shape), tuple(s // itemsize for s in x.strides),
                    None)
        return super().view(i, x, kernel, target)

    def unmap(self) -> None:
        """Unmap the host arrays of the launch."""
        self.device.unmap_host()


class EmulatePtxTarget(NvidiaTarget):
    """Compiles as ``arch`` and runs the PTX in the interpreter (see the module docstring)."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.name = f"emulate-ptx:{arch}"
        self.device = PtxDevice()
        self.driver = CudaDriver(cu=EmulatedCu(_CAPABILITY[arch], self.device))

    def finish(self, compiled: CompiledKernel) -> None:
        from tilelang.codegen.nvidia import ptx
        compiled.artifacts["ptx"] = ptx.emit_ptx(compiled.function, self.arch)

    def finish_cached(self, compiled: CompiledKernel) -> None:
        if "ptx" not in compiled.artifacts:
            self.finish(compiled)

    def plan(self, compiled: CompiledKernel, kernel: Any) -> Any:
        plan = compiled.program
        if plan is None or plan.driver is not self.driver:
            self.driver.ensure()
            plan = compiled.program = EmulatedLaunchPlan(compiled, self.driver, kernel,
                                                         self.device)
        return plan

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        plan = self.plan(compiled, kernel)
        try:
            values = plan.values(args, None, kernel, self.name)
            plan.launch(grid, values, 0, kernel)
        except LaunchError:
            raise
        except Exception as e:
            from tilelang.errors import KernelError
            if isinstance(e, KernelError):
                raise e.with_context(kernel=kernel.name, loc=kernel.source.def_loc) from None
            raise
        finally:
            plan.unmap()

    def fast_runner(self, compiled: CompiledKernel, kernel: Any, args: Any = ()) -> Any:
        def run(grid: tuple[int, int, int], args: list[Any], views: list[Any],
                stream: Any) -> None:
            self.launch(compiled, grid, args, kernel, stream)
        return run


__all__ = ["EmulatePtxTarget", "EmulatedCu", "EmulatedLaunchPlan"]
