"""Sweeps on a local Ray cluster (CPUs and one logical GPU, no real one): candidates
compile on CPU workers and are checked and timed on benchmark workers (one GPU
each for a GPU target), and all finish and are stored even when a worker is killed
mid-sweep."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import tilelang as tl  # noqa: E402
from tilelang.autotune import store  # noqa: E402
from tilelang.autotune.measure import MeasureCheck  # noqa: E402
from tilelang.autotune.ray_backend import (MeasureTask, RayBenchPool,  # noqa: E402
                                           RayCompilePool)
from tilelang.autotune.workers import CompileTask  # noqa: E402
from tests.autotune import autotune_kernels as ak  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("TILELANG_CACHE_DIR")
    os.environ["TILELANG_CACHE_DIR"] = str(cache)   # the workers inherit it
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
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


def _measure_tasks(blocks, bench=None):
    x = np.arange(100, dtype=np.float32)
    return [MeasureTask(ak.__file__, "scale", ak.scale_grid(100),
                        {"X": x, "Y": np.zeros_like(x)}, {"BLOCK": b}, "emulate:sm_80",
                        MeasureCheck(ak.scale_reference), bench)
            for b in blocks]


def test_autotune_on_ray_times_every_candidate_on_a_worker(cluster):
    tuned = tl.autotune(space=dict(BLOCK=[8, 16, 32]), key=["X.shape[0]"],
                        reference=ak.scale_reference, benchmarker=ak.PidBenchmarker(),
                        ray="auto", progress=False, cache_results=False)(ak.scale)
    x = np.arange(100, dtype=np.float32)
    y = np.zeros_like(x)
    tuned[ak.scale_grid(100)](x, y, target="emulate:sm_80")
    np.testing.assert_array_equal(y, x * 2)
    (result,) = tuned.tuned.values()
    assert [r.status for r in result.rows] == ["ok"] * 3
    pids = {int(r.times_ms[0]) for r in result.rows}
    assert os.getpid() not in pids          # timed on the benchmark workers


def test_benchmark_workers_of_a_gpu_target_each_get_a_gpu(cluster):
    pool = RayBenchPool(None, "sm_80")               # a GPU target: num_gpus=1 per worker
    assert pool.workers == 1                         # the cluster has one (logical) GPU
    actor = pool._new_actor()
    try:
        assert ray.get(actor.gpu_ids.remote()) == [0]
    finally:
        ray.kill(actor, no_restart=True)
    with pytest.raises(tl.LaunchError, match="has 1 GPUs"):
        RayBenchPool(None, "sm_80", num_gpus=2)


def test_candidates_are_timed_on_a_gpu_worker_and_a_wrong_one_is_reported(cluster):
    pool = RayBenchPool(None, "emulate:sm_80", num_gpus=1)   # placed as a GPU target is
    tasks = _measure_tasks([16, 32], ak.PidBenchmarker())
    bad = MeasureTask(ak.__file__, "scale", ak.scale_grid(100), tasks[0].arguments,
                      {"BLOCK": 16, "F": 3}, "emulate:sm_80",
                      MeasureCheck(ak.scale_reference), ak.PidBenchmarker())
    outcomes = pool.map(tasks + [bad])
    assert [o.status for o in outcomes] == ["ok", "ok", "wrong"]
    assert "wrong result in 'Y'" in outcomes[2].reason
    assert outcomes[0].device == "emulate:sm_80"


def test_a_killed_benchmark_worker_is_replaced_and_its_candidate_timed(cluster):
    pool = RayBenchPool(None, "emulate:sm_80", workers=2)
    tasks = _measure_tasks([4, 8, 16, 32, 64, 128])
    done: list[int] = []

    def on_done(i, outcome):
        done.append(i)
        if len(done) == 1:
            os.kill(ray.get(pool.actors[-1].pid.remote()), 9)

    outcomes = pool.map(tasks, on_done)
    assert pool.replaced >= 1 and sorted(done) == list(range(len(tasks)))
    assert all(o.status == "ok" for o in outcomes), [o.reason for o in outcomes]
