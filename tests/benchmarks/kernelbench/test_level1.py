"""KernelBench level 1: every written problem against its float64 numpy reference on
the interpreter and the sm_80 emulator at CPU sizes, on the sm_90a and gfx942
emulators, and compiled at its real sizes through ptxas (sm_80, sm_90a) and hipcc
(gfx942). The name list and the language-gap list account for all 100 problems."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.kernelbench import problems
from benchmarks.kernelbench.common import rel_error, to_host
from tilelang.codegen.nvidia import ptxas

WRITTEN = [n for n in problems.names(1) if problems.path(1, n).exists()]



def check(name: str, target: str) -> None:
    mod = problems.load(1, name)
    sizes = mod.CPU_SIZES
    inputs = mod.make_inputs(sizes, np.random.default_rng(0))
    ref = mod.reference(inputs)
    out = to_host(mod.run(inputs, target))
    err, tol = rel_error(out, ref), mod.tolerance(sizes)
    assert np.shape(out) == np.shape(ref)
    assert err <= tol, f"{name} on {target}: max relative error {err:.3e} > {tol:.1e}"


def test_all_100_problems_are_written_or_a_named_gap():
    names = problems.names(1)
    assert len(names) == 100 and sorted(map(problems.number, names)) == list(range(1, 101))
    for name in names:
        written = problems.path(1, name).exists()
        gap = problems.GAPS.get(problems.number(name))
        assert written != bool(gap), f"{name}: written={written}, gap={gap!r}"


@pytest.mark.parametrize("name", WRITTEN)
def test_problem_module_interface(name):
    mod = problems.load(1, name)
    assert mod.NAME == name
    for attr in ("SIZES", "CPU_SIZES", "make_inputs", "reference", "run", "torch_eager",
                 "tolerance", "compile_specs"):
        assert hasattr(mod, attr), f"{name} lacks {attr}"
    # the CPU tiers' tolerances are tight: at most 1e-5 plus a few ulps per sqrt(n)
    assert mod.tolerance(mod.CPU_SIZES) <= 1e-4


@pytest.mark.parametrize("name", WRITTEN)
def test_interp(name):
    check(name, "interp")


@pytest.mark.slow
@pytest.mark.parametrize("name", WRITTEN)
def test_emulate_sm_80(name):
    check(name, "emulate:sm_80")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_90a", "emulate:gfx942"])
@pytest.mark.parametrize("name", WRITTEN)
def test_emulate_sm_90a_and_gfx942(name, target):
    check(name, target)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name", WRITTEN)
def test_ptxas_at_real_sizes(name, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    mod = problems.load(1, name)
    for kernel, sig, constexprs in mod.compile_specs(mod.SIZES):
        compiled = kernel.compile(sig, target=arch, **constexprs)
        assert f".target {arch}" in compiled.ptx
        assert ptxas.assemble(compiled.ptx, arch).cubin


def _hipcc_found() -> bool:
    from tilelang.codegen.amd import hipcc
    from tilelang.errors import CompileError
    try:
        return hipcc.find_hipcc() is not None
    except CompileError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("name", WRITTEN)
def test_hipcc_at_real_sizes(name):
    if not _hipcc_found():
        pytest.skip("hipcc not found: apt-get install hipcc, install ROCm, or set TILELANG_HIPCC")
    mod = problems.load(1, name)
    for kernel, sig, constexprs in mod.compile_specs(mod.SIZES):
        # the AMD target runs hipcc on the HIP source it emits (a failure raises)
        compiled = kernel.compile(sig, target="gfx942", **constexprs)
        assert compiled.artifacts.get("hsaco"), f"{name}: hipcc gave no code object"


def test_run_script_reports_each_problem_and_the_count(capsys):
    from benchmarks.kernelbench import run
    picked = WRITTEN[:2]
    rc = run.main(["--level", "1", "--target", "interp",
                   "--only", *[str(problems.number(n)) for n in picked]])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert [line.split()[0] for line in out[:-1]] == picked
    assert all(" ok " in line for line in out[:-1])
    assert out[-1] == f"{len(picked)}/{len(picked)} correct"
