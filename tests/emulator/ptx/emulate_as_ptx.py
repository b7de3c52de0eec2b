"""A pytest plugin that runs every ``emulate:sm_80`` / ``emulate:sm_90a`` launch of a test
run on ``emulate-ptx:sm_80`` / ``emulate-ptx:sm_90a`` instead:

    PYTHONPATH=$PWD pytest -p tests.emulator.ptx.emulate_as_ptx tests/ -n 2

so each test kernel that the thread-level emulator runs is also run from its emitted
PTX, checked by the test's own assertions. Tests that assert the target's *name*
(``resolve_target(...).name == "emulate:sm_80"`` and the like) fail under it by
construction; docs/emulate-ptx.md lists them. Kernels run through
``emulator.prepare_threads`` directly (hand-built thread IR) do not go through a
target and are unaffected.
"""

from __future__ import annotations

from typing import Any

import tilelang.runtime.kernel as _kernel
import tilelang.runtime.targets as _targets

_get_target = _targets.get_target
SWAPPED = {"emulate": "emulate-ptx:sm_80", "emulate:sm_80": "emulate-ptx:sm_80",
           "emulate:sm_90a": "emulate-ptx:sm_90a"}


def get_target(name: str) -> Any:
    """``targets.get_target`` with the emulate targets of NVIDIA swapped for emulate-ptx."""
    return _get_target(SWAPPED.get(name, name))


def pytest_configure(config: Any) -> None:
    _targets.get_target = get_target       # resolve_target calls it too
    _kernel.get_target = get_target        # Kernel.compile
