"""``@tl.autotune``: sweeps with an injected benchmarker, correctness checks, persistence
across processes, and a parallel compile on the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tilelang as tl
from tilelang.autotune import store
from tilelang.autotune.bench import EmulatorBenchmarker, Measurement
from tilelang.autotune.tuner import TuningError

sys.path.insert(0, str(Path(__file__).parent))
import autotune_kernels as ak  # noqa: E402

HERE = Path(__file__).parent
EXAMPLES = Path(__file__).parents[2] / "examples"


class FakeBenchmarker:
    """Times taken from a list in call order; runs each candidate once."""

    kind = "fake"

    def __init__(self, times: list[float]) -> None:
        self.times = list(times)
        self.calls = 0

    def device(self, target: str) -> str:
        return f"fake:{target}"

    def measure(self, run: Any, make_args: Any) -> Measurement:
        run(make_args())
        t = self.times[self.calls]
        self.calls += 1
        return Measurement(t, (t,))


def _tuned(bench: FakeBenchmarker, **kw: Any) -> Any:
    kw.setdefault("configs", [tl.Config(BLOCK=8), tl.Config(BLOCK=16), tl.Config(BLOCK=32)])
    return tl.autotune(key=["X.shape[0]"], benchmarker=bench, jobs=1, cache_results=False,
                       **kw)(ak.scale)


def test_sweep_picks_the_fastest_and_launches_it() -> None:
    bench = FakeBenchmarker([3.0, 1.0, 2.0])
    tuned = _tuned(bench)
    x = np.arange(64, dtype=np.float32)
    y = np.zeros_like(x)
    tuned[ak.scale_grid(64)](x, y, target="interp")
    assert np.array_equal(y, x * 2)
    (result,) = tuned.tuned.values()
    assert result.best == tl.Config(BLOCK=16) and result.best_ms == 1.0
    assert [r.status for r in result.rows] == ["ok", "ok", "ok"]
    assert result.timing == "fake" and result.device == "fake:interp"
    # same key: no new sweep; a new key (shape): a new sweep
    tuned[ak.scale_grid(64)](x, y, target="interp")
    assert bench.calls == 3
    bench.times += [5.0, 4.0, 6.0]
    x2 = np.ones(32, np.float32)
    tuned[ak.scale_grid(32)](x2, np.zeros_like(x2), target="interp")
    assert bench.calls == 6 and len(tuned.tuned) == 2


def test_reference_rejects_wrong_configs_with_a_reason() -> None:
    bench = FakeBenchmarker([2.0, 9.0])
    tuned = _tuned(bench, space=dict(F=[3, 2], BLOCK=[16]), configs=None,
                   reference=ak.scale_reference, rtol=0, atol=1e-6)
    x = np.arange(16, dtype=np.float32)
    y = np.zeros_like(x)
    tuned[ak.scale_grid(16)](x, y, target="interp")
    (result,) = tuned.tuned.values()
    wrong, right = result.rows
    assert wrong.status == "wrong" and "wrong result in 'Y'" in wrong.reason
    assert right.status == "ok" and result.best == tl.Config(F=2, BLOCK=16)
    assert np.array_equal(y, x * 2) and bench.calls == 1


def test_prune_hook_and_no_survivor() -> None:
    bench = FakeBenchmarker([])
    tuned = _tuned(bench, prune=lambda cs, key: [(c, "not today") for c in cs])
    x = np.zeros(16, np.float32)
    with pytest.raises(TuningError, match="not today"):
        tuned[ak.scale_grid(16)](x, np.zeros_like(x), target="interp")


def test_bad_uses_are_errors() -> None:
    with pytest.raises(tl.LaunchError, match="not constexprs"):
        tl.autotune(configs=[tl.Config(NOPE=1)])(ak.scale)
    with pytest.raises(TypeError, match="configs="):
        tl.autotune()(ak.scale)
    tuned = _tuned(FakeBenchmarker([1.0]))
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.LaunchError, match="BLOCK tuned by @tl.autotune"):
        tuned[(1,)](x, x, BLOCK=16, target="interp")


def test_emulator_benchmarker_takes_the_median_on_fresh_inputs() -> None:
    ticks = iter([0.0, 0.003, 1.0, 1.001, 2.0, 2.002])
    seen: list[int] = []
    bench = EmulatorBenchmarker("emulate:sm_90a", warmup=1, repeats=3,
                                clock=lambda: next(ticks))
    made = iter(range(10))
    m = bench.measure(lambda a: seen.append(a), lambda: next(made))
    assert seen == [0, 1, 2, 3] and bench.kind == "emulator"
    assert m.median_ms == pytest.approx(2.0) and len(m.times_ms) == 3


SCRIPT = """
import sys, numpy as np, tilelang as tl
sys.path.insert(0, {here!r})
import autotune_kernels as ak
from tilelang.autotune.bench import Measurement
class Counting:
    kind = "fake"
    calls = 0
    def device(self, target): return "fake"
    def measure(self, run, make_args):
        Counting.calls += 1
        run(make_args())
        return Measurement(float(Counting.calls))
tuned = tl.autotune(configs=[tl.Config(BLOCK=8), tl.Config(BLOCK=16)], key=["X"],
                    benchmarker=Counting(), jobs=1)(ak.scale)
x = np.arange(32, dtype=np.float32); y = np.zeros_like(x)
tuned[ak.scale_grid(32)](x, y, target="interp")
(r,) = tuned.tuned.values()
print(Counting.calls, r.from_disk, r.best.kwargs["BLOCK"], bool((y == 2 * x).all()))
"""


def test_a_second_process_reuses_the_stored_tuning(tmp_path: Path) -> None:
    env = dict(os.environ, TILELANG_CACHE_DIR=str(tmp_path))
    code = SCRIPT.format(here=str(HERE))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stdout.split() == ["2", "False", "8", "True"]
    assert runs[1].stdout.split() == ["0", "True", "8", "True"]
    (record,) = (tmp_path / store.FOLDER).glob("*.json")
    data = json.loads(record.read_text())
    assert data["best"] == {"BLOCK": 8} and data["fields"]["device"] == "fake"
    assert data["fields"]["key"]["X"] == [32] and len(data["fields"]["compiler"]) == 64


def test_corrupt_record_is_removed_and_retuned(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path))
    bench = FakeBenchmarker([1.0, 2.0, 1.0, 2.0])
    tuned = tl.autotune(configs=[tl.Config(BLOCK=8), tl.Config(BLOCK=16)], key=["X"],
                        benchmarker=bench, jobs=1)(ak.scale)
    x = np.arange(16, dtype=np.float32)
    tuned[ak.scale_grid(16)](x, np.zeros_like(x), target="interp")
    (record,) = (tmp_path / store.FOLDER).glob("*.json")
    record.write_text("{not json")
    tuned.tuned.clear()
    tuned[ak.scale_grid(16)](x, np.zeros_like(x), target="interp")
    assert bench.calls == 4 and json.loads(record.read_text())["best"] == {"BLOCK": 8}


def test_parallel_compile_prunes_over_the_shared_memory_budget() -> None:
    """Worker processes re-import examples/matmul.py; one config is over sm_90a's budget."""
    sys.path.insert(0, str(EXAMPLES))
    import matmul as mm
    import ml_dtypes
    configs = [tl.Config(BM=16, BN=16, BK=16, STAGES=1, num_warps=1),
               tl.Config(BM=32, BN=32, BK=16, STAGES=2, num_warps=4),
               tl.Config(BM=128, BN=128, BK=256, STAGES=4, num_warps=8)]
    bench = FakeBenchmarker([2.0, 1.0])
    tuned = tl.autotune(configs=configs, key=["A.shape[0]"], benchmarker=bench, jobs=2,
                        cache_results=False, atol=0.05, rtol=0.02,
                        reference=lambda A, B, C: mm.reference(A, B))(mm.matmul)
    rng = np.random.default_rng(0)
    a = rng.random((32, 32)).astype(ml_dtypes.bfloat16)
    b = rng.random((32, 32)).astype(ml_dtypes.bfloat16)
    c = np.zeros((32, 32), ml_dtypes.bfloat16)
    tuned[lambda m: (tl.cdiv(32, m["BM"]), tl.cdiv(32, m["BN"]))](a, b, c,
                                                                   target="emulate:sm_90a")
    (result,) = tuned.tuned.values()
    assert [r.status for r in result.rows] == ["ok", "ok", "compile-failed"]
    assert result.rows[2].reason.startswith("shared-memory budget: the kernel needs")
    assert result.best == configs[1]
    assert np.allclose(c.astype(np.float64), mm.reference(a, b), rtol=0.02, atol=0.05)
