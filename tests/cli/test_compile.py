"""``tilelang compile``: the files it writes, its manifest, and one-line errors (exit 2)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tilelang.cli import main
from tilelang.cli.common import load_kernel
from tilelang.codegen.c_host import C_SCALAR_TYPES
from tilelang.codegen.abi import kernel_abi
from tilelang.codegen.nvidia.ptxas import find_ptxas

ROOT = Path(__file__).resolve().parents[2]
MATMUL = str(ROOT / "examples" / "matmul.py") + ":matmul"
LAYERNORM = str(ROOT / "examples" / "layernorm.py") + ":layernorm"
MATMUL_SIG = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["compile", *argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def matmul_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aot")
    code = main(["compile", MATMUL, "--signature", MATMUL_SIG, "-D", "BM=64", "-D", "BN=64",
                 "--target", "sm_80", "-o", str(out), "--name", "mm",
                 "--grid", "cdiv(M, BM), cdiv(N, BN)", "--bind", "M=C.shape[0]",
                 "--bind", "N=C.shape[1]"])
    assert code == 0
    return out


def test_it_writes_ptx_cubin_c_and_manifest(matmul_dir):
    names = {p.name for p in matmul_dir.iterdir()}
    expected = {"mm.ptx", "mm.h", "mm.c", "mm.json"} | ({"mm.cubin"} if find_ptxas() else set())
    assert names == expected
    assert ".visible .entry matmul(" in (matmul_dir / "mm.ptx").read_text()
    if find_ptxas():
        assert (matmul_dir / "mm.cubin").read_bytes()[:4] == b"\x7fELF"


def test_the_manifest_describes_the_specialization(matmul_dir):
    m = json.loads((matmul_dir / "mm.json").read_text())
    assert m["name"] == "mm" and m["kernel"] == "matmul" and m["entry"] == "matmul"
    assert m["target"] == "sm_80" and m["signature"] == MATMUL_SIG
    assert m["constexprs"] == {"BM": 64, "BN": 64, "BK": 32, "STAGES": 3}
    assert m["grid"]["formula"] == "cdiv(M, BM), cdiv(N, BN)"
    assert m["grid"]["aliases"] == {"M": "C.shape[0]", "N": "C.shape[1]"}
    assert m["functions"]["launch_auto"] == "mm_launch_auto"
    import tilelang
    assert m["tilelang_version"] == tilelang.__version__
    for fname, info in m["files"].items():
        data = (matmul_dir / fname).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert set(m["files"]) == {p.name for p in matmul_dir.iterdir()} - {"mm.json"}


def test_the_manifest_parameters_match_kernel_abi(matmul_dir):
    m = json.loads((matmul_dir / "mm.json").read_text())
    compiled = load_kernel(MATMUL).compile(MATMUL_SIG, target="sm_80", BM=64, BN=64)
    abi = kernel_abi(compiled.function)
    assert m["num_threads"] == abi.num_threads and m["shared_bytes"] == abi.shared_bytes
    assert [p["name"] for p in m["parameters"]] == ["A", "B", "C"]
    assert all(p["kind"] == "tensor" and p["dtype"] == "bf16" and p["rank"] == 2 and
               p["facts"] == ["aligned", "unit_stride", "divisible"] for p in m["parameters"])
    flat = [(p["name"], c["role"], c["index"]) for p in m["parameters"] for c in p["c_params"]]
    assert flat == [(k.source, k.role, k.index) for k in abi.params]


def test_the_header_declares_both_launch_functions(matmul_dir):
    header = (matmul_dir / "mm.h").read_text()
    m = json.loads((matmul_dir / "mm.json").read_text())
    c_args = [f"{c['type']} {c['name']}" for p in m["parameters"] for c in p["c_params"]]
    for function, grid in (("mm_launch", ["unsigned int grid_x", "unsigned int grid_y",
                                          "unsigned int grid_z"]), ("mm_launch_auto", [])):
        proto = re.search(rf"CUresult {function}\((.*?)\);", header, flags=re.S).group(1)
        assert [" ".join(a.split()) for a in proto.split(",")] == \
            ["CUstream stream", *grid, *c_args]
    assert "CUresult mm_load(void);" in header and "CUresult mm_unload(void);" in header
    assert "mm_cdiv((int64_t)C_dim0, INT64_C(64))" in (matmul_dir / "mm.c").read_text()


def test_runtime_scalars_become_c_scalars(capsys, tmp_path):
    code, out, err = run(capsys, LAYERNORM, "-s", "X=f32[2],W=f32[1],B=f32[1],Y=f32[2],eps=f32",
                         "--target", "sm_90a", "-o", str(tmp_path))
    assert code == 0, err
    m = json.loads((tmp_path / "layernorm.json").read_text())
    eps = next(p for p in m["parameters"] if p["name"] == "eps")
    assert eps["kind"] == "scalar" and eps["rank"] is None
    assert eps["c_params"] == [{"name": "eps", "type": C_SCALAR_TYPES["f32"], "role": "scalar",
                                "index": 0}]
    assert "float eps)" in (tmp_path / "layernorm.h").read_text()
    assert m["grid"] is None and "launch_auto" not in m["functions"]
    assert out.split() == [str(tmp_path / f) for f in [*m["files"], "layernorm.json"]]


def test_num_warps_sets_the_block_size(capsys, tmp_path):
    code, _, err = run(capsys, MATMUL, "-s", MATMUL_SIG, "-D", "BM=64", "-D", "BN=64",
                       "--target", "sm_80", "--num-warps", "4", "-o", str(tmp_path))
    assert code == 0, err
    m = json.loads((tmp_path / "matmul.json").read_text())
    assert m["num_threads"] == 128 and m["num_warps"] == 4


def test_a_warp_specialized_persistent_kernel_compiles_from_its_own_signature(capsys,
                                                                              tmp_path):
    # the logical-grid parameters are the compiler's, not the user's to spell out
    src = tmp_path / "pk.py"
    src.write_text((ROOT / "examples" / "matmul.py").read_text().replace(
        "@tl.kernel(num_warps=8)", "@tl.kernel(num_warps=8, persistent=True, group_m=8)"))
    code, _, err = run(capsys, f"{src}:matmul", "-s", MATMUL_SIG, "--target", "sm_90a",
                       "-o", str(tmp_path), "--name", "pk")
    assert code == 0, err
    m = json.loads((tmp_path / "pk.json").read_text())
    assert m["num_threads"] == 384                       # two consumer warpgroups + producer
    assert [p["name"] for p in m["parameters"]][-2:] == ["tl_tiles_x", "tl_tiles_y"]


@pytest.mark.parametrize("argv, says", [
    ([MATMUL], "--signature is required"),
    ([MATMUL, "-s", MATMUL_SIG, "--target", "sm_75"], "unknown target 'sm_75'"),
    ([MATMUL, "-s", MATMUL_SIG, "--target", "interp"], "produces no GPU code"),
    ([MATMUL, "-s", MATMUL_SIG, "-D", "BM"], "expected -D NAME=VALUE"),
    ([MATMUL, "-s", MATMUL_SIG, "-D", "XX=1"], "not a constexpr of matmul"),
    (["missing.py:matmul", "-s", MATMUL_SIG], "no such file"),
    ([MATMUL.replace(":matmul", ":nope"), "-s", MATMUL_SIG], "no @tl.kernel named 'nope'"),
    ([MATMUL, "-s", "A=bf16[2]"], "signature is missing parameter 'B'"),
    ([MATMUL, "-s", "A=bf16[2],B=bf16[2],C=f99[2]"], "bad type 'f99[2]'"),
    ([MATMUL, "-s", MATMUL_SIG, "--grid", "cdiv(M, 2)"], "--grid: unknown name 'M'"),
    ([MATMUL, "-s", MATMUL_SIG, "--grid", "M", "--bind", "M"], "expected --bind NAME=EXPR"),
    ([MATMUL, "-s", MATMUL_SIG, "--bind", "M=A.shape[0]"], "--grid, which is missing"),
    ([MATMUL, "-s", MATMUL_SIG, "--name", "a-b"], "not a C identifier"),
    ([MATMUL, "-s", MATMUL_SIG, "--num-warps", "3"], "--num-warps 3"),
    ([MATMUL, "-s", MATMUL_SIG, "--no-such-option"], "unrecognized arguments"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, argv, says):
    code, out, err = run(capsys, *argv, "-o", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err, err
    assert re.match(r"tilelang( compile)?: error: ", err)
    assert not (tmp_path / "out").exists()


def test_help_documents_the_options(capsys):
    for command in ("compile", "ir"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "--signature" in out and "--target" in out
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    out = capsys.readouterr().out
    for option in ("--grid", "--bind", "--name", "--num-warps", "-o DIR", "cdiv(a, b)"):
        assert option in out


def test_ir_shares_the_argument_checks(capsys):
    code = main(["ir", MATMUL, "-s", MATMUL_SIG, "--target", "sm_75"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tilelang ir: error: unknown target 'sm_75'")
    assert err.count("\n") == 1


def test_the_installed_command_compiles(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", MATMUL, "-s",
                        MATMUL_SIG, "-D", "BM=64", "-D", "BN=64", "--target", "sm_80",
                        "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "matmul.json").is_file() and (tmp_path / "matmul.c").is_file()
    bad = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", MATMUL],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_stderr_gives_the_shared_memory_per_block(capsys, tmp_path):
    code, out, err = run(capsys, MATMUL, "--signature", MATMUL_SIG, "-D", "BM=128", "-D",
                         "BN=128", "-D", "BK=64", "--target", "sm_80", "-o", str(tmp_path))
    assert code == 0
    assert all(Path(line).exists() for line in out.splitlines())
    # three stages of 128x64 and 64x128 bf16 tiles; the epilogue reuses the ring
    assert "// shared memory: 98304 bytes per block (target limit 166912)" in err
