"""The GPU tier (``pytest -m gpu``): every example's ``run`` on the CUDA device, checked
against its numpy reference within the example's tolerance.

The examples build numpy inputs and launch with ``kernel[grid].with_host_arrays``,
which copies them to device memory and back on a GPU target. Without a device the
tests skip with the driver's reason.
"""

from __future__ import annotations

import pytest

from tilelang.errors import LaunchError
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


EXAMPLES = ["vector_add", "softmax", "layernorm", "row_sum", "matmul", "flash_attention",
            "quant_matmul"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_on_the_device(name):
    _, target = _device_or_skip()
    module = load_example(name)
    err, ok = module.run(target=target)   # (with_host_arrays stages the numpy data)
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
