"""Launching a compiled kernel on an AMD GPU: device arrays, streams, parameter packing.

The mirror of ``nvidia_launch`` over ``hip_driver``. The generated HIP kernel has
the PTX kernel's parameters (``codegen.abi.kernel_abi``), so the packing is the
same: one ``struct.Struct`` for all parameters, a buffer it packs into and the
``void*`` array pointing at each parameter inside it, built once per compiled
specialization. Arrays come from torch (ROCm builds report ``is_cuda``), cupy-rocm
(``__cuda_array_interface__``) or DLPack (device type ROCm); streams from torch or
cupy, as on NVIDIA (``streams.resolve_stream``: a ROCm build's "cuda"
stream is a ``hipStream_t``).

The code object is the one hipcc built at compile time when it was built for the
device's architecture; otherwise (no hipcc where the kernel was compiled, or
another arch) the HIP source is compiled by hiprtc for the device on first use.
"""

from __future__ import annotations

from typing import Any

from tilelang.ir.lowbit import PackedArray
from tilelang.runtime.hip_driver import HipDriver, LoadedHipFunction
from tilelang.runtime.nvidia_launch import DeviceView, _dlpack_view, _fail, device_view
from tilelang.runtime.param_buffer import PackedParams

# DLPack device types whose memory a HIP kernel can address
_DL_ROCM, _DL_ROCM_HOST = 10, 11
# gfx942 code also runs on the other CDNA3 parts' names the runtime may report
COMPATIBLE_ARCHS: dict[str, tuple[str, ...]] = {"gfx942": ("gfx942", "gfx941", "gfx940"),
                                                "gfx90a": ("gfx90a",)}


def amd_view(x: Any, itemsize: int) -> DeviceView | None:
    """Where a device array lives (torch on ROCm, cupy-rocm, DLPack ROCm), or ``None``
    for a host array; a ``ValueError`` for strides that are not whole elements."""
    if isinstance(x, PackedArray):
        view = amd_view(x.data, 1)
        return None if view is None else (view[0], x.shape, x.strides, view[3])
    dl_device = getattr(x, "__dlpack_device__", None)
    if dl_device is not None and getattr(x, "data_ptr", None) is None and \
            not hasattr(x, "__cuda_array_interface__"):
        kind, ordinal = dl_device()
        if int(kind) in (_DL_ROCM, _DL_ROCM_HOST):
            return _dlpack_view(x, int(ordinal))
        return None
    return device_view(x, itemsize)


class AmdLaunchPlan(PackedParams):
    """What a launch of one compiled specialization on an AMD GPU needs, computed once."""

    def __init__(self, compiled: Any, driver: HipDriver, kernel: Any = None) -> None:
        from tilelang.codegen.abi import kernel_abi
        abi = kernel_abi(compiled.function)
        super().__init__(compiled, abi)
        self.name = compiled.name
        self.target = compiled.target
        self.threads = abi.num_threads
        self.shared_bytes = 0   # LDS is static in the generated source
        self.driver = driver
        self.function: LoadedHipFunction | None = None
        self.source: str = compiled.artifacts["hip"]
        if driver.arch not in COMPATIBLE_ARCHS.get(self.target, (self.target,)):
            raise _fail(kernel, f"target '{self.target}' cannot run on this GPU ({driver.arch})",
                        "launch without target= (the default follows the device) or on the "
                        f"CPU with target='emulate:{self.target}'")
        # hipcc's code object only where it was built for exactly this device's arch (a
        # gfx940 object from an older hipcc does not load on a gfx942): else hiprtc
        self.code_object: bytes | None = None
        if compiled.artifacts.get("hsaco_arch") == driver.arch:
            self.code_object = compiled.artifacts.get("hsaco")

    def load(self) -> LoadedHipFunction:
        """Load the module on first use (hipcc's code object, else hiprtc's)."""
        if self.function is None:
            from tilelang.codegen.amd.hip import HIP_FLAGS
            if self.code_object is None:
                self.code_object = self.driver.compile(self.source, self.name,
                                                       options=tuple(HIP_FLAGS))
            self.function = self.driver.load(self.name, self.code_object)
        return self.function

    def current_device(self) -> int:
        return self.driver.device

    def view(self, i: int, x: Any, kernel: Any, target: str | None = None) -> DeviceView:
        """The device view of tensor argument ``i``; a ``LaunchError`` for a host array."""
        p = self.params[i]
        try:
            view = amd_view(x, self.itemsizes[i])
        except ValueError as e:
            raise _fail(kernel, f"argument '{p.name}': {e}") from None
        if view is None:
            raise _fail(kernel, f"argument '{p.name}' is a host array "
                                f"({type(x).__module__}.{type(x).__name__}); target "
                                f"'{self.target}' runs on the GPU and needs device memory",
                        "pass a torch (ROCm) tensor, a cupy-rocm array or another DLPack "
                        "device array; use kernel[grid].with_host_arrays(...) for numpy; or "
                        f"run on the CPU with target='emulate:{self.target}'")
        return view

    def runner(self, kernel: Any, current_stream: Any, current_driver: Any,
               fallback: Any) -> Any:
        """``run(grid, args, views, stream)``: ``values`` and ``launch`` in one generated
        function (``hit_codegen.plan_runner``), for the launcher's cache hits; the
        arguments as ``nvidia_launch.LaunchPlan.runner`` takes them."""
        from tilelang.runtime.hit_codegen import plan_runner

        namespace = self.hit_namespace(kernel, self.target, current_stream, current_driver,
                                       fallback)
        return plan_runner([p.rank for p in self.params], self.converters, namespace,
                           device_attr="device", raw_launch=False)


__all__ = ["AmdLaunchPlan", "COMPATIBLE_ARCHS", "amd_view"]
