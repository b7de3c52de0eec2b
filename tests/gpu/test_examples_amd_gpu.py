"""The GPU tier on AMD (``pytest -m gpu``): every example's ``run`` on an MI200/MI300
through hip-python, checked against its numpy reference. Without hip-python or an AMD
GPU the tests skip with the runtime's reason."""

from __future__ import annotations

import pytest

from tests.examples.test_examples import load_example
from tilelang.errors import LaunchError
from tilelang.runtime.amd_target import detect_amd_target
from tilelang.runtime.hip_driver import default_driver

pytestmark = pytest.mark.gpu

EXAMPLES = ["vector_add", "softmax", "layernorm", "row_sum", "matmul", "flash_attention"]


def _amd_target_or_skip() -> str:
    try:
        default_driver().ensure()
    except LaunchError as e:
        pytest.skip(e.message)   # "no AMD GPU found: <the runtime's reason>"
    target = detect_amd_target()
    if target is None:
        pytest.skip(f"the AMD GPU ({default_driver().arch}) is neither gfx90a nor gfx942")
    return target


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_on_the_amd_gpu(name):
    target = _amd_target_or_skip()
    module = load_example(name)
    err, ok = module.run(target=target)   # with_host_arrays stages through HIP memory
    assert ok, f"{name} on {target}: max relative error {err:.3e}"
