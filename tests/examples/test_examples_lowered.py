"""Every example through the real GPU lowering: run by the emulator (checked against
numpy and the interpreter) and compiled to PTX that ptxas assembles."""

from __future__ import annotations

import numpy as np
import pytest

from tests.examples.test_examples import check, load_example
from tilelang.codegen.nvidia import ptxas

EMULATED = ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx90a", "emulate:gfx942"]

RUNS = [
    ("vector_add", {"n": 1000}),
    ("softmax", {"M": 9, "N": 200}),
    ("layernorm", {"M": 9, "N": 200}),
    ("row_sum", {"M": 50, "N": 100}),
    ("matmul", {"M": 70, "N": 40, "K": 50}),
    ("flash_attention", {"seq": 80, "head_dim": 64, "BM": 32, "BN": 32}),
    ("flash_attention", {"seq": 80, "head_dim": 64, "BM": 32, "BN": 32, "causal": True}),
    # the default tiles, which take wgmma on sm_90a (lower_wgmma's rule: 16 rows per warp)
    ("matmul", {"M": 150, "N": 140, "K": 70, "BM": 128, "BN": 128}),
    ("flash_attention", {"seq": 80, "head_dim": 64, "BM": 64, "BN": 64, "causal": True}),
    # 16-byte-multiple rows, so sm_90a loads by TMA; rows of 256 bytes (B's 32 x 128
    # tile, head dim 128) arrive as 128-byte column blocks that wgmma reads in place
    ("matmul", {"M": 130, "N": 136, "K": 96, "BM": 128, "BN": 128}),
    ("flash_attention", {"seq": 80, "head_dim": 128, "BM": 64, "BN": 64, "causal": True}),
    # the backward pass at its default blocks (dK/dV on 8 warps), multi-head and GQA
    ("flash_attention_bwd", {"seq": 80, "head_dim": 64, "BM": 32, "BN": 32}),
    ("flash_attention_bwd", {"seq": 80, "head_dim": 64, "heads": 2, "kv_heads": 1,
                             "causal": True}),
    ("flex_attention", {"case": "alibi causal", "seq": 80, "BM": 32, "BN": 32}),
    ("paged_attention", {"seq_lens": (0, 37, 100), "kv_heads": 2}),
    ("dropout", {"n": 3000, "BLOCK": 512}),
    ("quant_matmul", {"wtype": "u3", "M": 70, "N": 72, "K": 128, "group": 64, "BM": 32,
                      "BN": 32, "BK": 32}),
    ("quant_matmul", {"wtype": "f4e2m1", "M": 70, "N": 64, "K": 128, "group": 64, "BM": 32,
                      "BN": 32, "BK": 32}),
]


@pytest.mark.slow
@pytest.mark.parametrize("target", EMULATED)
@pytest.mark.parametrize("name, sizes", RUNS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RUNS)])
def test_example_runs_in_the_emulator(name, sizes, target):
    mod = load_example(name)
    tolerance = mod.TOLERANCE
    if isinstance(tolerance, dict):  # per dtype; these runs use the default, float32
        tolerance = tolerance["float32"]
    check(mod.run(target=target, **sizes), tolerance)


@pytest.mark.parametrize("target", EMULATED)
def test_emulated_vector_add_equals_the_interpreter_exactly(target):
    mod = load_example("vector_add")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 777)).astype(np.float32)
    outs = []
    for t in ("interp", target):
        z = np.zeros_like(x)
        mod.vector_add[(mod.tl.cdiv(777, 256),)](x, y, z, BLOCK=256, target=t)
        outs.append(z)
    np.testing.assert_array_equal(outs[0], outs[1])


# Each example at its default configuration, with the tensor facts (":16": 16-byte
# aligned, unit stride, divisible) that a launch with freshly allocated arrays has.
SIGNATURES = [
    ("vector_add", "vector_add", "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16", {}),
    ("softmax", "softmax", "X=f32[2]:16,Y=f32[2]:16", {}),
    ("layernorm", "layernorm", "X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32", {}),
    ("row_sum", "row_sum", "X=f32[2]:16,OUT=f32[1]:16", {}),
    ("matmul", "matmul", "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", {}),
    ("flash_attention", "flash_attention",
     "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32", {"HEAD_DIM": 64}),
    ("flash_attention", "flash_attention",
     "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32",
     {"HEAD_DIM": 128, "CAUSAL": True}),
] + [("flash_attention_bwd", kernel, sig.replace("=T", "=bf16[4]:16"), constexprs)
     for kernel, sig, constexprs in [
    ("attention_fwd", "Q=T,K=T,V=T,O=T,LSE=f32[3]:16,sm_scale=f32", {"HEAD_DIM": 64, "GROUP": 2}),
    ("attention_bwd_preprocess", "O=T,dO=T,Delta=f32[3]:16", {"HEAD_DIM": 128}),
    ("attention_bwd_dkdv", "Q=T,K=T,V=T,dO=T,LSE=f32[3]:16,Delta=f32[3]:16,dK=T,dV=T,sm_scale=f32",
     {"HEAD_DIM": 128, "CAUSAL": True}),
    ("attention_bwd_dq", "Q=T,K=T,V=T,dO=T,LSE=f32[3]:16,Delta=f32[3]:16,dQ=T,sm_scale=f32",
     {"HEAD_DIM": 128, "GROUP": 2, "CAUSAL": True}),
]] + [
    ("flex_attention", "flex_attention",
     "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,AUX=f32[1]:16,KV_NUM=i32[3]:16,"
     "KV_IDX=i32[4]:16,KV_FULL=i32[4]:16,sm_scale=f32", {"HEAD_DIM": 64}),
    ("paged_attention", "paged_decode",
     "Q=bf16[3]:16,K_CACHE=bf16[4]:16,V_CACHE=bf16[4]:16,BLOCK_TABLE=i32[2]:16,"
     "SEQ_LENS=i32[1]:16,O_PART=f32[4]:16,LSE_PART=f32[3]:16,sm_scale=f32",
     {"HEAD_DIM": 64, "PAGE": 16, "GROUP": 2}),
    ("paged_attention", "paged_decode_combine", "O_PART=f32[4]:16,LSE_PART=f32[3]:16,O=bf16[3]:16",
     {"HEAD_DIM": 128, "SPLITS": 8}),
    ("dropout", "dropout", "X=f32[1]:16,Y=f32[1]:16,p=f32,seed=i32", {}),
    ("quant_matmul", "quant_matmul", "A=bf16[2]:16,W=u4[2]:16,S=bf16[2]:16,Z=bf16[2]:16,"
     "C=bf16[2]:16", {}),
    ("quant_matmul", "quant_matmul", "A=bf16[2]:16,W=f6e3m2[2]:16,S=bf16[2]:16,Z=bf16[2]:16,"
     "C=bf16[2]:16", {}),
]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name, kernel, sig, constexprs", SIGNATURES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SIGNATURES)])
def test_example_ptx_assembles(name, kernel, sig, constexprs, arch):

    mod = load_example(name)
    compiled = getattr(mod, kernel).compile(sig, target=arch, **constexprs)
    assert f".target {arch}" in compiled.ptx
    assert ".loc" in compiled.ptx, "PTX carries line info pointing at the Python source"
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    result = ptxas.assemble(compiled.ptx, arch, verbose=True)
    assert result.cubin
    assert result.spill_bytes == 0, result.log




@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("name, kernel, sig, constexprs", SIGNATURES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SIGNATURES)])
def test_example_ptx_assembles_without_tensor_facts(name, kernel, sig, constexprs, arch):
    """Arrays of unknown alignment get element-wise accesses and no cp.async; the
    code must still assemble (bf16 attention at head dim 128 then spills: the
    staging copies are synchronous, two bytes at a time)."""
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    mod = load_example(name)
    compiled = getattr(mod, kernel).compile(sig.replace(":16", ""), target=arch, **constexprs)
    copies = [line for line in compiled.ptx.splitlines()
              if "cp.async.ca" in line or "cp.async.cg" in line]
    assert not copies and "ld.global.v" not in compiled.ptx
    assert ptxas.assemble(compiled.ptx, arch).cubin
