"""The emulate-ptx targets as targets: names, artifacts, the disk cache, the dispatch
fast path, the host-array staging through emulated device memory."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tests.examples.test_examples import load_example
from tilelang.errors import LaunchError
from tilelang.runtime.emulate_ptx import EmulatePtxTarget
from tilelang.runtime.targets import get_target


def test_target_names():
    t = get_target("emulate-ptx:sm_90a")
    assert isinstance(t, EmulatePtxTarget) and t.arch == "sm_90a"
    assert get_target("emulate-ptx:sm_90a") is t
    with pytest.raises(LaunchError, match="emulate-ptx:sm_80"):
        get_target("emulate-ptx:gfx942")


def test_the_artifact_is_the_nvidia_targets_ptx():
    k = load_example("vector_add").vector_add
    sig = "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16"
    ptx = k.compile(sig, target="emulate-ptx:sm_90a").ptx
    assert ptx == k.compile(sig, target="sm_90a").ptx


def test_a_disk_cache_hit_and_a_dispatch_hit_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path))
    fn = load_example("vector_add").vector_add.fn
    x, y = np.arange(300, dtype=np.float32), np.ones(300, np.float32)
    for _ in range(2):          # a new kernel object: the second compile is a disk hit
        k = tl.kernel(fn)
        for _ in range(2):      # the second launch takes the dispatch fast path
            z = np.zeros_like(x)
            k[(2,)](x, y, z, BLOCK=256, target="emulate-ptx:sm_80")
            np.testing.assert_array_equal(z, x + y)
    assert any(tmp_path.rglob("*"))


def test_host_arrays_are_staged_through_emulated_device_memory():
    mod = load_example("vector_add")
    target = get_target("emulate-ptx:sm_80")
    before = dict(target.device.allocations)
    x, y = np.arange(100, dtype=np.float32), np.full(100, 2, np.float32)
    z = np.zeros_like(x)
    mod.vector_add[(1,)].with_host_arrays(x, y, z, BLOCK=128, target="emulate-ptx:sm_80")
    np.testing.assert_array_equal(z, x + 2)
    assert target.device.allocations == before     # every copy freed again


class _HostArray:
    """A host array that is not numpy (only ``__array_interface__``, like a CPU tensor's)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.__array_interface__ = a.__array_interface__
        self.shape, self.dtype = a.shape, a.dtype


def test_other_host_arrays_run_in_place():
    mod = load_example("vector_add")
    x, y = np.arange(50, dtype=np.float32), np.ones(50, np.float32)
    z = np.zeros_like(x)
    mod.vector_add[(1,)](_HostArray(x), _HostArray(y), _HostArray(z), BLOCK=64,
                         target="emulate-ptx:sm_80")
    np.testing.assert_array_equal(z, x + 1)


def test_overlapping_views_of_one_buffer_are_one_region():
    mod = load_example("vector_add")
    buf = np.arange(120, dtype=np.float32)
    x, y, z = buf[:100], buf[10:110], np.zeros(100, np.float32)
    mod.vector_add[(1,)](x, y, z, BLOCK=128, target="emulate-ptx:sm_80")
    np.testing.assert_array_equal(z, buf[:100] + buf[10:110])
    mod.vector_add[(1,)](z, z, z, BLOCK=128, target="emulate-ptx:sm_80")   # in place
    np.testing.assert_array_equal(z, 2 * (buf[:100] + buf[10:110]))
