"""Every example through its AMD lowering and the generated HIP C++, run on the host
CPU with real threads per block (``hip_host_block``: barriers, wave64 shuffles, MFMA
per the ISA's fragment tables), checked against numpy by the example's own ``run``."""

from __future__ import annotations

import pytest

from tests.codegen.amd.hip_host import find_clangxx
from tests.examples.test_examples import check, load_example
from tests.examples.test_examples_lowered import RUNS

pytestmark = pytest.mark.skipif(find_clangxx() is None, reason="clang++ not found")


@pytest.fixture(scope="module", params=["gfx90a", "gfx942"])
def host_target(request):
    from tests.codegen.amd.hip_host_block import registered
    with registered(request.param) as target:
        yield target.name


@pytest.mark.slow
@pytest.mark.parametrize("name, sizes", RUNS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RUNS)])
def test_example_hip_source_gives_the_numpy_answer(name, sizes, host_target):
    mod = load_example(name)
    tolerance = mod.TOLERANCE
    if isinstance(tolerance, dict):
        tolerance = tolerance["float32"]
    check(mod.run(target=host_target, **sizes), tolerance)
