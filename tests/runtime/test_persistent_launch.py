"""Persistent kernels and grouped tile order end to end: the matmul example on every
CPU target, the program count, the cache key and the errors a user can cause."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tilelang.errors import CompileError, LaunchError
from tilelang.frontend.signature import parse_signature
from tilelang.hardware import ARCHS
from tilelang.runtime import cache_key, persistent_launch
from tests.examples.test_examples import load_example

mm = load_example("matmul")
SIG = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"


def variant(num_warps: int = 4, **options) -> tl.Kernel:
    """The example's matmul with kernel options."""
    return tl.kernel(mm.matmul.fn, num_warps=num_warps, **options)


def run_matmul(k: tl.Kernel, target: str, M: int, N: int, K: int, B: int = 32) -> float:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.bfloat16)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    k[(tl.cdiv(M, B), tl.cdiv(N, B))](a, b, c, BM=B, BN=B, BK=32, STAGES=2, target=target)
    ref = mm.reference(a, b)
    return float(np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)))


OPTIONS = [dict(group_m=2), dict(persistent=True), dict(persistent=True, group_m=3),
           dict(persistent=5, group_m=1)]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:sm_90a"])
def test_matmul_with_tile_order_options_matches_numpy(target, options):
    # ragged in every dimension; 5 x 4 = 20 tiles, more than the programs (4 or 5)
    err = run_matmul(variant(**options), target, M=150, N=100, K=70)
    assert err <= mm.TOLERANCE


def test_persistent_launch_runs_the_cpu_program_count(monkeypatch):
    grids = []
    real = persistent_launch.Launcher.__call__

    def spy(self, *args, **kwargs):
        grids.append((self.grid, kwargs["tl_tiles_x"], kwargs["tl_tiles_y"]))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(persistent_launch.Launcher, "__call__", spy)
    run_matmul(variant(persistent=True), "interp", M=100, N=70, K=32)   # 4 x 3 tiles
    run_matmul(variant(persistent=True), "interp", M=40, N=30, K=32)    # 2 x 1 tiles
    assert grids == [((persistent_launch.CPU_PROGRAMS,), 4, 3), ((2,), 2, 1)]


def test_options_are_in_the_specialization_and_the_cache_key():
    digests = set()
    cases = [({}, ()), (dict(group_m=8), (("group_m", 8),)),
             (dict(group_m=4), (("group_m", 4),)), (dict(persistent=True), (("persistent", True),)),
             (dict(persistent=True, group_m=8), (("persistent", True), ("group_m", 8)))]
    for options, expected in cases:
        k = variant(**options)
        spec = k.make_specialization(parse_signature(k, SIG) if not k.persistent else
                                     parse_signature(k, SIG + ",tl_tiles_x=i32,tl_tiles_y=i32"),
                                     {})
        assert spec.options == expected
        key = cache_key.make_key(k, spec, "interp")
        assert key.fields["options"] == [[n, cache_key.encode_value(v)] for n, v in expected]
        digests.add(key.digest)
    assert len(digests) == len(cases)


def test_persistent_kernels_compile_to_ptx_for_each_nvidia_target():
    k = variant(persistent=True, group_m=8)
    for target in ("sm_80", "sm_90a"):
        compiled = k.compile(SIG, target=target, BM=64, BN=64)
        assert ".entry matmul" in compiled.ptx
        assert "tl_tiles_x" in compiled.ir["input"]


def test_occupancy_counts_threads_shared_memory_and_registers():
    class Fn:
        def __init__(self, **attrs):
            self.attrs = attrs

        def attr(self, key, default=None):
            return self.attrs.get(key, default)

    class Compiled:
        def __init__(self, log="", **attrs):
            self.function, self.artifacts = Fn(**attrs), {"ptxas_log": log}

    h100 = ARCHS["sm_90a"]
    assert persistent_launch.occupancy(Compiled(num_warps=4), h100) == 16   # 2048 / 128
    assert persistent_launch.occupancy(Compiled(num_warps=8, shared_user_bytes=100_000),
                                       h100) == 2
    assert persistent_launch.occupancy(Compiled("Used 168 registers", num_warps=8), h100) == 1
    assert persistent_launch.occupancy(Compiled(num_warps=4, shared_user_bytes=10**6),
                                       h100) == 1


def test_bad_options_are_compile_errors():
    with pytest.raises(CompileError, match="group_m must be an int >= 1"):
        variant(group_m=0)
    with pytest.raises(CompileError, match="persistent must be"):
        variant(persistent=-2)


def test_reserved_parameter_name():
    def k(tl_tiles_x: int):
        pass
    with pytest.raises(CompileError, match="reserved for persistent"):
        tl.kernel(k)


def test_three_dimensional_grid_is_refused():
    a = np.zeros((32, 32), ml_dtypes.bfloat16)
    with pytest.raises(LaunchError, match="1-D or 2-D grid"):
        variant(persistent=True)[(1, 1, 2)](a, a, a, target="interp")


def test_grid_parameters_are_the_launchers():
    a = np.zeros((32, 32), ml_dtypes.bfloat16)
    with pytest.raises(LaunchError, match="set by the launcher"):
        variant(persistent=True)[(1, 1)](a, a, a, tl_tiles_x=3, target="interp")


@tl.kernel(persistent=True)
def persistent_copy(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 64):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)))


def test_gpu_launch_runs_sms_times_occupancy_programs_with_the_tile_grid():
    from tests.runtime.fake_cuda import FakeCu, FakeDeviceArray
    from tilelang.codegen.nvidia import ptxas
    from tilelang.runtime import targets
    from tilelang.runtime.cuda_driver import CudaDriver, set_default_driver
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas is not installed")
    cu = FakeCu(capability=(8, 0))
    previous = set_default_driver(CudaDriver(cu=cu))
    try:
        cu.param_formats = "QiiQiiii"     # two 1-D tensors, then tl_tiles_x, tl_tiles_y
        x = FakeDeviceArray((64 * 5000,), address=0x7000_0000)
        y = FakeDeviceArray((64 * 5000,), address=0x7100_0000)
        persistent_copy[(5000,)](x, y, target="sm_80")
        persistent_copy[(40, 3)](x, y, target="sm_80")
    finally:
        set_default_driver(previous)
        targets.detect_gpu_target(refresh=True)
    # the fake device reports the A100's 108 SMs: 108 SMs x 16 blocks of 128
    # threads; a grid with fewer tiles than that runs one program per tile
    first, second = cu.launches[-2:]
    assert first["grid"] == (108 * 16, 1, 1) and first["params"][-2:] == [5000, 1]
    assert second["grid"] == (120, 1, 1) and second["params"][-2:] == [40, 3]


def test_a_repeated_persistent_launch_takes_the_cache_hit_path(monkeypatch):
    k = variant(persistent=True, group_m=2)
    assert run_matmul(k, "interp", M=150, N=100, K=70) <= mm.TOLERANCE

    def no_binding(*args, **kwargs):
        raise AssertionError("a cache hit binds no arguments")

    monkeypatch.setattr(persistent_launch, "bind_arguments", no_binding)
    # another size and tile grid, the same specialization: the stored hit runs it
    assert run_matmul(k, "interp", M=70, N=130, K=50) <= mm.TOLERANCE
    assert len(k._persistent_hits) == 1
