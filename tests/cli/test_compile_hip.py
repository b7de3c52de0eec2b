"""``tilelang compile --target gfx90a|gfx942``: HIP source, manifest, and (where hipcc is
installed) the code object and a C launcher over the HIP module API, which a C
compiler accepts where the HIP headers exist."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tilelang.cli import main
from tilelang.codegen.amd import hipcc

ROOT = Path(__file__).resolve().parents[2]
MATMUL = str(ROOT / "examples" / "matmul.py") + ":matmul"
LAYERNORM = str(ROOT / "examples" / "layernorm.py") + ":layernorm"
MATMUL_SIG = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"
HAS_HIPCC = hipcc.find_hipcc() is not None
HIP_HEADER = Path("/usr/include/hip/hip_runtime_api.h")


@pytest.fixture(scope="module")
def mm_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aot-hip")
    code = main(["compile", MATMUL, "--signature", MATMUL_SIG, "--target", "gfx942",
                 "-o", str(out), "--name", "mm", "--grid", "cdiv(M, BM), cdiv(N, BN)",
                 "--bind", "M=C.shape[0]", "--bind", "N=C.shape[1]"])
    assert code == 0
    return out


def test_it_writes_hip_and_manifest_and_a_code_object_where_hipcc_is(mm_dir):
    names = {p.name for p in mm_dir.iterdir()}
    binary = {"mm.hsaco", "mm.h", "mm.c"} if HAS_HIPCC else set()
    assert names == {"mm.hip", "mm.json"} | binary
    src = (mm_dir / "mm.hip").read_text()
    assert '__launch_bounds__(' in src and "__builtin_amdgcn_mfma_f32_" in src
    if HAS_HIPCC:
        assert (mm_dir / "mm.hsaco").read_bytes()[:4] == b"\x7fELF"


def test_the_manifest_describes_the_hip_build(mm_dir):
    m = json.loads((mm_dir / "mm.json").read_text())
    assert m["target"] == "gfx942" and m["kernel"] == "matmul" and m["name"] == "mm"
    assert "-fwrapv" in m["hip_flags"]
    if HAS_HIPCC:
        assert m["code_object_arch"] == hipcc.resolve_arch("gfx942")
        assert m["functions"]["launch_auto"] == "mm_launch_auto"
    else:
        assert m["code_object_arch"] is None and m["functions"] == {}
    a = next(p for p in m["parameters"] if p["name"] == "A")
    assert a["c_params"][0]["type"] == "hipDeviceptr_t"
    for fname, info in m["files"].items():
        data = (mm_dir / fname).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["bytes"] == len(data)
    assert m["grid"]["formula"] == "cdiv(M, BM), cdiv(N, BN)"


@pytest.mark.skipif(not HAS_HIPCC, reason="hipcc not found: no code object, so no launcher")
def test_the_launcher_embeds_the_code_object_and_uses_the_module_api(mm_dir):
    header, source = (mm_dir / "mm.h").read_text(), (mm_dir / "mm.c").read_text()
    assert "#include <hip/hip_runtime_api.h>" in header
    assert "hipError_t mm_launch(hipStream_t stream, unsigned int grid_x" in header
    assert "hipModuleLoadData(&module, mm_code_object)" in source
    assert 'hipModuleGetFunction(&function, module, "matmul")' in source
    assert "hipModuleLaunchKernel(mm_function" in source
    obj = (mm_dir / "mm.hsaco").read_bytes()
    first = ", ".join(f"0x{b:02x}" for b in obj[:4])
    assert f"static const unsigned char mm_code_object[{len(obj)}]" in source
    assert first in source


@pytest.mark.skipif(not (HAS_HIPCC and HIP_HEADER.exists() and shutil.which("cc")),
                    reason="needs hipcc (for a code object), the HIP headers and a C compiler")
def test_the_launcher_compiles_as_c99(mm_dir, tmp_path):
    proc = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror",
                           "-D__HIP_PLATFORM_AMD__", "-c", str(mm_dir / "mm.c"),
                           "-o", str(tmp_path / "mm.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gfx90a_layernorm_with_a_scalar(tmp_path):
    sig = "X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32"
    assert main(["compile", LAYERNORM, "-s", sig, "--target", "gfx90a", "-o",
                 str(tmp_path)]) == 0
    m = json.loads((tmp_path / "layernorm.json").read_text())
    assert m["target"] == "gfx90a"
    assert "float eps" in (tmp_path / "layernorm.hip").read_text()
    if HAS_HIPCC:
        assert m["code_object_arch"] == "gfx90a"
        assert "float eps)" in (tmp_path / "layernorm.h").read_text()


def test_without_hipcc_only_the_source_and_manifest_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(hipcc, "find_hipcc", lambda: None)
    monkeypatch.setenv("TILELANG_CACHE", "0")
    sig = "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16"
    vector_add = str(ROOT / "examples" / "vector_add.py") + ":vector_add"
    assert main(["compile", vector_add, "-s", sig, "--target", "gfx90a", "-o",
                 str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"vector_add.hip", "vector_add.json"}
    m = json.loads((tmp_path / "vector_add.json").read_text())
    assert m["code_object_arch"] is None and m["functions"] == {}
