"""The GPU tier (``pytest -m gpu``): every example's ``run`` on the CUDA device, checked
against its numpy reference within the example's tolerance.

The examples build numpy inputs; here each of their kernels is replaced, for the
test, by a ``MirroredKernel`` that copies every numpy argument to device memory,
launches on the device's target, and copies the arrays back. Without a device
the tests skip with the driver's reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tilelang.errors import LaunchError
from tilelang.frontend.kernel import Kernel
from tilelang.runtime.cuda_driver import CudaDriver, default_driver
from tilelang.runtime.targets import detect_gpu_target

from tests.examples.test_examples import load_example

pytestmark = pytest.mark.gpu


def _device_or_skip() -> tuple[CudaDriver, str]:
    driver = default_driver()
    try:
        driver.ensure()
    except LaunchError as e:
        pytest.skip(e.message)   # "no CUDA device found: <the driver's reason>"
    target = detect_gpu_target()
    if target is None:
        pytest.skip(f"no CUDA device: compute capability {driver.capability} is below 8.0")
    return driver, target


class DeviceBuffer:
    """Device memory holding a copy of a C-contiguous numpy array, exposed through
    ``__cuda_array_interface__``."""

    def __init__(self, driver: CudaDriver, host: np.ndarray) -> None:
        self.driver = driver
        self.host = host
        self.address = driver.alloc(host.nbytes)
        driver.copy_to_device(self.address, host)
        self.shape = host.shape
        self.dtype = host.dtype
        self.__cuda_array_interface__ = {
            "shape": host.shape, "typestr": host.dtype.str, "strides": None,
            "data": (self.address, False), "version": 3}

    def copy_back(self) -> None:
        self.driver.copy_to_host(self.host, self.address)

    def free(self) -> None:
        self.driver.free(self.address)


class MirroredKernel:
    """``kernel[grid](...)`` with numpy arrays staged through device memory."""

    def __init__(self, kernel: Kernel, driver: CudaDriver, target: str) -> None:
        self.kernel, self.driver, self.target = kernel, driver, target

    def __getitem__(self, grid: Any) -> Any:
        def launch(*args: Any, **kwargs: Any) -> None:
            kwargs["target"] = self.target
            hosts = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
            assert all(h.flags.c_contiguous for h in hosts), "examples pass contiguous arrays"
            buffers = {id(h): DeviceBuffer(self.driver, h) for h in hosts}
            try:
                dev_args = [buffers[id(a)] if id(a) in buffers else a for a in args]
                dev_kwargs = {k: buffers[id(v)] if id(v) in buffers else v
                              for k, v in kwargs.items()}
                self.kernel[grid](*dev_args, **dev_kwargs)
                self.driver.synchronize()
                for b in buffers.values():
                    b.copy_back()
            finally:
                for b in buffers.values():
                    b.free()
        return launch


EXAMPLES = ["vector_add", "softmax", "layernorm", "row_sum", "matmul", "flash_attention"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_on_the_device(name, monkeypatch):
    driver, target = _device_or_skip()
    module = load_example(name)
    for attr, value in vars(module).items():
        if isinstance(value, Kernel):
            monkeypatch.setattr(module, attr, MirroredKernel(value, driver, target))
    err, ok = module.run(target=target)
    tolerance = module.TOLERANCE if not isinstance(module.TOLERANCE, dict) else \
        module.TOLERANCE["float32"]
    assert ok, f"{name} on {target}: max relative error {err:.3e} (tolerance {tolerance:.0e})"


def test_the_gpu_tier_reports_why_it_skips():
    """Without a device, the skip reason names the driver's failure."""
    driver = CudaDriver(cu=None)
    reason = None
    try:
        driver.ensure()
    except LaunchError as e:
        reason = e.message
    if reason is None:
        pytest.skip("a CUDA device is present")
    assert reason.startswith("no CUDA device found: ") and len(reason) > 22
