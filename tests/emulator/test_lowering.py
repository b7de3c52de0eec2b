"""The emulator on the real NVIDIA lowering (frontend -> gpu pipeline -> thread IR):
it agrees with the interpreter, and it reports the race a missing barrier leaves."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tilelang as tl
from tilelang.passes import pipeline, run_pipeline
from tilelang.emulator.emulator import prepare_threads

THIS_FILE = __file__


@tl.kernel
def center_rows(X: tl.Tensor, Y: tl.Tensor, BM: tl.constexpr = 4, BN: tl.constexpr = 64):
    m0 = tl.program_id(0) * BM
    x = tl.load(X, (m0, 0), (BM, BN))
    s = tl.sum(x, 1)
    tl.store(Y, (m0, 0), x - tl.reshape(s, (BM, 1)))


@pytest.mark.parametrize("M, N", [(10, 50), (8, 64)])
def test_lowered_kernel_matches_the_interpreter(M, N):
    x = np.random.default_rng(M).standard_normal((M, N)).astype(np.float32)
    got, want = np.full_like(x, np.nan), np.full_like(x, np.nan)
    grid = (-(-M // 4),)
    center_rows[grid](x, got, target="emulate")
    center_rows[grid](x, want, target="interp")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_missing_barrier_in_the_lowering_is_a_reported_race():
    compiled = center_rows.compile("X=f32[2],Y=f32[2]", target="emulate:sm_80")
    passes = [p for p in pipeline("gpu") if p[0] != "insert-barriers"]
    fn = run_pipeline(center_rows.trace(compiled.spec), passes).module.function()
    x = np.ones((8, 64), np.float32)
    with pytest.raises(tl.KernelError, match="shared memory race") as info:
        prepare_threads(fn).run((2,), [x, np.zeros_like(x)], kernel_name="center_rows")
    text = str(info.value)
    assert "center_rows" in text and THIS_FILE in text and "program_id=(0, 0, 0)" in text
    lines, first = inspect.getsourcelines(center_rows.fn)
    assert any(f"{THIS_FILE}:{first + i}" in text for i in range(len(lines)))
