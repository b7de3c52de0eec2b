"""erf, log1p, expm1 and tl.fma in the code generators: the f32 erf sequence's stated
error (replayed on numpy with the emitted coefficients against ``math.erf``), the
instructions in the PTX, ptxas and hipcc compile checks for every target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.codegen.nvidia.test_ptx import body_of
from tests.frontend.test_math_lang import float_ops, fma_kernel, int_ops
from tilelang.codegen.amd import hipcc
from tilelang.codegen.nvidia.llvm_special import ERF_LOG_ERFC, ERF_SMALL
from tilelang.codegen.nvidia.ptxas import find_ptxas
from tilelang.errors import CompileError

F = np.float32


def _fma(a, b, c):
    return (a.astype(np.float64) * b + c).astype(F)  # one rounding (f32 product is exact)


def _horner(coeffs, t):
    p = np.full_like(t, F(coeffs[-1]))
    for c in coeffs[-2::-1]:
        p = _fma(p, t, F(c))
    return p


def erf_sequence(x: np.ndarray) -> np.ndarray:
    """``llvm_special.erf_f32`` step by step in f32 numpy, exp correctly rounded."""
    ax = np.abs(x)
    small = (_horner(ERF_SMALL, (ax * ax).astype(F)) * ax).astype(F)
    big = (F(1) - np.exp(_horner(ERF_LOG_ERFC, ax).astype(np.float64)).astype(F)).astype(F)
    r = np.where(ax < 1, small, big)
    return np.copysign(np.where(ax >= 4, F(1), r), x)


def test_erf_sequence_error_is_as_documented():
    x = np.concatenate([np.linspace(-6, 6, 600001, dtype=F),
                        (10.0 ** np.linspace(-38, 0, 2000)).astype(F)])
    want = np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))
    with np.errstate(all="ignore"):
        got = erf_sequence(x).astype(np.float64)
    err = np.abs(got - want)
    assert err.max() < 1.1e-7
    ulps = err / np.spacing(np.abs(want).astype(F)).astype(np.float64)
    assert ulps.max() < 2.5


def _ptxas() -> bool:
    try:
        return find_ptxas() is not None
    except CompileError:
        return False


SIG_FLOAT = "X=f32[1],Y=f32[1],Out=f32[1]"
SIG_FMA = {"f32": "A=f32[1],B=f32[1],C=f32[1],Out=f32[1]",
           "bf16": "A=bf16[1],B=bf16[1],C=bf16[1],Out=bf16[1]",
           "f64": "A=f64[1],B=f64[1],C=f64[1],Out=f64[1]"}
SIG_INT = "A=i32[1],B=i32[1],S=i32[1],Out=i32[1]"


@pytest.mark.parametrize("target", ["sm_80", "sm_90a"])
def test_ptx_uses_fma_and_sfu_and_assembles(target):
    c = float_ops.compile(SIG_FLOAT, target=target)
    body = body_of(c.ptx)
    assert "fma.rn.f32" in body and "ex2.approx.f32" in body and "lg2.approx.f32" in body
    assert ".ftz" not in body
    for dt, fma in (("f32", "fma.rn.f32"), ("bf16", "fma.rn.f32"), ("f64", "fma.rn.f64")):
        fc = fma_kernel.compile(SIG_FMA[dt], target=target)
        assert fma in body_of(fc.ptx)
        assert "mul.rn" not in body_of(fc.ptx)  # fused, not a multiply then an add
    ic = int_ops.compile(SIG_INT, target=target)
    assert "div.s32" in body_of(ic.ptx)  # (LLVM derives the remainder from the quotient)
    if _ptxas():
        for art in (c, fc, ic):
            assert art.cubin is not None and art.cubin[:4] == b"\x7fELF"


def _hipcc() -> bool:
    try:
        return hipcc.find_hipcc() is not None
    except CompileError:
        return False


@pytest.mark.parametrize("target", ["gfx90a", "gfx942"])
def test_hip_source_calls_device_math_and_compiles(target):
    c = float_ops.compile(SIG_FLOAT, target=target)
    for call in ("erff(", "log1pf(", "expm1f(", "powf(", "fmodf("):
        assert call in c.hip
    fc = fma_kernel.compile(SIG_FMA["f32"], target=target)
    assert "fmaf(" in fc.hip
    ic = int_ops.compile(SIG_INT, target=target)
    if _hipcc():
        for art in (c, fc, ic):
            assert art.code_object is not None and art.code_object[:4] == b"\x7fELF"
