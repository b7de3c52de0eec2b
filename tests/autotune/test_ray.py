"""Sweeps compiled on a local Ray cluster (CPU only): all candidates finish and are
stored even when a worker is killed mid-sweep."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import tilelang as tl  # noqa: E402
from tilelang.autotune import store  # noqa: E402
from tilelang.autotune.ray_backend import RayCompilePool  # noqa: E402
from tilelang.autotune.workers import CompileTask  # noqa: E402
from tests.autotune import autotune_kernels as ak  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("TILELANG_CACHE_DIR")
    os.environ["TILELANG_CACHE_DIR"] = str(cache)   # the workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TILELANG_CACHE_DIR": str(cache),
                                       "PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    yield cache
    ray.shutdown()
    if old is None:
        os.environ.pop("TILELANG_CACHE_DIR", None)
    else:
        os.environ["TILELANG_CACHE_DIR"] = old


def _tasks(blocks):
    return [CompileTask(ak.__file__, "scale", "X=f32[1],Y=f32[1]",
                        (("BLOCK", b), ("F", 2)), None, None, "emulate:sm_80")
            for b in blocks]


def test_a_killed_worker_is_replaced_and_its_task_retried(cluster):
    pool = RayCompilePool(None, workers=2)
    tasks = _tasks([8, 16, 32, 64, 128, 256])
    done: list[int] = []
    victim: list[int] = []

    def on_done(i, outcome):
        done.append(i)
        if len(done) == 1:   # kill a worker that is still busy: its task must come back
            busy = [a for a in pool.actors]
            pid = ray.get(busy[-1].pid.remote())
            victim.append(pid)
            os.kill(pid, 9)

    outcomes = pool.map(tasks, on_done)
    assert victim and pool.replaced >= 1
    assert sorted(done) == list(range(len(tasks)))
    assert all(o.ok for o in outcomes), [o.reason for o in outcomes]


def test_autotune_on_ray_finishes_and_stores_every_candidate(cluster, monkeypatch):
    from tilelang.autotune.bench import EmulatorBenchmarker
    tuned = tl.autotune(space=dict(BLOCK=[8, 16, 32, 64]), key=["X.shape[0]"],
                        benchmarker=EmulatorBenchmarker("emulate:sm_80", warmup=0, repeats=1),
                        ray="auto", jobs=2, progress=False)(ak.scale)
    x = np.arange(100, dtype=np.float32)
    y = np.zeros_like(x)
    tuned[ak.scale_grid(100)](x, y, target="emulate:sm_80")
    np.testing.assert_array_equal(y, x * 2)
    (result,) = tuned.tuned.values()
    assert result.timing == "emulator"
    assert [r.status for r in result.rows] == ["ok"] * 4
    records = list(Path(cluster).rglob("*.json"))
    stored = [json.loads(p.read_text()) for p in records]
    assert any(len(r.get("rows", [])) == 4 and r.get("timing") == "emulator" for r in stored)


def test_cli_tune_with_ray_writes_the_report(cluster, tmp_path, capsys):
    import csv
    from tilelang.cli import main
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "report"
    argv = ["tune", f"{root / 'examples' / 'matmul.py'}:matmul", "--sizes", "M=32,N=32,K=32",
            "--space", "BM=32", "--space", "BN=64", "--space", "BK=16,512",
            "--space", "STAGES=4", "--space", "num_warps=4", "--target", "emulate:sm_90a",
            "--ray", "auto", "--jobs", "2", "--repeats", "1", "--no-cache", "-o", str(out)]
    assert main(argv) == 0
    assert "(emulator timings)" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "tune.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "compile-failed"]
    assert "shared-memory budget" in rows[1]["reason"]
    assert {r["timing"] for r in rows} == {"emulator"}
