"""examples/quant_matmul.py: W*A16 for every low-bit weight type against float64 numpy
on the interpreter, the emulators, ptxas and hipcc."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tests.examples.test_examples import EXAMPLES, check, load_example, run_script
from tilelang.codegen.nvidia import ptxas
from tilelang.ir import lowbit

ex = load_example("quant_matmul")


def sig(wtype: str) -> str:
    return f"A=bf16[2]:16,W={wtype}[2]:16,S=bf16[2]:16,Z=bf16[2]:16,C=bf16[2]:16"


INTS = [f"u{b}" for b in range(1, 9)] + [f"i{b}" for b in range(2, 9)]
FLOATS = ["f4e2m1", "f5e2m2", "f6e2m3", "f6e3m2", "f8e4m3", "f8e5m2", "f3e1m1"]


@pytest.mark.parametrize("wtype", INTS + FLOATS)
def test_every_weight_type_on_the_interpreter(wtype):
    check(ex.run("interp", wtype, M=100, N=72, K=256, group=128), ex.TOLERANCE)


@pytest.mark.parametrize("wtype", ["u3", "i4", "f4e2m1", "f6e3m2"])
def test_quantized_weights_are_values_of_the_type(wtype):
    dt = ex.weight_type(wtype)
    q, s, z = ex.quantize(np.random.default_rng(1).standard_normal((128, 16)), dt, 64)
    np.testing.assert_array_equal(lowbit.quantize(q, dt), q)    # representable exactly
    w = ex.store_weights(q, dt)
    assert isinstance(w, tl.PackedArray) and w.shape == (128, 16)
    np.testing.assert_array_equal(w.values(), q)


@pytest.mark.parametrize("group, BK", [(32, 32), (64, 32), (256, 64)])
def test_group_sizes(group, BK):
    check(ex.run("interp", "u4", M=40, N=136, K=256, group=group, BK=BK), ex.TOLERANCE)


def test_a_block_size_that_does_not_divide_the_group_is_rejected():
    with pytest.raises(tl.CompileError, match="dividing GROUP"):
        ex.quant_matmul.compile(sig("u4"), GROUP=96, BK=64)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"])
@pytest.mark.parametrize("wtype", ["u2", "u3", "u8", "i4", "f4e2m1", "f6e3m2", "f8e4m3"])
def test_weight_types_in_the_emulator(wtype, target):
    # N = 72: not a multiple of the 16-byte plane rows, so W is read element by element
    # at the last column block; N = 64 takes the wide loads everywhere
    for n in (64, 72):
        check(ex.run(target, wtype, M=70, N=n, K=128, group=64, BM=32, BN=32, BK=32),
              ex.TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("wtype", ["u3", "f4e2m1"])
def test_the_ptx_runs_in_the_ptx_emulator(wtype):
    check(ex.run("emulate-ptx:sm_80", wtype, M=40, N=64, K=64, group=64, BM=32, BN=32,
                 BK=32), ex.TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("wtype", ["u2", "u3", "u4", "u8", "i4", "f4e2m1", "f6e3m2", "f8e4m3"])
def test_every_weight_type_assembles(wtype, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = ex.quant_matmul.compile(sig(wtype), target=arch)
    result = ptxas.assemble(compiled.ptx, arch, verbose=True)
    assert result.cubin and result.spill_bytes == 0, result.log
    # each thread reads its 8 consecutive weights of a row as whole bytes of each plane:
    # a 4-bit plane as one 32-bit word, 8-bit weights as 8 bytes
    widest = {"u4": "b32", "i4": "b32", "f4e2m1": "b32", "f6e3m2": "b32", "u8": "v2.b32",
              "f8e4m3": "v2.b32"}.get(wtype)
    if widest:
        assert f"ld.global.{widest}" in compiled.ptx


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("wtype", ["u3", "i4", "f4e2m1"])
def test_hip_compiles(wtype):
    compiled = ex.quant_matmul.compile(sig(wtype), target="gfx942")
    assert compiled.code_object[:4] == b"\x7fELF"
    assert "__builtin_amdgcn_mfma_f32_" in compiled.hip


def test_the_script_prints_ok():
    proc = run_script(str(EXAMPLES / "quant_matmul.py"), "--M", "70", "--N", "40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK") == 6 and "FAILED" not in proc.stdout
