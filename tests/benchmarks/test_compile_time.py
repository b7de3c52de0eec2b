"""benchmarks/compile_time.py measures a tilelang cold compile in a fresh process
(the Triton side is left out here: Triton is not a tilelang dependency)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compile_time.py"


def load_benchmark() -> ModuleType:
    name = "tilelang_benchmark_compile_time"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_one_tilelang_run_of_the_matmul_example_has_positive_times(tmp_path, capsys):
    bench = load_benchmark()
    out = tmp_path / "compile_time.json"
    assert bench.main(["--no-triton", "--runs", "1", "--kernels", "matmul bf16",
                       "--targets", "sm_80", "--json", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "| matmul bf16 | sm_80 |" in printed
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["kernel"], row["target"], row["triton"]) == ("matmul bf16", "sm_80", None)
    tl = row["tilelang"]
    assert tl["import_s"] > 0 and tl["ptx_s"] > 0 and tl["ptx_cpu_s"] > 0
    assert tl["ptx_lines"] > 0
    if tl.get("ptxas"):   # ptxas installed: the cubin columns too
        assert tl["ptxas_s"] > 0 and tl["cubin_s"] > tl["ptx_s"] and tl["cubin_bytes"] > 0
    else:
        assert tl["cubin_s"] is None
    assert row["ratio_cubin_s"] is None  # no Triton, no ratio


def test_workers_share_a_bytecode_cache_even_where_the_environment_turns_it_off(
        tmp_path, monkeypatch):
    """An installed tilelang has its .pyc files: the timed processes must not recompile
    the package's sources (PYTHONDONTWRITEBYTECODE would make every one of them do so)."""
    bench = load_benchmark()
    seen = {}

    class Done:
        returncode, stdout, stderr = 0, '{"ptx_s": 1.0}\n', ""

    def fake_run(cmd, *, env, **kwargs):
        seen.update(env)
        return Done()

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench.run_once("tilelang", "matmul bf16", "sm_80", pycache=str(tmp_path)) == \
        {"ptx_s": 1.0}
    assert seen["PYTHONPYCACHEPREFIX"] == str(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in seen
