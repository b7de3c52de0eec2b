"""The driver calls the runtime, the autotuner and the benchmarks make outside the fake
driver's surface (memory, events, device queries), replayed against the real
``cuda.bindings.driver`` with the argument types they pass (``cuda_binding_check``)."""

from __future__ import annotations

import pytest

from tests.runtime.cuda_binding_check import check_call, replay_safe, returns
from tests.runtime.fake_cuda import real

pytestmark = pytest.mark.skipif(not replay_safe(), reason="an NVIDIA driver library is "
                                "installed: replaying fake handles would reach it")

DEV = real.CUdevice(0)
EVENT = real.CUevent(0x10)

# (call, arguments as the code passes them, where)
CALLS = [
    ("cuMemAlloc", (4096,), "CudaDriver.alloc"),
    ("cuMemFree", (0x7000_0000,), "CudaDriver.free"),
    ("cuMemcpyHtoD", (0x7000_0000, 0x1000, 64), "CudaDriver.copy_to_device"),
    ("cuMemcpyDtoH", (0x1000, 0x7000_0000, 64), "CudaDriver.copy_to_host"),
    ("cuDeviceGetName", (256, DEV), "autotune.bench, benchmarks/run.py"),
    ("cuDriverGetVersion", (), "benchmarks/run.py"),
    ("cuEventCreate", (0,), "autotune.bench"),
    ("cuEventRecord", (EVENT, 0), "autotune.bench"),
    ("cuEventSynchronize", (EVENT,), "autotune.bench"),
    ("cuEventElapsedTime", (EVENT, EVENT), "autotune.bench"),
    ("cuEventDestroy", (EVENT,), "autotune.bench"),
    ("cuMemcpyDtoDAsync", (0x7000_0000, 0x7100_0000, 64, 0), "benchmarks/run.py"),
    ("cuDeviceGetAttribute", (real.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                              DEV), "persistent_launch.device_sms"),
    ("cuDeviceTotalMem", (DEV,), "benchmarks/device_env.py"),
    ("cuDeviceGetAttribute", (
        real.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, DEV),
     "benchmarks/device_env.py"),
    ("cuLaunchKernel", (real.CUfunction(1), 2**31 - 1, 65535, 65535, 1024, 1, 1, 227 * 1024,
                        0x7F00_0000_1000, 0x1000, 0), "the largest grid, a torch stream"),
]


@pytest.mark.parametrize("name,args,where", CALLS, ids=[c[0] for c in CALLS])
def test_the_real_binding_converts_the_arguments(name, args, where):
    check_call(name, args)


def test_returned_values_are_what_the_code_reads():
    # int(...) of a CUdeviceptr, the name as bytes, the elapsed time as a float
    assert returns("cuMemAlloc") == ("CUdeviceptr",) and int(real.CUdeviceptr(5)) == 5
    assert returns("cuDeviceGetName") == ("bytes",)
    assert returns("cuEventElapsedTime") == ("float",)
    assert returns("cuDriverGetVersion") == ("int",)
    assert returns("cuLaunchKernel") == ()
    # the launch path tests CUresult for truth: CUDA_SUCCESS must be falsy
    assert not real.CUresult.CUDA_SUCCESS and real.CUresult.CUDA_ERROR_INVALID_VALUE
