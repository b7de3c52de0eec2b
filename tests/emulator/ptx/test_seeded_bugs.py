"""Deliberate emission bugs that ptxas accepts and the PTX interpreter catches: the real
PTX of an example, mutated textually, launched through the ``emulate-ptx`` target."""

from __future__ import annotations

import copy
import re

import ml_dtypes
import numpy as np
import pytest

from tests.examples.test_examples import load_example
from tilelang.codegen.nvidia import ptxas
from tilelang.emulator.ptx.errors import PtxError
from tilelang.runtime.targets import get_target


def _mutated(kernel, sig: str, target: str, pattern: str, repl: str, count: int = 1,
             **constexprs):
    """The compiled kernel with ``pattern`` replaced (``count`` times) in its PTX, which
    ptxas must still accept."""
    compiled = kernel.compile(sig, target=target, **constexprs)
    ptx, n = re.subn(pattern, repl, compiled.ptx, count=count, flags=re.MULTILINE)
    assert n == count, f"the pattern {pattern!r} is not in the PTX"
    if ptxas.find_ptxas() is not None:
        assert ptxas.assemble(ptx, target.split(":")[1]).cubin, "ptxas rejects the mutant"
    bad = copy.copy(compiled)
    bad.artifacts = dict(compiled.artifacts, ptx=ptx)
    bad.program = None
    return compiled, bad


def _run(compiled, kernel, grid, args, target):
    get_target(target).launch(compiled, grid, list(args), kernel)


def _vector_add(mutate: tuple[str, str], n: int = 1000):
    mod = load_example("vector_add")
    k = mod.vector_add
    target = "emulate-ptx:sm_80"
    good, bad = _mutated(k, "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16", target, *mutate)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, n)).astype(np.float32)
    z = np.zeros(n, np.float32)
    grid = (-(-n // 1024), 1, 1)
    _run(good, k, grid, (x, y, z), target)
    np.testing.assert_array_equal(z, x + y)
    z[:] = 0
    return bad, k, grid, (x, y, z)


def test_a_wrong_address_offset_gives_a_wrong_answer():
    bad, k, grid, (x, y, z) = _vector_add((r"(ld\.global\.v4\.b32\s+\{[^}]*\}, \[%rd\d+)\]",
                                           r"\1+16]"), n=4096)
    _run(bad, k, grid, (x, y, z), "emulate-ptx:sm_80")
    assert not np.array_equal(z, x + y)


def test_an_inverted_bounds_predicate_is_an_out_of_bounds_store():
    bad, k, grid, args = _vector_add((r"@%p(\d+) bra(\s+\$L__BB0_10)", r"@!%p\1 bra\2"))
    with pytest.raises(PtxError, match="outside every array"):
        _run(bad, k, grid, args, "emulate-ptx:sm_80")


def _matmul(mutate: tuple[str, str], target: str = "emulate-ptx:sm_80", count: int = 1,
            M: int = 70, N: int = 40, K: int = 48, BM: int = 64, BN: int = 64):
    mod = load_example("matmul")
    k = mod.matmul
    good, bad = _mutated(k, "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", target, *mutate,
                         count=count, BM=BM, BN=BN)
    rng = np.random.default_rng(1)
    a = rng.integers(-3, 4, (M, K)).astype(ml_dtypes.bfloat16)
    b = rng.integers(-3, 4, (K, N)).astype(ml_dtypes.bfloat16)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    grid = (-(-M // BM), -(-N // BN), 1)
    _run(good, k, grid, (a, b, c), target)
    ref = a.astype(np.float32) @ b.astype(np.float32)
    np.testing.assert_array_equal(c.astype(np.float32), ref)
    c[:] = 0
    return bad, k, grid, (a, b, c), ref


def test_swapped_mma_operand_registers_give_a_wrong_answer():
    first_b = (r"(mma\.sync\.aligned\S*\s+\{[^}]*\}, \{[^}]*\}, )"
               r"\{(%r\d+), (%r\d+)\}")
    bad, k, grid, args, ref = _matmul((first_b, r"\1{\3, \2}"))
    _run(bad, k, grid, args, "emulate-ptx:sm_80")
    assert not np.array_equal(args[2].astype(np.float32), ref)


def test_a_dropped_barrier_after_cp_async_wait_is_a_reported_race():
    bad, *rest = _matmul((r"(cp\.async\.wait_group \d+;\n\s*// end inline asm\n)\s*bar\.sync\s+0;",
                          r"\1"))
    with pytest.raises(PtxError, match="race"):
        _run(bad, *rest[:3], "emulate-ptx:sm_80")


def test_a_dropped_cp_async_wait_is_a_read_of_bytes_in_flight():
    bad, *rest = _matmul((r"cp\.async\.wait_group \d+;", ""), count=2)
    with pytest.raises(PtxError, match="cp.async is still copying"):
        _run(bad, *rest[:3], "emulate-ptx:sm_80")


# sm_90a: the warp-specialized TMA + wgmma matmul (rows of 16-byte multiples: TMA loads)
HOPPER = {"target": "emulate-ptx:sm_90a", "M": 130, "N": 136, "K": 96, "BM": 128, "BN": 128}


@pytest.mark.slow
def test_a_wrong_expect_tx_byte_count_is_a_reported_deadlock():
    expect = r"(mbarrier\.arrive\.expect_tx\.shared::cta\.b64 _, \[%r\d+\]), (\d+);"
    bad, *rest = _matmul((expect, r"\1, 8;"), **HOPPER)
    with pytest.raises(PtxError, match="deadlock"):
        _run(bad, *rest[:3], "emulate-ptx:sm_90a")


@pytest.mark.slow
def test_a_wrong_wgmma_swizzle_mode_gives_a_wrong_answer():
    # 4611686293322072064 = 0x4000004001000000: a 128-byte swizzle (mode 1); make it 64B (2)
    bad, k, grid, args, ref = _matmul((r"4611686293322072064", "-9223371761960091648"),
                                      **HOPPER)
    # the misread rows reach bytes no copy has filled yet, or the next stage's buffer
    # while the producer refills it; were that not reported, the answer would be wrong
    with pytest.raises(PtxError, match="no thread has written|race"):
        _run(bad, k, grid, args, "emulate-ptx:sm_90a")
    assert not np.array_equal(args[2].astype(np.float32), ref)


@pytest.mark.slow
def test_a_dropped_wgmma_wait_is_a_read_of_an_accumulator_in_flight():
    bad, *rest = _matmul((r"wgmma\.wait_group\.sync\.aligned 0;", ""), **HOPPER)
    with pytest.raises(PtxError, match="accumulator of a wgmma whose group no "
                                       "wgmma.wait_group has completed"):
        _run(bad, *rest[:3], "emulate-ptx:sm_90a")


@pytest.mark.slow
def test_a_dropped_consumer_release_is_a_reported_deadlock():
    # the consumers' arrive on a stage's "empty" mbarrier lets the producer refill it
    release = r"@p mbarrier\.arrive\.shared::cta\.b64 _, \[%r\d+\];"
    bad, *rest = _matmul((release, ""), count=3, **dict(HOPPER, K=192))  # 6 steps, 3 stages
    with pytest.raises(PtxError, match="deadlock.*waiting on an mbarrier"):
        _run(bad, *rest[:3], "emulate-ptx:sm_90a")


@pytest.mark.slow
def test_a_too_late_wgmma_wait_lets_the_producer_refill_an_operand_in_flight():
    # waiting for all but 2 groups instead of 1 releases a stage whose wgmma still reads it
    late = r"wgmma\.wait_group\.sync\.aligned 1;"
    bad, *rest = _matmul((late, "wgmma.wait_group.sync.aligned 2;"), count=2,
                         **dict(HOPPER, K=192))
    with pytest.raises(PtxError, match="an operand of a wgmma whose group no"):
        _run(bad, *rest[:3], "emulate-ptx:sm_90a")
