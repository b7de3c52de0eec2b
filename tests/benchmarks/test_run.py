"""benchmarks/run.py: --check runs every row's tilelang kernels at tiny sizes against
numpy and writes the table; without a GPU a measuring run exits 2 with one line."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def load_run() -> ModuleType:
    name = "tilelang_benchmark_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def check_run(tmp_path: Path, capsys, target: str) -> dict:
    run = load_run()
    assert run.main(["--check", "--check-target", target, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "check mode" in out and "| gemm bf16 8192^3 |" in out
    data = json.loads((tmp_path / "r.json").read_text())
    md = (tmp_path / "r.md").read_text()
    assert data["mode"] == "check" and data["target"] == target
    names = [r.name for r in run.br.rows()]
    assert [r["name"] for r in data["rows"]] == names
    for row in data["rows"]:
        assert row["name"] in md
        t = row["tilelang"]
        assert t["all_ok"], (row["name"], t)
        if row["metric"] == "TFLOP/s" or row["name"].startswith(("softmax", "layernorm")):
            # every variant ran and matched numpy within the example's tolerance
            assert len(t["variants"]) >= 3
            assert all(v["error"] <= 2e-2 for v in t["variants"])
            assert all(b["na"] for b in row["baselines"].values())
    return data


def test_check_mode_on_the_interpreter(tmp_path, capsys):
    data = check_run(tmp_path, capsys, "interp")
    gemm = data["rows"][0]["tilelang"]
    # the persistent and grouped variants are among those checked
    assert any("persistent" in v["config"] for v in gemm["variants"])


@pytest.mark.slow
def test_check_mode_on_the_emulator(tmp_path, capsys):
    check_run(tmp_path, capsys, "emulate:sm_80")


def test_without_a_gpu_a_measuring_run_exits_2_with_one_line(capsys):
    run = load_run()
    if run.gpu_or_reason()[0] is not None:
        pytest.skip("this machine has a GPU")
    assert run.main(["--only", "gemm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no usable CUDA GPU" in err and "--check" in err


def test_bad_check_target_exits_2(capsys):
    assert load_run().main(["--check", "--check-target", "sm_80"]) == 2


def test_work_and_rates():
    br = load_run().br
    rows = {r.name: r for r in br.rows()}
    gemm = rows["gemm bf16 8192^3"]
    assert gemm.work() == 2 * 8192 ** 3
    assert gemm.rate(1.0) == pytest.approx(2 * 8192 ** 3 / 1e-3 / 1e12)
    full, causal = rows["attn fwd d128 s4k"], rows["attn fwd d128 s4k causal"]
    b, h = 16384 // 4096, 2048 // 128
    assert full.work() == 4 * b * h * 4096 * 4096 * 128 == 2 * causal.work()
    assert rows["softmax bf16 32768x4096"].work() == 2 * 32768 * 4096 * 2
    assert len([r for r in rows if r.startswith("attn fwd")]) == 2 * 2 * 5
    assert len([r for r in rows if r.startswith("attn bwd")]) == 2 * 2 * 3
    bwd = rows["attn bwd d128 s4k"]
    assert bwd.work() == 2.5 * full.work() == 2 * rows["attn bwd d128 s4k causal"].work()


def test_table_ratios_and_na_notes():
    run = load_run()
    result = {"name": "gemm x", "metric": "TFLOP/s",
              "tilelang": {"ms": 2.0, "rate": 500.0, "config": "c", "variants": [
                  {"config": "c", "ok": True, "error": 1e-3}], "all_ok": True},
              "baselines": {"torch": {"ms": 1.0, "rate": 1000.0},
                            "triton": {"na": "triton is not installed"}},
              "ratios": {"torch": 0.5}}
    text = run.table([result], check=False)
    assert "| 0.50 |" in text and "n/a [1]" in text and "[1] triton is not installed" in text
