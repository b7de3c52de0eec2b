"""SASS checks: what the examples' cubins contain, and the disassembly helpers.

The cubins come from ptxas (``nvidia-cuda-nvcc``) and are read back with
nvdisasm (``nvidia-cuda-nvdisasm``), both in the ``test`` extra; without them
these tests are skipped and say what to install. No GPU is needed.
"""

from __future__ import annotations

import functools
import stat
import sys
from pathlib import Path

import pytest

from tests.examples.test_examples import load_example
from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia import sass
from tilelang.errors import CompileError

ARCHS = ["sm_80", "sm_90a"]

# (example file, kernel, signature, constexprs)
EXAMPLES = {
    # ":16": the tensors are 16-byte aligned with unit stride (what a launch with
    # freshly allocated arrays has): 16-byte cp.async and 128-bit loads are legal
    "matmul": ("matmul", "matmul", "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", {}),
    "flash_attention": ("flash_attention", "flash_attention",
                        "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32",
                        {"HEAD_DIM": 64}),
    "softmax": ("softmax", "softmax", "X=f32[2]:16,Y=f32[2]:16", {}),
}


def _ptxas() -> Path | None:
    try:
        return ptxas.find_ptxas()
    except CompileError:     # a bad TILELANG_PTXAS: the ptxas tests report it
        return None


def require_disassembler() -> None:
    """Skip the calling test, saying what to install, unless nvdisasm or cuobjdump exists."""
    if sass.find_disassembler() is None:
        pytest.skip(f"no SASS disassembler: {sass.INSTALL_HINT}")


def require_tools() -> None:
    """Skip the calling test, saying what to install, unless ptxas and a disassembler exist."""
    if _ptxas() is None:
        pytest.skip("ptxas not found: pip install nvidia-cuda-nvcc (the test extra)")
    require_disassembler()


@pytest.fixture
def tools() -> None:
    require_tools()


def assemble(ptx: str, arch: str) -> bytes:
    return ptxas.assemble(ptx, arch).cubin


@functools.lru_cache(maxsize=None)
def example_sass(name: str, arch: str) -> str:
    """The SASS of an example kernel, compiled once per session."""
    file, kernel, signature, constexprs = EXAMPLES[name]
    compiled = getattr(load_example(file), kernel).compile(signature, target=arch, **constexprs)
    cubin = compiled.cubin if compiled.cubin is not None else assemble(compiled.ptx, arch)
    return sass.disassemble(cubin)


# -- the examples ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ["matmul", "flash_attention"])
def test_tl_dot_runs_on_tensor_cores(tools, name, arch):
    text = example_sass(name, arch)
    if arch == "sm_90a":   # warpgroup MMA at the examples' defaults (lower_wgmma)
        assert sass.count(text, "HGMMA") > 0, sass.histogram(text)
        return
    assert sass.count(text, "HMMA") > 0, sass.histogram(text)
    assert sass.count(text, "LDSM") > 0, "operands reach the mma through ldmatrix"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ["matmul", "flash_attention"])
def test_tl_pipeline_loads_with_cp_async(tools, name, arch):
    text = example_sass(name, arch)
    # sm_90a loads what TMA can through UTMALDG (pipeline-tma), the rest with LDGSTS
    loads = sass.count(text, "LDGSTS") + (sass.count(text, "UTMALDG") if arch == "sm_90a" else 0)
    assert loads > 0, sass.histogram(text)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_softmax_loads_rows_128_bits_at_a_time(tools, arch):
    text = example_sass("softmax", arch)
    assert sass.access_widths(text, "LDG")[128] > 0, sass.histogram(text)


# -- the helpers on a small real disassembly -------------------------------------------

# One access of each kind the helpers tell apart; every loaded value reaches the
# store so that ptxas keeps each load at its PTX width.
PROBE_PTX = """\
.version 8.0
.target {arch}
.address_size 64

.visible .entry probe(.param .u64 src, .param .u64 dst)
{{
    .reg .b64 %rd<8>;
    .reg .f32 %f<24>;
    .reg .b32 %r<6>;
    .reg .pred %p<2>;
    .shared .align 16 .b8 smem[2048];
    ld.param.u64 %rd1, [src];
    ld.param.u64 %rd2, [dst];
    cvta.to.global.u64 %rd3, %rd1;
    cvta.to.global.u64 %rd4, %rd2;
    mov.u32 %r1, %tid.x;
    mul.wide.u32 %rd5, %r1, 16;
    add.s64 %rd6, %rd3, %rd5;
    add.s64 %rd7, %rd4, %rd5;
    ld.global.v4.f32 {{%f1, %f2, %f3, %f4}}, [%rd6];
    ld.global.L2::128B.f32 %f5, [%rd6+4096];
    mov.u32 %r2, smem;
    mad.lo.u32 %r3, %r1, 16, %r2;
    cp.async.cg.shared.global [%r3], [%rd6+8192], 16;
    cp.async.commit_group;
    cp.async.wait_group 0;
    bar.sync 0;
    ld.shared.v4.f32 {{%f6, %f7, %f8, %f9}}, [%r3];
    setp.lt.u32 %p1, %r1, 7;
    @%p1 bra SKIP;
    add.f32 %f1, %f1, %f6;
    add.f32 %f2, %f2, %f7;
    add.f32 %f3, %f3, %f8;
    add.f32 %f4, %f4, %f9;
SKIP:
    add.f32 %f4, %f4, %f5;
    st.global.v4.f32 [%rd7], {{%f1, %f2, %f3, %f4}};
    ret;
}}
"""


@functools.lru_cache(maxsize=None)
def probe_sass(arch: str) -> str:
    return sass.disassemble(assemble(PROBE_PTX.format(arch=arch), arch))


@pytest.mark.parametrize("arch", ARCHS)
def test_opcodes_are_read_in_order_with_their_modifiers(tools, arch):
    ops = sass.opcodes(probe_sass(arch))
    assert ops[-1] in ("NOP", "BRA"), "the function is padded after its EXIT"
    assert "EXIT" in ops
    memory = [op for op in ops if op.split(".")[0] in ("LDG", "LDGSTS", "LDS", "STG")]
    stores = [op for op in memory if op.startswith("STG")]
    assert len(stores) == 1 and memory[-1] == stores[0], "the store comes last"
    assert any(op.startswith("LDGSTS.") and op.endswith(".128") for op in memory), memory
    assert all(op == op.strip() and " " not in op for op in ops)


@pytest.mark.parametrize("arch", ARCHS)
def test_count_and_histogram_agree(tools, arch):
    text = probe_sass(arch)
    hist = sass.histogram(text)
    assert sum(hist.values()) == len(sass.opcodes(text))
    for prefix in ("LDG", "LDGSTS", "LDS", "STG", "EXIT", "BAR"):
        expected = sum(n for op, n in hist.items() if op == prefix or op.startswith(prefix + "."))
        assert sass.count(text, prefix) == expected, prefix
    # prefixes match whole parts: LDG does not count LDGSTS, LDS does not count LDSM
    assert sass.count(text, "LDG") == sum(n for op, n in hist.items()
                                          if op.split(".")[0] == "LDG")
    assert sass.count(text, "LDGSTS") >= 1
    assert sass.count(text, "LD") == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_access_widths_read_size_modifiers_not_cache_hints(tools, arch):
    text = probe_sass(arch)
    loads = sass.access_widths(text, "LDG")
    assert loads[128] == 1, sass.histogram(text)       # ld.global.v4.f32
    assert loads[32] == 1, sass.histogram(text)        # ld.global.L2::128B.f32
    assert sum(loads.values()) == sass.count(text, "LDG")
    assert sass.access_widths(text, "LDGSTS") == {128: 1}   # cp.async ... 16
    assert sass.access_widths(text, "STG") == {128: 1}
    # sm_90a also pads cp.async with guarded-off 32-bit ``@!PT LDS RZ, [RZ]``
    assert sass.access_widths(text, "LDS")[128] == 1


@pytest.mark.parametrize("opcode, bits", [
    ("LDG.E.128", 128), ("LDG.E.128.CONSTANT", 128), ("LDG.E.LTC128B", 32),
    ("LDG.E.LTC128B.128", 128), ("LDG.E.64", 64), ("LDG.E.U16", 16), ("LDG.E.S8", 8),
    ("STG.E", 32), ("LDS", 32), ("LDGSTS.E.BYPASS.128", 128), ("LDGSTS.E.LTC128B.64", 64),
])
def test_access_bits_of_opcodes_as_ptxas_prints_them(opcode, bits):
    assert sass.access_bits(opcode) == bits


def test_guard_predicates_and_encodings_are_not_part_of_the_opcode():
    text = ("        /*00f0*/              @!PT LDS RZ, [RZ] ;\n"
            "        /*0100*/               @P0 BRA `(.L_x_1) ;\n"
            "        /*0110*/              @!UP1 LDG.E.128 R4, desc[UR4][R2.64] ;"
            "   /* 0x000000040204 */\n"
            ".L_x_1:\n"
            "        /*0120*/                   NOP;\n")
    assert sass.opcodes(text) == ["LDS", "BRA", "LDG.E.128", "NOP"]


# -- errors and finding the tools --------------------------------------------------------

def test_a_missing_disassembler_is_a_compile_error_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(sass, "find_tool", lambda name: None)
    assert sass.find_disassembler() is None
    with pytest.raises(CompileError, match=r"neither nvdisasm nor cuobjdump.*\n.*"
                                           r"pip install nvidia-cuda-nvdisasm"):
        sass.disassemble(b"\x7fELF" + bytes(60))
    with pytest.raises(pytest.skip.Exception, match="pip install nvidia-cuda-nvdisasm"):
        require_disassembler()


def test_bytes_that_are_not_a_cubin_are_refused():
    with pytest.raises(CompileError, match="not a cubin"):
        sass.disassemble(b".version 8.0\n")


def _fake_tool(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_a_failing_tool_is_a_compile_error_with_its_message(tmp_path, monkeypatch):
    exe = _fake_tool(tmp_path, "nvdisasm", "echo 'nvdisasm fatal : unknown arch' >&2\nexit 3\n")
    monkeypatch.setattr(sass, "find_tool", lambda name: exe if name == "nvdisasm" else None)
    with pytest.raises(CompileError, match=r"nvdisasm failed \(exit status 3\): "
                                           r"nvdisasm fatal : unknown arch"):
        sass.disassemble(b"\x7fELF" + bytes(60))


def test_cuobjdump_without_nvdisasm_points_at_the_nvdisasm_wheel(tmp_path, monkeypatch):
    """CUDA 13's cuobjdump -sass needs nvdisasm; its failure says which wheel to add."""
    exe = _fake_tool(tmp_path, "cuobjdump",
                     "echo \"cuobjdump fatal : Could not find executable file 'nvdisasm'\" >&2"
                     "\nexit 1\n")
    monkeypatch.setattr(sass, "find_tool", lambda name: exe if name == "cuobjdump" else None)
    assert sass.find_disassembler() == ("cuobjdump", exe)
    with pytest.raises(CompileError, match=r"cuobjdump failed.*nvdisasm.*\n.*"
                                           r"pip install nvidia-cuda-nvdisasm"):
        sass.disassemble(b"\x7fELF" + bytes(60))


@pytest.mark.parametrize("layout", ["cuda_nvdisasm", "cu13"])
def test_the_wheel_layouts_are_found(tmp_path, monkeypatch, layout):
    """Both layouts of the nvidia-cuda-nvdisasm wheel, through the nvidia namespace package."""
    exe = _fake_tool(tmp_path / "site" / "nvidia" / layout / "bin", "nvdisasm", "exit 0\n")
    # first on sys.path, so first among the namespace package's folders
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")] + sys.path)
    for mod in [m for m in sys.modules if m == "nvidia" or m.startswith("nvidia.")]:
        monkeypatch.delitem(sys.modules, mod)
    assert sass.find_tool("nvdisasm") == exe
    assert sass.find_disassembler() == ("nvdisasm", exe)


def test_path_is_the_last_resort(tmp_path, monkeypatch):
    exe = _fake_tool(tmp_path / "bin", "cuobjdump", "exit 0\n")
    monkeypatch.setattr(sass, "_wheel_binary", lambda name: None)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert sass.find_tool("cuobjdump") == exe
    assert sass.find_tool("nvdisasm") is None
    assert sass.find_disassembler() == ("cuobjdump", exe)
