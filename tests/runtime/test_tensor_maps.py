"""TMA tensor maps at launch: the cuTensorMapEncodeTiled arguments, the per-array cache,
the launch errors, and a sm_90a launch through a fake driver that packs the 128-byte
map after the tensor's strides."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tilelang.codegen.abi import kernel_abi
from tilelang.errors import LaunchError
from tilelang.runtime import targets
from tilelang.runtime.cuda_driver import CudaDriver, set_default_driver
from tilelang.runtime.tensor_maps import TensorMapCache, TmaBox, encode_arguments, map_bytes

from tests.examples.test_examples import load_example
from tests.runtime.fake_cuda import FakeCu, FakeDeviceArray


class _Enum:
    def __init__(self, prefix: str, names: list[str]) -> None:
        for i, n in enumerate(names):
            setattr(self, f"{prefix}{n}", (prefix + n, i))


class FakeTmaCu(FakeCu):
    """FakeCu with the tensor-map enums and an encoder that records its arguments and
    returns 16 words that name the call number."""

    CUtensorMapDataType = _Enum("CU_TENSOR_MAP_DATA_TYPE_", [
        "UINT8", "UINT16", "UINT32", "INT32", "UINT64", "INT64", "FLOAT16", "FLOAT32",
        "FLOAT64", "BFLOAT16"])
    CUtensorMapInterleave = _Enum("CU_TENSOR_MAP_INTERLEAVE_", ["NONE"])
    CUtensorMapSwizzle = _Enum("CU_TENSOR_MAP_SWIZZLE_", ["NONE", "32B", "64B", "128B"])
    CUtensorMapL2promotion = _Enum("CU_TENSOR_MAP_L2_PROMOTION_", ["NONE", "L2_64B", "L2_128B"])
    CUtensorMapFloatOOBfill = _Enum("CU_TENSOR_MAP_FLOAT_OOB_FILL_", ["NONE"])

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.encoded: list[tuple] = []

    def cuTensorMapEncodeTiled(self, *args) -> tuple:
        self.encoded.append(args)
        words = type("CUtensorMap", (), {"opaque": [len(self.encoded)] * 16})()
        return self._ret("cuTensorMapEncodeTiled", args, words)


BOX = TmaBox("A", "bf16", 2, (128, 64), 128)


def test_encoding_arguments_list_dimensions_innermost_first():
    cu = FakeTmaCu()
    args = encode_arguments(cu, BOX, 0x7000_0000, (500, 320), (320, 1), "matmul")
    (dtype, _), rank, addr, dims, strides, box, elem, (il, _), (swz, _), (l2, _), (oob, _) = args
    assert dtype == "CU_TENSOR_MAP_DATA_TYPE_BFLOAT16" and rank == 2 and addr == 0x7000_0000
    assert dims == [320, 500] and strides == [640] and box == [64, 128] and elem == [1, 1]
    assert swz == "CU_TENSOR_MAP_SWIZZLE_128B" and l2 == "CU_TENSOR_MAP_L2_PROMOTION_L2_128B"
    assert il == "CU_TENSOR_MAP_INTERLEAVE_NONE" and oob == "CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE"


def test_rank4_strides_are_bytes_of_the_outer_dimensions():
    spec = TmaBox("K", "f16", 2, (1, 1, 64, 64), 0)
    args = encode_arguments(FakeTmaCu(), spec, 0x1000, (2, 3, 80, 64), (3 * 80 * 64, 80 * 64, 64, 1))
    assert args[3] == [64, 80, 3, 2] and args[4] == [128, 80 * 128, 3 * 80 * 128]
    assert args[5] == [64, 64, 1, 1] and args[8][0] == "CU_TENSOR_MAP_SWIZZLE_NONE"


@pytest.mark.parametrize("address, shape, strides, message", [
    (0x1008, (64, 64), (64, 1), "not 16-byte aligned"),
    (0x1000, (64, 64), (68, 2), "inner stride 2"),
    (0x1000, (64, 60), (60, 1), r"120 bytes\) in dimension 0"),
    (0x1000, (0, 64), (64, 1), r"every dimension in \[1, 2\*\*32\)"),
])
def test_arrays_tma_cannot_address_are_launch_errors(address, shape, strides, message):
    with pytest.raises(LaunchError, match=message) as info:
        encode_arguments(FakeTmaCu(), BOX, address, shape, strides, "matmul")
    assert "matmul" in str(info.value) and "argument 'A'" in str(info.value)


def test_maps_are_cached_per_address_shape_and_strides():
    cu = FakeTmaCu()
    driver = CudaDriver(cu=cu)
    cache = TensorMapCache(driver, BOX, "matmul")
    first = cache.get(0x2000, (256, 64), (64, 1))
    assert len(first) == 128 and first == map_bytes([1] * 16)
    assert cache.get(0x2000, (256, 64), (64, 1)) is first and len(cu.encoded) == 1
    cache.get(0x3000, (256, 64), (64, 1))
    cache.get(0x2000, (128, 64), (64, 1))
    assert len(cu.encoded) == 3


@pytest.fixture
def hopper():
    cu = FakeTmaCu(capability=(9, 0))
    previous = set_default_driver(CudaDriver(cu=cu))
    yield cu
    set_default_driver(previous)
    targets.detect_gpu_target(refresh=True)


def test_a_sm90a_launch_passes_the_map_after_the_tensors_strides(hopper):
    kernel = load_example("matmul").matmul
    compiled = kernel.compile("A=f16[2]:16,B=f16[2]:16,C=f16[2]:16", target="sm_90a",
                              BM=64, BN=64, BK=64)
    abi = kernel_abi(compiled.function)
    roles = [(p.source, p.role) for p in abi.params]
    assert ("A", "tmap") in roles and roles.index(("A", "tmap")) == roles.index(("A", "ptr")) + 5
    hopper.param_formats = [p.format for p in abi.params]
    a = FakeDeviceArray((256, 512), "<f2", address=0x7000_0000)
    b = FakeDeviceArray((512, 128), "<f2", address=0x7100_0000)
    c = FakeDeviceArray((256, 128), "<f2", address=0x7200_0000)
    counts = []
    for _ in range(4):
        kernel[(4, 2)](a, b, c, BM=64, BN=64, BK=64, target="sm_90a")
        counts.append(len(hopper.encoded))
    params = hopper.launches[-1]["params"]
    maps = [v for v, p in zip(params, abi.params) if p.role == "tmap"]
    assert maps and all(len(m) == 128 for m in maps)
    assert counts[-1] == counts[-2] == counts[-3]   # the cache-hit path encodes nothing
    by_tensor = {args[2]: args for args in hopper.encoded}
    assert by_tensor[0x7000_0000][3] == [512, 256] and by_tensor[0x7000_0000][5] == [64, 64]
    assert struct.unpack("<Q", maps[0][:8])[0] >= 1
