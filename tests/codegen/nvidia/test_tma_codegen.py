"""TMA in the NVIDIA code: the grid-constant tensor-map parameter, the mbarrier and
cp.async.bulk.tensor PTX, ptxas/SASS checks (UTMALDG, no spills) on the sm_90a
matmul and attention, sm_80 untouched, and the AOT C launcher encoding the maps."""

from __future__ import annotations

import functools
import re
import subprocess

import pytest

from tests.codegen.nvidia.test_c_launcher import GCC_FLAGS, gcc_or_skip
from tests.codegen.nvidia.test_sass import require_tools
from tests.examples.test_examples import load_example
from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia import sass
from tilelang.codegen.c_host import c_params
from tilelang.codegen.nvidia.c_launcher import emit_c_launcher
from tilelang.codegen.abi import kernel_abi

MATMUL = ("matmul", "matmul", "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16")
ATTENTION = ("flash_attention", "flash_attention",
             "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32")
CASES = {
    "matmul-64": (MATMUL, {"BM": 64, "BN": 64, "BK": 64}),
    "matmul-default": (MATMUL, {}),
    "attention-d64": (ATTENTION, {"HEAD_DIM": 64}),
    "attention-d128": (ATTENTION, {"HEAD_DIM": 128}),
}


@functools.lru_cache(maxsize=None)
def compiled(case: str, arch: str = "sm_90a"):
    (example, kernel, sig), constexprs = CASES[case]
    return getattr(load_example(example), kernel).compile(sig, target=arch, **constexprs)


def test_tma_tensors_get_a_grid_constant_tensor_map_parameter():
    c = compiled("matmul-64")
    ptx = c.ptx
    params = re.findall(r"\.param \.align 64 \.b8 (\w+)\[128\]", ptx)
    assert len(params) == 3                      # A and B loaded, C stored
    assert ptx.count("cvta.param.u64") >= 3      # the copy reads the map where it lies
    roles = [p.role for p in kernel_abi(c.function).params]
    assert roles.count("tmap") == 3


def test_pipeline_ptx_waits_on_mbarrier_phases_and_copies_boxes():
    ptx = compiled("matmul-64").ptx
    assert "mbarrier.init.shared::cta.b64" in ptx and "fence.mbarrier_init.release.cluster" in ptx
    assert "mbarrier.arrive.expect_tx.shared::cta.b64" in ptx
    assert "mbarrier.try_wait.parity.shared::cta.b64" in ptx
    assert "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes" in ptx
    assert "mbarrier.inval.shared::cta.b64" in ptx
    assert ".extern .shared .align 1024" in ptx   # the swizzles act on address bits 7-9
    assert "cp.async.cg" not in ptx              # A and B both fit a TMA box


def test_sm80_keeps_the_cp_async_ring():
    ptx = compiled("matmul-64", "sm_80").ptx
    assert "cp.async.bulk" not in ptx and "mbarrier" not in ptx
    assert ".param .align 64" not in ptx and "cp.async.cg.shared.global" in ptx


# Rows of head dim 128 and matmul's 32 x 128 B tile (256 bytes of bf16) are wider than
# any TMA swizzle span: their buffers become 128-byte column blocks, one box each.
LOADS = {"matmul-64": "UTMALDG", "matmul-default": "UTMALDG", "attention-d64": "UTMALDG",
         "attention-d128": "UTMALDG"}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_sm90a_cubins_load_through_utmaldg_without_spills(case):
    require_tools()
    c = compiled(case)
    result = ptxas.assemble(c.ptx, "sm_90a", verbose=True)
    assert result.spill_bytes == 0, result.log
    text = sass.disassemble(result.cubin)
    assert sass.count(text, LOADS[case]) > 0, sass.histogram(text)
    if LOADS[case] == "UTMALDG":
        assert sass.count(text, "SYNCS.PHASECHK") > 0, sass.histogram(text)  # parity wait
        # every pipelined copy is a TMA box: no cp.async is left in the loop
        assert sass.count(text, "LDGSTS") == 0, sass.histogram(text)


def test_the_c_launcher_encodes_the_maps_and_compiles(tmp_path):
    c = compiled("matmul-64")
    params = c_params(c.function)
    header, source = emit_c_launcher(c.function, "k", ptx=c.ptx, cubin=c.cubin)
    assert "CUtensorMap" not in header           # built inside, not passed by the caller
    assert [p.name for p in params if p.role == "tmap"] == ["A_tmap", "B_tmap", "C_tmap"]
    assert source.count("cuTensorMapEncodeTiled(") == 3
    assert "cuuint32_t box[2] = {64, 64};" in source
    assert "CU_TENSOR_MAP_SWIZZLE_128B" in source
    assert "(cuuint64_t)A_dim1, (cuuint64_t)A_dim0" in source      # innermost first
    assert "(cuuint64_t)A_stride0 * 2" in source                   # bytes
    gcc, include = gcc_or_skip()
    (tmp_path / "k.h").write_text(header)
    (tmp_path / "k.c").write_text(source)
    r = subprocess.run([gcc, *GCC_FLAGS, "-isystem", str(include), "-c", "k.c", "-o", "k.o"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_the_aot_manifest_names_the_tensor_maps_the_launcher_builds(tmp_path):
    import json
    from pathlib import Path
    from tilelang.cli import main
    root = Path(__file__).resolve().parents[3]
    code = main(["compile", str(root / "examples" / "matmul.py") + ":matmul", "--signature",
                 MATMUL[2], "-D", "BM=64", "-D", "BN=64", "-D", "BK=64", "--target", "sm_90a",
                 "-o", str(tmp_path), "--name", "mm"])
    assert code == 0
    m = json.loads((tmp_path / "mm.json").read_text())
    by_name = {p["name"]: p for p in m["parameters"]}
    assert by_name["A"]["tensor_map"] == {"box": [64, 64], "swizzle": 128}
    # C is written by TMA stores of one 64 x 64 box (128-byte rows, 128-byte swizzle)
    assert by_name["C"]["tensor_map"] == {"box": [64, 64], "swizzle": 128}
    assert all(c["role"] != "tmap" for p in m["parameters"] for c in p["c_params"])
    assert "cuTensorMapEncodeTiled(&A_tmap" in (tmp_path / "mm.c").read_text()


def test_the_epilogue_stores_by_tma_from_a_swizzled_scratch_buffer():
    ptx = compiled("matmul-default").ptx
    assert "cp.async.bulk.tensor.2d.global.shared::cta.bulk_group" in ptx
    assert "cp.async.bulk.commit_group;" in ptx and "cp.async.bulk.wait_group.read 0;" in ptx
    assert "st.global" not in ptx                # no element of C is stored by a thread


@pytest.mark.slow
def test_sm90a_matmul_cubin_stores_through_utmastg():
    require_tools()
    result = ptxas.assemble(compiled("matmul-default").ptx, "sm_90a", verbose=True)
    text = sass.disassemble(result.cubin)
    assert sass.count(text, "UTMASTG") == 2 and sass.count(text, "STG") == 0
    assert result.spill_bytes == 0, result.log


@pytest.mark.slow
@pytest.mark.parametrize("case", ["attention-d64", "attention-d128"])
def test_sm90a_attention_cubin_stores_through_utmastg(case):
    require_tools()
    result = ptxas.assemble(compiled(case).ptx, "sm_90a", verbose=True)
    text = sass.disassemble(result.cubin)
    assert sass.count(text, "UTMASTG") > 0 and sass.count(text, "STG") == 0
