"""benchmarks/device_check.sh --dry-run: everything the device check does but the GPU
(environment, gpu-tier collection and its one-process-per-test runner, the benchmark
harness's --check on a CPU target, the launch-overhead benchmark), and a budget too
small for all steps still leaves a summary of what ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "device_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="the device check is a bash script using timeout")


def dry_run(out: Path, budget: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("TILELANG_CACHE_DIR", None)      # the script keeps its cache under OUT
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", "--budget", str(budget),
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=budget + 60)


def rows(summary: str) -> dict[str, str]:
    """step -> result of the summary's step table."""
    out = {}
    for line in summary.split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("step", "---"):
            out[cells[0]] = cells[1]
    return out


@pytest.mark.slow
def test_the_dry_run_runs_everything_but_the_gpu(tmp_path):
    done = dry_run(tmp_path / "dc", 150)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (tmp_path / "dc" / "summary.md").read_text()
    steps = rows(summary)
    assert list(steps)[:4] == ["preflight: import tilelang and its dependencies", "environment",
                               "collect gpu tier", "gpu tier size"]
    for name in ("environment", "collect gpu tier", "per-test runner (dry: one test)",
                 "benchmarks/run.py --check (interp, gemm)", "launch overhead (no-op driver)"):
        assert steps[name] == "ok", (name, summary)
    assert steps["compute-sanitizer memcheck, racecheck"] == "skipped"
    assert "kernelbench" in " ".join(steps)
    ids = (tmp_path / "dc" / "gpu-tests.ids").read_text().split()
    assert "tests/gpu/test_examples_gpu.py::test_example_on_the_device[vector_add]" in ids
    assert ids[0].startswith("tests/gpu/test_examples_gpu.py")        # this vendor first
    assert steps["gpu tier size"] == f"{len(ids)} tests"
    smoke = (tmp_path / "dc" / "smoke.md").read_text()
    assert "test_the_gpu_tier_reports_why_it_skips` | passed" in smoke
    check = (tmp_path / "dc" / "bench" / "check.md").read_text()
    assert "gemm bf16 4096^3" in check and "## bench/check.md" in summary
    assert "| tilelang |" in (tmp_path / "dc" / "environment.md").read_text()
    assert "Finished in" in summary


def test_a_budget_too_small_keeps_the_summary_of_what_ran(tmp_path):
    dry_run(tmp_path / "dc", 19)
    summary = (tmp_path / "dc" / "summary.md").read_text()
    steps = rows(summary)
    assert steps["preflight: import tilelang and its dependencies"] == "ok"
    assert steps["launch overhead (no-op driver)"] == "skipped"     # the last step
    assert all(r in ("ok", "skipped") or r.startswith("TIMEOUT") for r in steps.values()
               if not r.endswith(" tests"))
    assert "out of budget" in summary and "Finished in" in summary
