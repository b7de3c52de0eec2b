"""``tilelang tune``: an end-to-end sweep of a tiny matmul on the emulator (parallel
compile, pruning, correctness check, stored result, report), and its usage errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tilelang.cli import main

ROOT = Path(__file__).parents[2]
MATMUL = f"{ROOT / 'examples' / 'matmul.py'}:matmul"
SPACE = ["--space", "BM=32,64", "--space", "BN=64", "--space", "BK=16,512",
         "--space", "STAGES=4", "--space", "num_warps=4"]


def test_tune_matmul_on_the_emulator_end_to_end(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "report"
    argv = ["tune", MATMUL, "--sizes", "M=32,N=32,K=32", *SPACE, "--target", "emulate:sm_90a",
            "--jobs", "2", "--repeats", "1", "-o", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "(emulator timings)" in text and "compile-failed: shared-memory budget" in text
    rows = list(csv.DictReader((out / "tune.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "compile-failed", "ok", "compile-failed"]
    assert {r["timing"] for r in rows} == {"emulator"}
    assert all(float(r["median_ms"]) > 0 for r in rows[::2])
    data = json.loads((out / "tune.json").read_text())
    assert data["timing"] == "emulator" and data["device"] == "emulate:sm_90a"
    assert data["key"]["A"] == [32, 32] and data["best"]["num_warps"] == 4
    assert (out / "tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((tmp_path / "cache" / "autotune").glob("*.json"))) == 1
    # a second run reads the stored tuning instead of sweeping again
    assert main(argv) == 0
    assert "from the stored tuning" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--sizes", "M=lots"], "is not a number"),
    (["--sizes", "M"], "expected NAME=VALUE"),
    (["--space", "BM"], "expected NAME=V1,V2"),
    (["--target", "sm_99"], "unknown target"),
])
def test_tune_usage_errors(extra: list[str], message: str,
                           capsys: pytest.CaptureFixture) -> None:
    assert main(["tune", MATMUL, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_tune_needs_tune_inputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "k.py"
    src.write_text("import tilelang as tl\n\n@tl.kernel\ndef k(X, B: tl.constexpr = 1):\n"
                   "    pass\n")
    assert main(["tune", f"{src}:k", "--space", "B=1,2"]) == 2
    assert "defines no tune_inputs" in capsys.readouterr().err
