"""``kernel[grid].with_host_arrays(...)``: numpy in and out on any target."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang.runtime import targets
from tilelang.runtime.cuda_driver import CudaDriver, set_default_driver
from tilelang.runtime.host_arrays import launch_with_host_arrays

from tests.runtime.fake_cuda import FakeCu


@tl.kernel
def k_add_one(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 16):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)) + 1.0)


class FakeMemory:
    """Device memory as a dict of byte strings, behind the driver's memory calls."""

    def __init__(self) -> None:
        self.blocks: dict[int, bytearray] = {}
        self.next, self.syncs, self.freed = 0x7000_0000, 0, []

    def alloc(self, nbytes: int) -> int:
        address, self.next = self.next, self.next + ((nbytes + 255) // 256) * 256
        self.blocks[address] = bytearray(nbytes)
        return address

    def copy_to_device(self, address: int, host: np.ndarray) -> None:
        self.blocks[address][:] = host.tobytes()

    def copy_to_host(self, host: np.ndarray, address: int) -> None:
        host[...] = np.frombuffer(bytes(self.blocks[address]), host.dtype).reshape(host.shape)

    def synchronize(self) -> None:
        self.syncs += 1

    def free(self, address: int) -> None:
        self.freed.append(address)


def test_on_a_cpu_target_it_is_the_plain_launch():
    x = np.arange(32, dtype=np.float32)
    y = np.zeros_like(x)
    k_add_one[(2,)].with_host_arrays(x, y, target="interp")
    np.testing.assert_array_equal(y, x + 1)


def test_on_a_gpu_target_arrays_go_through_device_memory_and_back():
    cu = FakeCu(capability=(8, 0))
    cu.param_formats = "Qii" * 2          # X and Y: address, dim, stride
    previous = set_default_driver(CudaDriver(cu=cu))

    class RunsTheKernel(FakeMemory):
        def synchronize(self) -> None:    # the kernel's effect, on the device copies
            super().synchronize()
            src, dst = cu.launches[-1]["params"][0], cu.launches[-1]["params"][3]
            data = np.frombuffer(bytes(self.blocks[src]), np.float32) + 1
            self.blocks[dst][:] = data.tobytes()

    memory = RunsTheKernel()
    try:
        x = np.arange(32, dtype=np.float32)
        y = np.zeros_like(x)
        launch_with_host_arrays(k_add_one, (2,), (x, y), {"target": "sm_80"}, driver=memory)
        params = cu.launches[-1]["params"]
        assert params[0] in memory.blocks and params[3] in memory.blocks   # device copies
        np.testing.assert_array_equal(y, x + 1)                             # copied back
        assert sorted(memory.freed) == sorted(memory.blocks) and memory.syncs == 1
    finally:
        set_default_driver(previous)
        targets.detect_gpu_target(refresh=True)


def test_a_plain_gpu_launch_of_a_numpy_array_is_still_an_error():
    cu = FakeCu(capability=(8, 0))
    previous = set_default_driver(CudaDriver(cu=cu))
    try:
        x = np.arange(32, dtype=np.float32)
        with pytest.raises(tl.LaunchError, match="host array"):
            k_add_one[(2,)](x, np.zeros_like(x), target="sm_80")
    finally:
        set_default_driver(previous)
        targets.detect_gpu_target(refresh=True)
