"""The generated HIP C++ computes what the emulator computes: a kernel of every scalar
op (float math in f32/f16/bf16/f64, saturating casts, integer division by 0 and -1,
out-of-range shifts, negative powers, bf16 rounding) is run thread by thread on the
host CPU (``hip_host``) and compared, op by op, with the emulator on the same inputs."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.codegen.amd import hip_kit as kit
from tests.codegen.amd.hip_host import find_clangxx, run_on_host
from tilelang.emulator.emulator import run_threads

pytestmark = pytest.mark.skipif(find_clangxx() is None, reason="clang++ not found")

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 3.0, 1e-40, -1e-40,
           65504.0, 70000.0, 3.4e38, -3.4e38, 2.0 ** 31, -(2.0 ** 31), 300.0, -129.5, 255.5,
           1.00390625, 1.0078125, 1.01171875, 0.333333, 7.0, -7.0]
INTS = [0, -1, 1, 2, 3, 7, -7, 31, 32, 33, 64, -2 ** 31, 2 ** 31 - 1, 127, -128, 255, 256,
        65535, 100000, -100000]


def _inputs(rng: np.random.Generator, n: int):
    x = np.array(SPECIAL + list(rng.standard_normal(n - len(SPECIAL)) * 10), np.float32)
    y = np.roll(x, 7).copy()
    y[::5] = rng.standard_normal(len(y[::5])).astype(np.float32)
    a = np.array(INTS * (n // len(INTS) + 1), np.int64)[:n].astype(np.int32)
    b = np.roll(a, 3).copy()
    b[::4] = rng.integers(-40, 40, len(b[::4]))
    return x, a, b, y


_NP = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16, "f64": np.float64}


def _out_of_range_cast(name: str, x: np.ndarray) -> np.ndarray:
    """Lanes of a float -> int cast whose value does not fit the integer type: the code
    generators saturate (NaN -> 0), numpy's cast in the emulator is platform-defined."""
    parts = name.split(".")
    ints = {"i8": np.int8, "i32": np.int32, "u8": np.uint8, "u32": np.uint32, "i64": np.int64}
    if parts[0] != "cast" or len(parts) != 3 or parts[2] not in ints or \
            parts[1] not in ("f32", "f16", "bf16", "f64"):
        return np.zeros(len(x), bool)
    info = np.iinfo(ints[parts[2]])
    with np.errstate(all="ignore"):
        v = np.trunc(x.astype(_NP[parts[1]]).astype(np.float64))
        return ~np.isfinite(v) | (v < info.min) | (v > info.max)


@pytest.mark.slow
def test_every_scalar_op_matches_the_emulator():
    fn, names = kit.ops_kernel()
    n = 64
    x, a, b, y = _inputs(np.random.default_rng(0), n)
    out_emu = np.zeros(n * len(names), np.float64)
    with np.errstate(all="ignore"):
        run_threads(fn, (1,), [x, a, b, y, out_emu])
    *_, out_host = run_on_host(fn, 1, [x, a, b, y, np.zeros_like(out_emu)])
    emu = out_emu.reshape(n, len(names))
    host = out_host.reshape(n, len(names))
    bad = []
    for k, name in enumerate(names):
        e, h = emu[:, k], host[:, k]
        same = (e == h) | (np.isnan(e) & np.isnan(h))
        same |= _out_of_range_cast(name, x)
        if name.split(".")[0] in kit.APPROXIMATE:
            rtol = {"f32": 1e-5, "f64": 1e-12}.get(name.split(".")[1], 1e-2)
            same |= np.isclose(e, h, rtol=rtol, atol=1e-30)
        if not same.all():
            i = int(np.argmin(same))
            bad.append(f"{name}: thread {i} x={x[i]!r} y={y[i]!r} a={a[i]} b={b[i]}: "
                       f"emulator {e[i]!r}, HIP {h[i]!r}")
    assert not bad, "\n".join(bad[:20])


def test_vector_add_example_runs_on_the_host():
    """The example's AMD lowering (vectorized, predicated loads at the ragged end)."""
    fn = kit.example_fn("vector_add")
    block = fn.attr("BLOCK")
    rng = np.random.default_rng(1)
    n = 3 * block + 37
    x, y = rng.standard_normal((2, n)).astype(np.float32)
    grid = -(-n // block)
    _, _, z = run_on_host(fn, grid, [x, y, np.zeros(n, np.float32)])
    np.testing.assert_array_equal(z, x + y)
