"""The PTX parser on the code generator's real output and on the grammar's corners."""

from __future__ import annotations

import pytest

from tests.examples.test_examples import load_example
from tests.examples.test_examples_lowered import SIGNATURES
from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.executor import Program
from tilelang.emulator.ptx.parser import (
    Addr,
    Imm,
    Reg,
    Special,
    TensorAddr,
    Vec,
    parse_ptx,
)

ASM = """
.version 8.0
.target sm_90a
.address_size 64
.extern .shared .align 1024 .b8 tl_shared[];
.visible .entry k(
	.param .u64 .ptr .global .align 1 k_param_0,
	.param .u32 k_param_1,
	.param .align 64 .b8 k_param_2[128]
)
.maxntid 128
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<4>;
	.reg .b64 	%rd<3>;
	ld.param.b64 	%rd1, [k_param_0];   // a comment
	mov.b32 	%r1, 0f3F800000;
	{
.reg .pred p;
setp.ne.b32 p, %r1, 0;
@p mbarrier.arrive.expect_tx.shared::cta.b64 _, [%r2], 16384;
@!p cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%r2], [%rd2, {%r1, %r3}], [%r2];
}
	{
.reg .pred p;
setp.eq.b32 p, %r1, 0x7773U;
}
	ld.shared.v4.b16 	{%rs1, %rs2, %rs3, %rs4}, [%rd1+-8];
	mov.u32 %r3, %tid.x;
$L__BB0_1:
	ret;
}
"""


def test_parameters_are_laid_out_at_their_natural_alignment():
    e = parse_ptx(ASM.replace("%rs1, %rs2, %rs3, %rs4", "%r0, %r1, %r2, %r3")).entries["k"]
    assert [(p.name, p.size, p.align, p.offset) for p in e.params] == [
        ("k_param_0", 8, 8, 0), ("k_param_1", 4, 4, 8), ("k_param_2", 128, 64, 64)]
    assert e.param_bytes == 192 and e.max_threads == 128


def test_operands_are_decoded_once():
    m = parse_ptx(ASM.replace("%rs1, %rs2, %rs3, %rs4", "%r0, %r1, %r2, %r3"))
    e = m.entries["k"]
    ins = {i.opcode: i for i in e.instrs}
    assert ins["mov.b32"].operands[1] == Imm(0x3F800000, True, 32)
    tma = ins["cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"]
    assert isinstance(tma.operands[1], TensorAddr) and len(tma.operands[1].coords) == 2
    assert tma.guard[1] is True                          # @!p
    ld = ins["ld.shared.v4.b16"]
    assert isinstance(ld.operands[0], Vec) and ld.operands[1] == Addr(Reg("64", 1, "%rd1"), -8)
    assert ins["mov.u32"].operands[1] == Special("%tid.x")
    assert e.labels["$L__BB0_1"] == len(e.instrs) - 1
    assert m.shared[0].name == "tl_shared" and m.shared[0].align == 1024


def test_scoped_registers_of_inline_asm_blocks_are_distinct():
    e = parse_ptx(ASM.replace("%rs1, %rs2, %rs3, %rs4", "%r0, %r1, %r2, %r3")).entries["k"]
    setps = [i for i in e.instrs if i.opcode.startswith("setp")]
    a, b = setps[0].operands[0], setps[1].operands[0]
    assert a.kind == b.kind == "pred" and a.index != b.index
    assert a.index >= 2 and b.index >= 2                  # after %p0, %p1


def test_an_undeclared_register_is_an_error_naming_it():
    with pytest.raises(PtxError, match="%rs1"):
        parse_ptx(ASM)


def test_an_unknown_instruction_is_an_error_naming_it():
    text = ASM.replace("%rs1, %rs2, %rs3, %rs4", "%r0, %r1, %r2, %r3").replace(
        "ret;", "brev.b32 %r1, %r2;\n\tret;")
    m = parse_ptx(text)
    with pytest.raises(PtxError, match=r"'brev\.b32' is not supported.*brev\.b32 %r1, %r2"):
        Program(m, m.entries["k"], 128)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name, kernel, sig, constexprs", SIGNATURES,
                         ids=[f"{s[0]}-{s[1]}-{i}" for i, s in enumerate(SIGNATURES)])
def test_every_instruction_of_the_examples_compiles(name, kernel, sig, constexprs, arch):
    """The PTX of every example kernel at its default configuration (the signatures
    ptxas assembles) has a closure for each of its instructions."""
    compiled = getattr(load_example(name), kernel).compile(sig, target=arch, **constexprs)
    m = parse_ptx(compiled.ptx)
    (entry,) = m.entries.values()
    Program(m, entry, entry.max_threads)
