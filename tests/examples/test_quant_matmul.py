"""examples/quant_matmul.py: the bit-plane packing, then W{1..8}A16 against float64
numpy on the interpreter, the emulators, ptxas and hipcc."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.codegen.amd.test_hip import needs_hipcc
from tests.examples.test_examples import EXAMPLES, check, load_example, run_script
from tilelang.codegen.nvidia import ptxas

ex = load_example("quant_matmul")
SIG = "A=bf16[2]:16,QW=u8[3]:16,S=bf16[2]:16,Z=bf16[2]:16,C=bf16[2]:16"


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 8), rows=st.integers(1, 6), n=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_pack_is_bit_sliced_and_unpack_inverts_it(bits, rows, n, seed):
    q = np.random.default_rng(seed).integers(0, 1 << bits, (8 * rows, n))
    qw = ex.pack(q, bits)
    assert qw.shape == (bits, rows, n) and qw.dtype == np.uint8
    k, col = 8 * rows - 1, n - 1          # bit j of QW[i, r, n] is bit i of q[8 r + j, n]
    for i in range(bits):
        assert (qw[i, k // 8, col] >> (k % 8)) & 1 == (q[k, col] >> i) & 1
    np.testing.assert_array_equal(ex.unpack(qw), q)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8])
def test_every_width_on_the_interpreter(bits):
    check(ex.run("interp", bits=bits, M=100, N=70, K=256, group=128), ex.TOLERANCE)


@pytest.mark.parametrize("group, BK", [(32, 32), (64, 32), (256, 64)])
def test_group_sizes(group, BK):
    check(ex.run("interp", bits=4, M=40, N=130, K=256, group=group, BK=BK), ex.TOLERANCE)


def test_a_block_size_that_does_not_divide_the_group_is_rejected():
    import tilelang as tl
    with pytest.raises(tl.CompileError, match="dividing GROUP"):
        ex.quant_matmul.compile(SIG, BITS=4, GROUP=96, BK=64)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"])
@pytest.mark.parametrize("bits", [2, 3, 8])
def test_widths_in_the_emulator(bits, target):
    check(ex.run(target, bits=bits, M=70, N=72, K=128, group=64, BM=32, BN=32, BK=32),
          ex.TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_every_width_assembles(bits, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = ex.quant_matmul.compile(SIG, target=arch, BITS=bits)
    result = ptxas.assemble(compiled.ptx, arch, verbose=True)
    assert result.cubin and result.spill_bytes == 0, result.log


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("bits", [3, 4])
def test_hip_compiles(bits):
    compiled = ex.quant_matmul.compile(SIG, target="gfx942", BITS=bits)
    assert compiled.code_object[:4] == b"\x7fELF"
    assert "__builtin_amdgcn_mfma_f32_" in compiled.hip


def test_the_script_prints_ok():
    proc = run_script(str(EXAMPLES / "quant_matmul.py"), "--M", "70", "--N", "40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK") == 4 and "FAILED" not in proc.stdout
