"""The NVIDIA launch path against a fake driver (``fake_cuda.FakeCu``): parameter packing
per ``kernel_abi``, module loading, shared memory, errors, streams, array checks, the
default target and the cache-hit dispatch."""

from __future__ import annotations

import struct
import sys
import types

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tilelang.codegen.abi import kernel_abi
from tilelang.runtime import targets
from tilelang.runtime.cuda_driver import CPU_TARGETS_HINT, CudaDriver, set_default_driver
from tilelang.runtime.streams import resolve_stream

from tests.runtime.fake_cuda import FakeCu, FakeDeviceArray


@tl.kernel
def k_scale(X: tl.Tensor, Y: tl.Tensor, s, BLOCK: tl.constexpr = 16):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)) * s)


@tl.kernel
def k_copy2d(X: tl.Tensor, Y: tl.Tensor, flag):
    tl.store(Y, (0, 0), tl.load(X, (0, 0), (16, 16)))


@pytest.fixture
def fake():
    """A fake 8.0 device installed as the process-wide driver (and the default target
    detection refreshed), restored afterwards."""
    cu = FakeCu(capability=(8, 0))
    previous = set_default_driver(CudaDriver(cu=cu))
    yield cu
    set_default_driver(previous)
    targets.detect_gpu_target(refresh=True)


def _abi_formats(kernel, signature):
    compiled = kernel.compile(signature, target="sm_80")
    return "".join(p.format for p in kernel_abi(compiled.function).params)


def _plan(kernel, signature):
    """The launch plan of ``kernel`` compiled for ``signature`` on the installed driver."""
    compiled = kernel.compile(signature, target="sm_80")
    return targets.get_target("sm_80").plan(compiled, kernel)


SCALARS = [(np.int8(-5), "i8", "b"), (np.uint8(200), "u8", "B"), (np.int16(-300), "i16", "h"),
           (np.uint16(60000), "u16", "H"), (7, "i32", "i"), (np.uint32(4_000_000_000), "u32", "I"),
           (2**40, "i64", "q"), (np.uint64(2**63 + 1), "u64", "Q"), (1.5, "f32", "f"),
           (np.float64(2.25), "f64", "d"), (np.float16(0.5), "f16", "e"), (True, "bool", "B")]


@pytest.mark.parametrize("value,dtype,code", SCALARS)
def test_packing_follows_kernel_abi(fake, value, dtype, code):
    x = FakeDeviceArray((64,), address=0x7000_0000)
    y = FakeDeviceArray((64,), address=0x7100_0000)
    fake.param_formats = _abi_formats(k_scale, f"X=f32[1],Y=f32[1],s={dtype}")
    assert fake.param_formats == "Qii" + "Qii" + code
    plan = _plan(k_scale, f"X=f32[1],Y=f32[1],s={dtype}")
    plan.launch((4, 1, 1), plan.values([x, y, value], None, k_scale, "sm_80"), 0, k_scale)
    launch = fake.launches[-1]
    expected = value.item() if isinstance(value, np.generic) else value
    assert launch["params"] == [0x7000_0000, 64, 1, 0x7100_0000, 64, 1, expected]
    assert launch["grid"] == (4, 1, 1) and launch["block"][1:] == (1, 1)


def test_bf16_scalar_travels_as_raw_bits(fake):
    value = ml_dtypes.bfloat16(1.5)
    fake.param_formats = _abi_formats(k_scale, "X=f32[1],Y=f32[1],s=bf16")
    plan = _plan(k_scale, "X=f32[1],Y=f32[1],s=bf16")
    args = [FakeDeviceArray((64,)), FakeDeviceArray((64,)), value]
    plan.launch((1, 1, 1), plan.values(args, None, k_scale, "sm_80"), 0, k_scale)
    assert fake.launches[-1]["params"][-1] == np.array(value).view(np.uint16)


def test_2d_shapes_and_element_strides(fake):
    fake.param_formats = _abi_formats(k_copy2d, "X=f32[2],Y=f32[2],flag=i32")
    x = FakeDeviceArray((16, 32), address=0x8000, strides=(32 * 4, 4))
    y = FakeDeviceArray((16, 16), address=0x9000)
    k_copy2d[(1,)](x, y, 1, target="sm_80")
    assert fake.launches[-1]["params"] == [0x8000, 16, 32, 32, 1, 0x9000, 16, 16, 16, 1, 1]


def test_cache_hit_skips_binding_and_relaunches(fake):
    x, y = FakeDeviceArray((64,)), FakeDeviceArray((64,), address=0x20000)
    k_scale[(4,)](x, y, 2.0, target="sm_80")
    k_scale[(4,)](x, y, 3.0, target="sm_80")
    assert len(k_scale._dispatch) >= 1 and len(fake.launches) == 2
    assert fake.names().count("cuModuleGetFunction") == 1      # loaded once
    # an unaligned array is another specialization, not a hit
    k_scale[(4,)](FakeDeviceArray((64,), address=0x20004), y, 3.0, target="sm_80")
    assert len(k_scale._compiled) >= 2


def test_a_hit_reads_each_launch_addresses(fake):
    """The layout of an array is worked out once; its address is read every launch."""
    fake.param_formats = _abi_formats(k_scale, "X=f32[1],Y=f32[1],s=f32")
    y = FakeDeviceArray((64,), address=0x20000)
    for address in (0x40000, 0x50000):
        k_scale[(4,)](FakeDeviceArray((64,), address=address), y, 2.0, target="sm_80")
        assert fake.launches[-1]["params"][0] == address
    # (an odd address is unaligned: a new specialization, still the right address)
    k_scale[(4,)](FakeDeviceArray((64,), address=0x50004), y, 2.0, target="sm_80")
    assert fake.launches[-1]["params"][0] == 0x50004


def test_cubin_or_ptx_by_device(fake):
    plan = _plan(k_scale, "X=f32[1],Y=f32[1],s=f32")
    plan.load()
    loader = "cuModuleLoadData" if plan.cubin is not None else "cuModuleLoadDataEx"
    assert loader in fake.names()
    # sm_80 code on a 9.0 device goes through the PTX JIT, never the sm_80 cubin
    cu9 = FakeCu(capability=(9, 0))
    set_default_driver(CudaDriver(cu=cu9))
    k_scale[(1,)](FakeDeviceArray((16,)), FakeDeviceArray((16,)), 1.0, target="sm_80")
    assert "cuModuleLoadDataEx" in cu9.names() and "cuModuleLoadData" not in cu9.names()


def test_sm90a_needs_a_9_0_device(fake):
    with pytest.raises(tl.LaunchError, match=r"cannot run on this GPU \(compute capability 8.0\)"):
        k_scale[(1,)](FakeDeviceArray((16,)), FakeDeviceArray((16,)), 1.0, target="sm_90a")


def test_large_dynamic_shared_memory_raises_the_attribute():
    cu = FakeCu()
    driver = CudaDriver(cu=cu)
    driver.load("k", 48 * 1024, ptx=".version 8.0")
    assert "cuFuncSetAttribute" not in cu.names()
    driver.load("k", 100 * 1024, ptx=".version 8.0")
    assert ("cuFuncSetAttribute", (0x3000, 8, 100 * 1024)) in cu.calls_as_ints()


def test_driver_errors_carry_the_driver_message(fake):
    fake.fail["cuLaunchKernel"] = 700
    with pytest.raises(tl.LaunchError, match="cuLaunchKernel failed: CUDA_ERROR_ILLEGAL_ADDRESS: "
                                             "an illegal memory access was encountered"):
        k_scale[(1,)](FakeDeviceArray((16,)), FakeDeviceArray((16,)), 1.0, target="sm_80")


def test_jit_failure_names_the_driver_error():
    driver = CudaDriver(cu=FakeCu(fail={"cuModuleLoadDataEx": 209}))
    with pytest.raises(tl.LaunchError, match="CUDA_ERROR_NO_BINARY_FOR_GPU") as e:
        driver.load("k", 0, ptx=".version 8.0")
    assert "architecture" in e.value.hint


@pytest.mark.parametrize("cu", [FakeCu(devices=0), FakeCu(fail={"cuInit": 100})])
def test_no_device_is_a_clear_launch_error(cu):
    driver = CudaDriver(cu=cu)
    for _ in range(2):   # the failure is remembered, not retried
        with pytest.raises(tl.LaunchError, match="no CUDA device found") as e:
            driver.ensure()
        assert e.value.hint.endswith(f"({CPU_TARGETS_HINT})") or e.value.hint == CPU_TARGETS_HINT
    assert cu.names().count("cuInit") == 1
    assert driver.probe() is None


def test_missing_libcuda_is_no_device():
    class Broken:
        def cuInit(self, flags):
            raise OSError("libcuda.so.1: cannot open shared object file")

    with pytest.raises(tl.LaunchError, match="no CUDA device found: OSError: libcuda"):
        CudaDriver(cu=Broken()).ensure()


def test_an_existing_context_is_used():
    cu = FakeCu(current_context=0x4242)
    driver = CudaDriver(cu=cu)
    driver.ensure()
    assert int(driver.context) == 0x4242 and "cuDevicePrimaryCtxRetain" not in cu.names()
    cu2 = FakeCu()
    CudaDriver(cu=cu2).ensure()
    assert ("cuCtxSetCurrent", (0x1000,)) in cu2.calls_as_ints()


def test_stream_selection(fake, monkeypatch):
    class TorchStream:
        cuda_stream = 11

    class CupyStream:
        ptr = 12

    class ProtocolStream:
        def __cuda_stream__(self):
            return (0, 13)

    assert resolve_stream(None, [FakeDeviceArray((4,)), 1]) == 0
    assert resolve_stream(5, []) == 5
    assert resolve_stream(TorchStream(), []) == 11
    assert resolve_stream(CupyStream(), []) == 12
    assert resolve_stream(ProtocolStream(), []) == 13
    with pytest.raises(tl.LaunchError, match="is not a CUDA stream"):
        resolve_stream("default", [])
    # arguments from torch: the current torch stream
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(
        current_stream=lambda: types.SimpleNamespace(cuda_stream=99)))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    tensor_type = type("Tensor", (), {"__module__": "torch"})
    assert resolve_stream(None, [tensor_type()]) == 99
    # and through a launch
    k_scale[(1,)](FakeDeviceArray((16,)), FakeDeviceArray((16,)), 1.0, target="sm_80",
                  stream=TorchStream())
    assert fake.launches[-1]["stream"] == 11


def test_host_array_on_a_gpu_target(fake):
    with pytest.raises(tl.LaunchError, match="'X' is a host array .*numpy.ndarray") as e:
        k_scale[(1,)](np.zeros(16, np.float32), FakeDeviceArray((16,)), 1.0, target="sm_80")
    assert "torch CUDA tensor" in e.value.hint


def test_array_on_another_device(fake):
    with pytest.raises(tl.LaunchError, match="'Y' is on cuda:1, but the current device is cuda:0"):
        k_scale[(1,)](FakeDeviceArray((16,), device=0), FakeDeviceArray((16,), device=1), 1.0,
                      target="sm_80")


def test_array_on_another_device_at_a_cache_hit(fake):
    x, y = FakeDeviceArray((16,), device=0), FakeDeviceArray((16,), device=0)
    k_scale[(1,)](x, y, 1.0, target="sm_80")
    k_scale[(1,)](x, y, 1.0, target="sm_80")     # a hit
    with pytest.raises(tl.LaunchError, match="'X' is on cuda:2"):
        k_scale[(1,)](FakeDeviceArray((16,), device=2), y, 1.0, target="sm_80")


def test_unsupported_dtype(fake):
    with pytest.raises(tl.LaunchError, match="unsupported dtype"):
        k_scale[(1,)](FakeDeviceArray((16,), typestr="<c8"), FakeDeviceArray((16,)), 1.0,
                      target="sm_80")


def test_rank_that_differs_from_the_specialization(fake):
    plan = _plan(k_scale, "X=f32[1],Y=f32[1],s=f32")
    with pytest.raises(tl.LaunchError, match="'X' has rank 2, the kernel was specialized for rank 1"):
        plan.values([FakeDeviceArray((4, 4)), FakeDeviceArray((16,)), 1.0], None, k_scale, "sm_80")


def test_strides_that_are_not_whole_elements(fake):
    x = FakeDeviceArray((16,), strides=(6,))
    compiled = k_scale.compile("X=f32[1],Y=f32[1],s=f32", target="sm_80")
    plan = targets.get_target("sm_80").plan(compiled, k_scale)
    with pytest.raises(tl.LaunchError, match="not multiples of the element size 4"):
        plan.values([x, FakeDeviceArray((16,)), 1.0], None, k_scale, "sm_80")


def test_dimensions_beyond_i32_launch_the_wide_specialization(fake):
    # shapes and strides travel as 64-bit parameters ('q') for a wide tensor
    big = FakeDeviceArray((2**31,))
    fake.param_formats = _abi_formats(k_scale, "X=f32[1]:wide,Y=f32[1]:wide,s=f32")
    assert fake.param_formats == "Qqq" + "Qqq" + "f"
    k_scale[(1,)](big, big, 1.0, target="sm_80")
    assert fake.launches[-1]["params"][1:3] == [2**31, 1]


@pytest.mark.parametrize("capability,expected", [((9, 0), "sm_90a"), ((8, 0), "sm_80"),
                                                 ((8, 9), "sm_80"), ((7, 5), None)])
def test_gpu_detection(capability, expected):
    assert targets.detect_gpu_target(CudaDriver(cu=FakeCu(capability=capability))) == expected


def test_default_target_follows_the_device(monkeypatch):
    monkeypatch.delenv("TILELANG_TARGET", raising=False)
    monkeypatch.delenv("TILELANG_INTERPRET", raising=False)
    previous = set_default_driver(CudaDriver(cu=FakeCu(capability=(9, 0))))
    try:
        targets.detect_gpu_target(refresh=True)
        assert targets.resolve_target(None).name == "sm_90a"
        monkeypatch.setenv("TILELANG_INTERPRET", "1")
        assert targets.resolve_target(None).name == "interp"
        monkeypatch.setenv("TILELANG_INTERPRET", "0")
        monkeypatch.setenv("TILELANG_TARGET", "emulate:sm_80")
        assert targets.resolve_target(None).name == "emulate:sm_80"
        set_default_driver(CudaDriver(cu=FakeCu(devices=0)))
        monkeypatch.delenv("TILELANG_TARGET")
        monkeypatch.delenv("TILELANG_INTERPRET")
        targets.detect_gpu_target(refresh=True)
        assert targets.resolve_target(None).name == "interp"
    finally:
        set_default_driver(previous)
        targets.detect_gpu_target(refresh=True)


def test_param_struct_is_one_format(fake):
    plan = _plan(k_scale, "X=f32[1],Y=f32[1],s=f32")
    assert plan.struct.format == "@QiiQiif"
    assert plan.struct.size == struct.calcsize("@QiiQiif")


def test_no_libcuda_through_the_real_binding_is_a_launch_error_with_a_hint():
    """Where no NVIDIA driver is installed, cuda-python's calls raise (they do not return
    a CUresult): the runtime's answer is a LaunchError that says so."""
    from tests.runtime.cuda_binding_check import replay_safe
    if not replay_safe():
        pytest.skip("an NVIDIA driver library is installed here")
    driver = CudaDriver()
    with pytest.raises(tl.LaunchError, match="no CUDA device found: DynamicLibNotFoundError") as e:
        driver.ensure()
    assert "libcuda.so.1" in e.value.hint and CPU_TARGETS_HINT in e.value.hint
    assert driver.probe() is None


def test_the_jit_log_buffer_is_writable_memory_the_binding_accepts():
    """CU_JIT_ERROR_LOG_BUFFER's value is the buffer itself (a bytearray), not its address:
    the FakeCu replays the call against the real binding, which rejects an int."""
    cu = FakeCu()
    CudaDriver(cu=cu).load("k", 0, ptx=".version 8.0")
    name, (image, n, options, values) = cu.calls[-2]
    assert name == "cuModuleLoadDataEx" and n == 2 and isinstance(values[1], bytearray)


@pytest.mark.parametrize("grid", [(2**32, 1, 1), (-1, 1, 1)])
def test_a_grid_the_binding_cannot_convert_is_a_launch_error(grid):
    from tests.runtime.cuda_binding_check import replay_safe
    if not replay_safe():
        pytest.skip("the fake raises the binding's conversion errors only without libcuda")
    driver = CudaDriver(cu=FakeCu(mimic=True))
    function = driver.load("k", 0, ptx=".version 8.0").function
    with pytest.raises(tl.LaunchError, match="cuLaunchKernel cannot take grid") as e:
        driver.launch(function, grid, 128, 0, 0, 0x1234)
    assert "65535" in e.value.hint


def test_the_fake_driver_is_held_to_the_real_binding():
    """The checker behind FakeCu rejects what the real binding rejects."""
    from tests.runtime.cuda_binding_check import BindingMismatch, check_call, check_result
    from tests.runtime.fake_cuda import real
    with pytest.raises(BindingMismatch, match="no function"):
        check_call("cuLaunchKernelEx2", ())
    with pytest.raises(BindingMismatch, match="does not take"):
        check_call("cuModuleGetFunction", (1,))
    with pytest.raises(BindingMismatch, match="returns \\(CUresult, CUmodule\\)"):
        check_result("cuModuleLoadData", (real.CUresult.CUDA_SUCCESS,))
    with pytest.raises(BindingMismatch, match="returns a CUmodule"):
        check_result("cuModuleLoadData", (real.CUresult.CUDA_SUCCESS, 0x2000))
    with pytest.raises(BindingMismatch, match="must be a CUresult"):
        check_result("cuCtxSynchronize", (0,))
    from tests.runtime.cuda_binding_check import replay_safe
    if replay_safe():
        with pytest.raises(BindingMismatch, match="rejects the arguments"):
            check_call("cuModuleGetFunction", (real.CUmodule(1), "name"))   # str, not bytes
        with pytest.raises(BindingMismatch, match="cuuint64_t"):
            check_call("cuTensorMapEncodeTiled", (
                real.CUtensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 1, 0x1000, [64],
                [], [real.cuuint32_t(64)], [real.cuuint32_t(1)],
                real.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
                real.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_NONE,
                real.CUtensorMapL2promotion.CU_TENSOR_MAP_L2_PROMOTION_NONE,
                real.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE))


def test_a_cache_hit_with_an_unconvertible_grid_is_a_launch_error():
    from tests.runtime.cuda_binding_check import replay_safe
    if not replay_safe():
        pytest.skip("the fake raises the binding's conversion errors only without libcuda")
    cu = FakeCu(mimic=True)
    previous = set_default_driver(CudaDriver(cu=cu))
    try:
        x, y = FakeDeviceArray((64,)), FakeDeviceArray((64,), address=0x20000)
        k_scale[(4,)](x, y, 2.0, target="sm_80")
        with pytest.raises(tl.LaunchError, match="cannot take grid \\(4294967296, 1, 1\\)"):
            k_scale[(2**32,)](x, y, 2.0, target="sm_80")
    finally:
        set_default_driver(previous)
        targets.detect_gpu_target(refresh=True)


def test_missing_bindings_and_missing_devices_have_their_own_hints(monkeypatch):
    with pytest.raises(tl.LaunchError, match="CUDA_ERROR_NO_DEVICE") as e:
        CudaDriver(cu=FakeCu(fail={"cuInit": 100})).ensure()
    assert "nvidia-smi" in e.value.hint and CPU_TARGETS_HINT in e.value.hint
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)   # import fails
    with pytest.raises(tl.LaunchError, match="cuda-python is not installed") as e:
        CudaDriver().ensure()
    assert "pip install cuda-python" in e.value.hint
