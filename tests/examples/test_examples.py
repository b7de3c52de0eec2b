"""The examples run under the interpreter within their documented tolerances, and the
tile IR of each example kernel survives the text format (``parse(print(m)) == m``).

Sizes are small so that the whole file stays fast on a 2-core machine; each
example is run at a ragged size and a tile-multiple size.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (examples are scripts, not a package)."""
    mod_name = f"tilelang_example_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def check(result: tuple[float, bool], tolerance: float) -> None:
    err, ok = result
    assert ok, f"max relative error {err:.3e} exceeds {tolerance:.0e}"
    assert err <= tolerance


# ---------------------------------------------------------------------------
# numerics under the interpreter
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [10_000, 4096])
def test_vector_add(n):
    ex = load_example("vector_add")
    check(ex.run("interp", n=n), ex.TOLERANCE)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("M,N", [(37, 300), (64, 256)])
def test_softmax(M, N, dtype):
    ex = load_example("softmax")
    check(ex.run("interp", M=M, N=N, dtype=dtype), ex.TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("M,N", [(37, 300), (64, 256)])
def test_layernorm(M, N, dtype):
    ex = load_example("layernorm")
    check(ex.run("interp", M=M, N=N, dtype=dtype), ex.TOLERANCE[dtype])


def test_layernorm_eps_is_a_runtime_argument():
    from tilelang.ir.types import ScalarType
    ex = load_example("layernorm")
    for eps in (1e-5, 0.5):
        check(ex.run("interp", M=8, N=48, eps=eps), ex.TOLERANCE["float32"])
    fn = ex.layernorm.compile("X=f32[2],W=f32[1],B=f32[1],Y=f32[2],eps=f32", BN=64).function
    eps = next(p for p in fn.params if p.name == "eps")
    assert isinstance(eps.type, ScalarType), "eps must be a runtime scalar, not a constexpr"


@pytest.mark.parametrize("M,N", [(100, 300), (64, 128)])
def test_row_sum(M, N):
    ex = load_example("row_sum")
    check(ex.run("interp", M=M, N=N), ex.TOLERANCE)


@pytest.mark.parametrize("M,N,K", [(130, 70, 100), (128, 128, 64)])
def test_matmul(M, N, K):
    ex = load_example("matmul")
    check(ex.run("interp", M=M, N=N, K=K), ex.TOLERANCE)


def run_script(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120,
                          cwd=EXAMPLES.parent)


def test_matmul_script_prints_sizes_target_and_ok():
    proc = run_script(str(EXAMPLES / "matmul.py"), "--M", "70", "--N", "40", "--K", "50",
                      "--target", "interp")
    assert proc.returncode == 0, proc.stderr
    assert "M=70 N=40 K=50" in proc.stdout
    assert "'interp'" in proc.stdout and "OK" in proc.stdout


@pytest.mark.parametrize("name", ["vector_add", "softmax", "layernorm", "row_sum", "matmul",
                                  "flash_attention", "flash_attention_bwd", "dropout"])
def test_script_exits_zero_and_prints_ok(name):
    proc = run_script(str(EXAMPLES / f"{name}.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout and "FAILED" not in proc.stdout


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("seq", [100, 128])
def test_flash_attention(seq, head_dim, causal):
    ex = load_example("flash_attention")
    check(ex.run("interp", batch=2, heads=2, seq=seq, head_dim=head_dim, causal=causal),
          ex.TOLERANCE)


def test_flash_attention_small_tiles_many_kv_blocks():
    # BM != BN and several key blocks per query block, with a ragged last block.
    ex = load_example("flash_attention")
    for causal in (False, True):
        check(ex.run("interp", seq=75, head_dim=64, causal=causal, BM=32, BN=16), ex.TOLERANCE)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("head_dim, heads, kv_heads", [(64, 2, 2), (64, 4, 2), (128, 2, 1)])
@pytest.mark.parametrize("seq", [100, 128])
def test_flash_attention_backward(seq, head_dim, heads, kv_heads, causal):
    ex = load_example("flash_attention_bwd")
    check(ex.run("interp", batch=2, heads=heads, kv_heads=kv_heads, seq=seq,
                 head_dim=head_dim, causal=causal), ex.TOLERANCE)


@pytest.mark.parametrize("n, p, BLOCK", [(10_000, 0.3, 1024), (777, 0.9, 256), (64, 0.0, 64)])
def test_dropout(n, p, BLOCK):
    ex = load_example("dropout")
    check(ex.run("interp", n=n, p=p, BLOCK=BLOCK), ex.TOLERANCE)


def test_dropout_mask_does_not_depend_on_the_block_size():
    ex = load_example("dropout")
    x = np.arange(4096, dtype=np.float32) + 1
    outs = []
    for block in (128, 1024):
        y = np.zeros_like(x)
        ex.dropout[(4096 // block,)](x, y, 0.5, 42, BLOCK=block)
        outs.append(y)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_flash_attention_backward_blocks_of_every_shape():
    # BM != BN in each kernel, several blocks per program, a ragged last block
    ex = load_example("flash_attention_bwd")
    for causal in (False, True):
        check(ex.run("interp", seq=75, head_dim=64, causal=causal, BM=32, BN=16,
                     dkdv_blocks=(16, 32), dq_blocks=(32, 16)), ex.TOLERANCE)


def test_flash_attention_backward_reference_is_the_gradient():
    # the float64 reference against central differences of sum(O * dO)
    ex = load_example("flash_attention_bwd")
    rng = np.random.default_rng(3)
    q, k, v, do = (rng.standard_normal(s) for s in ((1, 2, 5, 4), (1, 1, 5, 4),
                                                    (1, 1, 5, 4), (1, 2, 5, 4)))
    for causal in (False, True):
        _, dq, dk, dv = ex.reference(q, k, v, do, 0.5, causal)
        for x, grad in ((q, dq), (k, dk), (v, dv)):
            idx = (0, 0, 3, 1)
            loss = []
            for step in (1e-6, -1e-6):
                x[idx] += step
                loss.append(float((ex.reference(q, k, v, do, 0.5, causal)[0] * do).sum()))
                x[idx] -= step
            assert abs((loss[0] - loss[1]) / 2e-6 - grad[idx]) < 1e-6


# ---------------------------------------------------------------------------
# the traced tile IR round-trips through the text format
# ---------------------------------------------------------------------------

KERNELS = [
    ("vector_add", "vector_add", "X=f32[1],Y=f32[1],Z=f32[1]", {}),
    ("softmax", "softmax", "X=bf16[2],Y=bf16[2]", {"BN": 256}),
    ("layernorm", "layernorm", "X=f32[2],W=f32[1],B=f32[1],Y=f32[2],eps=f32", {"BN": 256}),
    ("row_sum", "row_sum", "X=f32[2],OUT=f32[1]", {}),
    ("matmul", "matmul", "A=bf16[2],B=bf16[2],C=bf16[2]", {"BM": 64, "BN": 64}),
    ("flash_attention", "flash_attention",
     "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", {"HEAD_DIM": 64}),
    ("flash_attention", "flash_attention",
     "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", {"HEAD_DIM": 128, "CAUSAL": True}),
    ("flash_attention_bwd", "attention_bwd_dkdv",
     "Q=bf16[4],K=bf16[4],V=bf16[4],dO=bf16[4],LSE=f32[3],Delta=f32[3],dK=bf16[4],dV=bf16[4],"
     "sm_scale=f32", {"HEAD_DIM": 64, "GROUP": 2, "CAUSAL": True}),
    ("flex_attention", "flex_attention",
     "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],AUX=f32[1],KV_NUM=i32[3],KV_IDX=i32[4],"
     "KV_FULL=i32[4],sm_scale=f32", {"HEAD_DIM": 64}),
    ("paged_attention", "paged_decode",
     "Q=bf16[3],K_CACHE=bf16[4],V_CACHE=bf16[4],BLOCK_TABLE=i32[2],SEQ_LENS=i32[1],"
     "O_PART=f32[4],LSE_PART=f32[3],sm_scale=f32", {"HEAD_DIM": 64, "PAGE": 16, "GROUP": 2}),
]


@pytest.mark.parametrize("example,kernel,signature,constexprs", KERNELS,
                         ids=[f"{k[0]}-{i}" for i, k in enumerate(KERNELS)])
def test_ir_round_trips_through_text(example, kernel, signature, constexprs):
    from tilelang.ir.parser import parse_module
    from tilelang.ir.printer import print_module
    k = getattr(load_example(example), kernel)
    compiled = k.compile(signature, target="interp", **constexprs)
    assert compiled.stages and compiled.stages[0][0] == "input"
    for stage, module in compiled.stages:
        text = print_module(module)
        assert parse_module(text) == module, f"{kernel}: stage '{stage}' does not round-trip"
        assert print_module(parse_module(text)) == text
