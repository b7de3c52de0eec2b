"""The generated cache-hit path (``runtime/hit_codegen.py``): its keys are
``dispatch.fast_key``'s, and a hit launches with the parameters, checks and errors of
the general launch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.runtime import dispatch, targets
from tilelang.runtime.cuda_driver import CudaDriver, set_default_driver

from tests.runtime.fake_cuda import FakeCu, FakeDeviceArray
from tests.runtime.test_cuda_driver import _abi_formats


@tl.kernel
def k_mixed(X: tl.Tensor, s, Y: tl.Tensor, N: tl.constexpr = 8, t=0):
    off = tl.program_id(0) * N
    tl.store(Y, (off, 0), tl.load(X, (off, 0), (N, 4)) * s + t)


@pytest.fixture
def fake():
    cu = FakeCu(capability=(8, 0))
    previous = set_default_driver(CudaDriver(cu=cu))
    yield cu
    set_default_driver(previous)
    targets.detect_gpu_target(refresh=True)


_ARGS = st.one_of(
    st.integers(-2**40, 2**40), st.floats(allow_nan=False), st.booleans(),
    st.sampled_from([np.float32(1.0), np.int8(3)]),                  # numpy scalars
    st.builds(lambda shape, dt: np.zeros(shape, dt),
              st.sampled_from([(4,), (2, 3), (1, 1, 2)]), st.sampled_from(["f4", "f2", "i4"])),
    st.builds(lambda shape, addr, ts: FakeDeviceArray(shape, ts, address=addr),
              st.sampled_from([(4,), (8, 4)]), st.sampled_from([0x1000, 0x1004, 0x2000]),
              st.sampled_from(["<f4", "<f2", "<i8"])),
    st.just("text"), st.none(),
)


@settings(max_examples=200, deadline=None)
@given(args=st.lists(_ARGS, min_size=0, max_size=6))
def test_the_generated_key_is_fast_keys(args):
    """For every positional launch (any count, any argument types), the generated
    reader gives ``fast_key``'s key and views: a hit found by one is a hit of the other."""
    args = tuple(args)
    expected_views: list = []
    expected = dispatch.fast_key(k_mixed, "sm_80", args, {}, None, 2, expected_views)
    views: list = []
    got = dispatch.key_reader(k_mixed, len(args))(args, "sm_80", None, 2, views)
    assert got == expected
    if got is not None:
        assert views == expected_views


def test_the_generated_source_is_readable():
    reader = dispatch.key_reader(k_mixed, 4)
    assert reader.source.startswith("def key(args, target, num_warps, num_stages, views):")
    assert "k3 = (type(a3), a3)" in reader.source          # N is a constexpr


def test_a_hit_packs_what_the_general_launch_packs(fake):
    fake.param_formats = _abi_formats(k_mixed, "X=f32[2],s=f32,Y=f32[2],t=i32")
    x = FakeDeviceArray((16, 4), address=0x1000, strides=(32, 4))
    y = FakeDeviceArray((16, 4), address=0x2000)
    k_mixed[(2,)](x, 2.5, y, 8, 3, target="sm_80")           # general path, stores the hit
    k_mixed[(2,)](x, 2.5, y, 8, 3, target="sm_80")           # generated path
    first, second = fake.launches[-2:]
    assert first == second
    assert first["params"] == [0x1000, 16, 4, 8, 1, 2.5, 0x2000, 16, 4, 4, 1, 3]


def test_a_hit_checks_the_device_and_a_wide_array_takes_its_own_code(fake):
    x = FakeDeviceArray((16, 4), address=0x1000)
    k_mixed[(2,)](x, 1.0, x, 8, 0, target="sm_80")
    with pytest.raises(tl.LaunchError, match="cuda:1"):
        k_mixed[(2,)](FakeDeviceArray((16, 4), address=0x1000, device=1), 1.0, x, 8, 0,
                      target="sm_80")
    # a dim of 2**31 is not the hit's specialization: the 64-bit one launches
    fake.param_formats = _abi_formats(k_mixed, "X=f32[2]:wide,s=f32,Y=f32[2],t=i32")
    k_mixed[(2,)](FakeDeviceArray((2**31, 4), address=0x1000), 1.0, x, 8, 0, target="sm_80")
    assert fake.launches[-1]["params"][:5] == [0x1000, 2**31, 4, 4, 1]


def test_a_hit_after_the_driver_is_replaced_uses_the_new_driver(fake):
    x = FakeDeviceArray((16, 4), address=0x1000)
    k_mixed[(2,)](x, 1.0, x, 8, 0, target="sm_80")
    other = FakeCu(capability=(8, 0))
    previous = set_default_driver(CudaDriver(cu=other))
    try:
        k_mixed[(2,)](x, 1.0, x, 8, 0, target="sm_80")
    finally:
        set_default_driver(previous)
    assert len(other.launches) == 1


class _TorchDtype:
    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"torch.{self.name}"


_F32 = _TorchDtype("float32")


class FakeTorchTensor:
    """The parts of ``torch.Tensor`` a launch reads (a CUDA tensor, no memory behind it)."""

    def __init__(self, shape, address, strides=None, device=0, dtype=_F32, is_cuda=True):
        self.shape, self.dtype, self.is_cuda = tuple(shape), dtype, is_cuda
        self._address, self._device = address, device
        self._strides = strides or tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))

    def data_ptr(self) -> int:
        return self._address

    def stride(self) -> tuple:
        return self._strides

    def get_device(self) -> int:
        return self._device if self.is_cuda else -1

    @property
    def device(self):
        return type("Device", (), {"index": self._device})()

    def __dlpack__(self):   # what marks it as an array for the general path
        raise AssertionError("a launch reads torch tensors through their methods")


def test_torch_tensors_are_described_once_per_layout(fake):
    fake.param_formats = _abi_formats(k_mixed, "X=f32[2],s=f32,Y=f32[2],t=i32")
    y = FakeTorchTensor((16, 4), 0x2000)
    for address in (0x1000, 0x3000):
        k_mixed[(2,)](FakeTorchTensor((16, 4), address, strides=(8, 1)), 2.0, y, 8, 1,
                      target="sm_80")
        assert fake.launches[-1]["params"] == [address, 16, 4, 8, 1, 2.0, 0x2000, 16, 4, 4, 1, 1]
    before = len(k_mixed._compiled)
    k_mixed[(2,)](FakeTorchTensor((16, 4), 0x1004), 2.0, y, 8, 1, target="sm_80")
    assert len(k_mixed._compiled) == before + 1          # unaligned: its own specialization
    with pytest.raises(tl.LaunchError, match="cuda:3"):
        k_mixed[(2,)](FakeTorchTensor((16, 4), 0x1000, device=3), 2.0, y, 8, 1, target="sm_80")
    with pytest.raises(tl.LaunchError, match="unsupported dtype"):
        k_mixed[(2,)](FakeTorchTensor((16, 4), 0x1000, dtype=_TorchDtype("complex64")), 2.0, y,
                      8, 1, target="sm_80")


def test_two_array_types_with_one_layout_get_their_own_key_parts():
    """The key part of an array names its type (the launch's stream follows the type):
    a layout first seen on one type must not lend its part to another."""
    class OtherArray(FakeDeviceArray):
        pass

    a, b = FakeDeviceArray((64,), address=0x1000), OtherArray((64,), address=0x1000)
    part_a = dispatch.fast_key(k_mixed, "sm_80", (a,), {}, None, None, [])[3]
    part_b = dispatch.fast_key(k_mixed, "sm_80", (b,), {}, None, None, [])[3]
    assert part_a != part_b
    assert dispatch.fast_key(k_mixed, "sm_80", (OtherArray((64,), address=0x2000),), {}, None,
                             None, [])[3] == part_b
