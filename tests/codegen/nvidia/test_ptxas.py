"""Tier 3 compile checks: every test kernel's PTX assembles with ptxas, without spills.

ptxas comes from the ``nvidia-cuda-nvcc`` wheel (the ``test`` extra); where no
ptxas is found the assembling tests are skipped and say so.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia.ptxas import assemble, find_ptxas, ptxas_version
from tilelang.errors import CompileError
from tests.codegen.nvidia.test_ptx import KERNELS, TARGET_NAMES, kernel_ptx


def _found() -> Path | None:
    try:
        return find_ptxas()
    except CompileError:
        return None


PTXAS = _found()
needs_ptxas = pytest.mark.skipif(
    PTXAS is None, reason="ptxas not found: pip install nvidia-cuda-nvcc (the test extra), "
                          "set TILELANG_PTXAS, or put ptxas on PATH")


@needs_ptxas
@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("name", list(KERNELS))
def test_every_kernel_assembles_without_spills(name, target):
    result = assemble(kernel_ptx(name, target), target)
    assert result.cubin[:4] == b"\x7fELF"
    assert 0 < result.registers <= 255
    assert result.spill_bytes == 0, result.log


@needs_ptxas
def test_verbose_log_is_ptxas_report():
    result = assemble(kernel_ptx("every_thread_op", "sm_80"), "sm_80", verbose=True)
    assert "Compiling entry function 'k' for 'sm_80'" in result.log
    assert f"Used {result.registers} registers" in result.log
    quiet = assemble(kernel_ptx("every_thread_op", "sm_80"), "sm_80")
    assert "ptxas info" not in quiet.log


@needs_ptxas
def test_a_ptxas_failure_is_a_compile_error_with_its_message():
    bad = kernel_ptx("grid", "sm_80").replace("mov.u32", "mov.bogus", 1)
    with pytest.raises(CompileError, match=r"ptxas failed for sm_80 .*\n.*mov\.bogus|"
                                           r"ptxas failed for sm_80 .*\n.*kernel\.ptx"):
        assemble(bad, "sm_80")


@needs_ptxas
def test_ptxas_version_names_a_release():
    assert ptxas_version().startswith("release ")


# -- finding ptxas -------------------------------------------------------------------------

def _fake_ptxas(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "ptxas"
    exe.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 0.0, V0.0.0'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    exe = _fake_ptxas(tmp_path / "custom")
    monkeypatch.setenv("TILELANG_PTXAS", str(exe))
    assert find_ptxas() == exe
    assert ptxas_version() == "release 0.0, V0.0.0"


def test_a_bad_environment_variable_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_PTXAS", str(tmp_path / "missing"))
    with pytest.raises(CompileError, match="TILELANG_PTXAS=.*missing is not an executable"):
        find_ptxas()


@pytest.mark.parametrize("layout", ["cuda_nvcc", "cu13"])
def test_the_wheel_layouts_are_found(tmp_path, monkeypatch, layout):
    """Both layouts of the nvidia-cuda-nvcc wheel, through the nvidia namespace package."""
    exe = _fake_ptxas(tmp_path / "site" / "nvidia" / layout / "bin")
    monkeypatch.delenv("TILELANG_PTXAS", raising=False)
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")] + sys.path)
    for mod in [m for m in sys.modules if m == "nvidia" or m.startswith("nvidia.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(ptxas, "_wheel_ptxas", _only_under(ptxas._wheel_ptxas, tmp_path))
    assert find_ptxas() == exe


def _only_under(f, root: Path):
    def wrapped():
        found = f()
        return found if found is not None and root in found.parents else None
    return wrapped


def test_path_is_the_last_resort(tmp_path, monkeypatch):
    exe = _fake_ptxas(tmp_path / "bin")
    monkeypatch.delenv("TILELANG_PTXAS", raising=False)
    monkeypatch.setattr(ptxas, "_wheel_ptxas", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ.get("PATH", ""))
    assert find_ptxas() == exe
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_ptxas() is None
    with pytest.raises(CompileError, match="ptxas was not found.*\n.*pip install nvidia-cuda-nvcc"):
        assemble(".version 8.0", "sm_80")
