"""The AMD runtime over fake hip-python modules: initialization, hiprtc, module loading,
parameter packing, error mapping, and what a launch says without an AMD GPU."""

from __future__ import annotations

import numpy as np
import pytest

from tests.examples.test_examples import load_example
from tests.runtime.fake_hip import FakeDeviceArray, FakeHip, FakeHiprtc
from tilelang.codegen.amd import hipcc
from tilelang.codegen.abi import kernel_abi
from tilelang.errors import LaunchError
from tilelang.runtime import hip_driver
from tilelang.runtime.amd_target import detect_amd_target
from tilelang.runtime.hip_driver import HipDriver, base_arch
from tilelang.runtime.targets import get_target

SIG = "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16"


@pytest.fixture
def fake_driver():
    """A process-wide HIP driver over fakes with a gfx90a device (restored afterwards)."""
    hip, rtc = FakeHip(), FakeHiprtc()
    driver = HipDriver(hip=hip, hiprtc=rtc)
    previous = hip_driver.set_default_driver(driver)
    yield driver, hip, rtc
    hip_driver.set_default_driver(previous)


def _vector_add():
    return load_example("vector_add").vector_add


def test_base_arch_strips_target_features():
    assert base_arch("gfx90a:sramecc+:xnack-") == "gfx90a"
    assert base_arch("gfx942") == "gfx942"


def test_initialization_reads_the_device_arch():
    hip = FakeHip(arch="gfx942:sramecc+:xnack-")
    d = HipDriver(hip=hip, hiprtc=FakeHiprtc())
    assert d.probe() == "gfx942"
    assert hip.names()[:3] == ["hipInit", "hipGetDeviceCount", "hipGetDevice"]
    assert detect_amd_target(d) == "gfx942"
    assert detect_amd_target(HipDriver(hip=FakeHip(arch="gfx1100"))) is None


def test_no_device_is_a_launch_error_naming_the_cpu_targets():
    d = HipDriver(hip=FakeHip(fail={"hipInit": 100}))
    with pytest.raises(LaunchError) as e:
        d.ensure()
    msg = str(e.value)
    assert "no AMD GPU found" in msg and "hipErrorNoDevice" in msg
    assert "emulate:gfx90a" in msg and "emulate:gfx942" in msg and "interp" in msg
    with pytest.raises(LaunchError, match="no AMD GPU found"):   # remembered
        d.ensure()
    assert d.probe() is None


def test_without_hip_python_or_gpu_launching_says_so():
    """The real default driver on this machine: hip-python missing or no GPU."""
    previous = hip_driver.set_default_driver(None)
    try:
        x = np.zeros(16, np.float32)
        with pytest.raises(LaunchError) as e:
            _vector_add()[(1,)](x, x, x, target="gfx90a")
        msg = str(e.value)
        assert "no AMD GPU found" in msg and "emulate:gfx90a" in msg
        assert "vector_add" in msg
    finally:
        hip_driver.set_default_driver(previous)


def test_launch_packs_the_kernel_parameters(fake_driver):
    driver, hip, rtc = fake_driver
    compiled = _vector_add().compile(SIG, target="gfx90a")
    abi = kernel_abi(compiled.function)
    hip.param_formats = "".join(p.format for p in abi.params)
    n = 1000
    x, y, z = (FakeDeviceArray(0x10000 * (i + 1), (n,)) for i in range(3))
    _vector_add()[(4,)](x, y, z, target="gfx90a")
    (launch,) = hip.launches
    assert launch["grid"] == (4, 1, 1)
    assert launch["block"] == (abi.num_threads, 1, 1)
    assert launch["shared"] == 0, "LDS is static in the generated source"
    assert launch["values"] == [0x10000, n, 1, 0x20000, n, 1, 0x30000, n, 1]
    assert launch["function"] == ("function", "vector_add")


def test_a_repeated_launch_takes_the_generated_cache_hit_path(fake_driver, monkeypatch):
    """The second launch of a specialization reads the key and calls the plan's generated
    runner (no binding), packing what the general launch packs."""
    driver, hip, rtc = fake_driver
    k = _vector_add()
    compiled = k.compile(SIG, target="gfx90a")
    hip.param_formats = "".join(p.format for p in kernel_abi(compiled.function).params)
    x, y, z = (FakeDeviceArray(0x10000 * (i + 1), (1000,)) for i in range(3))
    k[(4,)](x, y, z, target="gfx90a")
    from tilelang.runtime import launcher

    def no_binding(*args, **kwargs):
        raise AssertionError("a cache hit binds no arguments")

    monkeypatch.setattr(launcher, "bind_arguments", no_binding)
    k[(4,)](x, y, FakeDeviceArray(0x70000, (1000,)), target="gfx90a")
    first, second = hip.launches
    assert second["values"] == first["values"][:6] + [0x70000, 1000, 1]
    # a dim of 2**31 needs the wide specialization, which the hit does not serve
    with pytest.raises(AssertionError, match="binds no arguments"):
        big = FakeDeviceArray(0x10000, (2**31,))
        k[(4,)](big, big, big, target="gfx90a")


def test_hipcc_code_object_is_loaded_when_built_for_the_device(fake_driver):
    driver, hip, rtc = fake_driver
    compiled = get_target("gfx90a").compile(_vector_add(), _spec(SIG, "gfx90a"))
    x = FakeDeviceArray(0x1000, (8,))
    get_target("gfx90a").launch(compiled, (1, 1, 1), [x, x, x], _vector_add())
    if hipcc.find_hipcc() is None:
        assert "hiprtcCompileProgram" in rtc.names()
    else:
        assert compiled.artifacts["hsaco_arch"] == "gfx90a"
        assert hip.loaded == [compiled.code_object] and not rtc.calls


def test_hiprtc_compiles_for_the_device_when_no_matching_code_object(fake_driver):
    driver, hip, rtc = fake_driver
    hip.arch = "gfx942:sramecc+:xnack-"
    target = get_target("gfx942")
    compiled = target.compile(_vector_add(), _spec(SIG, "gfx942"))
    if compiled.code_object is not None:
        compiled.artifacts["hsaco_arch"] = "gfx940"   # an older hipcc's stand-in
    compiled.program = None
    x = FakeDeviceArray(0x1000, (8,))
    target.launch(compiled, (1, 1, 1), [x, x, x], _vector_add())
    (_, options), = [c for c in rtc.calls if c[0] == "hiprtcCompileProgram"]
    assert b"--offload-arch=gfx942" in options and b"-fwrapv" in options
    assert hip.loaded == [b"\x7fELF-from-hiprtc---offload-arch=gfx942"]
    assert "hiprtcDestroyProgram" in rtc.names()


def test_hiprtc_failure_quotes_the_log():
    d = HipDriver(hip=FakeHip(), hiprtc=FakeHiprtc())
    with pytest.raises(LaunchError) as e:
        d.compile("int broken;", "k")
    assert "HIPRTC_ERROR_COMPILATION" in str(e.value) and "undeclared identifier" in str(e.value)


def test_hip_errors_carry_name_and_message(fake_driver):
    driver, hip, rtc = fake_driver
    hip.fail["hipModuleLaunchKernel"] = 98
    x = FakeDeviceArray(0x1000, (8,))
    with pytest.raises(LaunchError) as e:
        _vector_add()[(1,)](x, x, x, target="gfx90a")
    assert "hipModuleLaunchKernel" in str(e.value)
    assert "hipErrorInvalidDeviceFunction: invalid device function" in str(e.value)


def test_wrong_device_arch_and_host_arrays_are_launch_errors(fake_driver):
    driver, hip, rtc = fake_driver
    x = np.zeros(8, np.float32)
    with pytest.raises(LaunchError, match="host array"):
        _vector_add()[(1,)](x, x, x, target="gfx90a")
    hip.arch = "gfx942"
    d = HipDriver(hip=hip, hiprtc=rtc)
    hip_driver.set_default_driver(d)
    dev = FakeDeviceArray(0x1000, (8,))
    with pytest.raises(LaunchError, match=r"target 'gfx90a' cannot run on this GPU \(gfx942\)"):
        _vector_add()[(1,)](dev, dev, dev, target="gfx90a")


def test_artifacts_round_trip_through_the_disk_cache(fake_driver):
    from tilelang.runtime import cache
    k = _vector_add()
    spec = _spec("X=f32[1]:16,Y=f32[1]:16,Z=f32[1]", "gfx942")
    first = get_target("gfx942").compile(k, spec)
    key = cache.cache_key(k, spec, "gfx942")
    entry = cache.load(key)
    assert entry is not None and entry.artifacts["hip"] == first.hip
    second = get_target("gfx942").compile(k, spec)
    assert second.hip == first.hip and second.code_object == first.code_object
    if first.code_object is not None:
        assert (entry.path / "kernel.hsaco").read_bytes() == first.code_object
        assert second.artifacts["hsaco_arch"] == hipcc.resolve_arch("gfx942")


def _spec(sig: str, target: str):
    from tilelang.frontend.signature import parse_signature
    k = _vector_add()
    return k.make_specialization(parse_signature(k, sig), {})


def test_with_host_arrays_stages_numpy_through_hip_memory(fake_driver):
    driver, hip, rtc = fake_driver
    x = np.arange(8, dtype=np.float32)
    z = np.zeros(8, np.float32)
    _vector_add()[(1,)].with_host_arrays(x, x, z, target="gfx90a")
    names = hip.names()
    assert names.count("hipMalloc") == 2, "one copy per distinct array"
    launch = names.index("hipModuleLaunchKernel")
    assert names[launch + 1] == "hipDeviceSynchronize"
    assert names.count("hipMemcpy") == 4 and names.count("hipFree") == 2
    assert not hip.memory


def test_the_fake_hip_modules_are_held_to_the_real_signatures():
    """hip-python's hipGetDeviceProperties takes the device only and returns the
    properties; the checker behind FakeHip rejects the other shapes."""
    from tests.runtime.cuda_binding_check import BindingMismatch
    from tests.runtime.hip_binding_check import check_call, check_result, signatures
    assert signatures()["hip"]["hipGetDeviceProperties"]["params"] == ["deviceId"]
    with pytest.raises(BindingMismatch, match="takes 1 arguments; called with 2"):
        check_call("hip", "hipGetDeviceProperties", (object(), 0))
    with pytest.raises(BindingMismatch, match="has no hipLaunchKernelGGL"):
        check_call("hip", "hipLaunchKernelGGL", ())
    with pytest.raises(BindingMismatch, match="returns a tuple of \\(hipError_t, int\\)"):
        check_result("hip", "hipGetDeviceCount", (0,))
    with pytest.raises(BindingMismatch, match="returns an int"):
        check_result("hip", "hipGetDeviceCount", (0, "1"))
    fake = FakeHip(arch="gfx942:sramecc+:xnack-")
    driver = HipDriver(hip=fake, hiprtc=FakeHiprtc())
    driver.ensure()
    assert driver.arch == "gfx942" and ("hipGetDeviceProperties", (0,)) in fake.calls
