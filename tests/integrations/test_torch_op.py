"""tl.torch_op: a kernel as a torch.library custom op, eager, under torch.compile
(fullgraph, no graph break) and through autograd with a backward kernel, on CPU tensors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")

import tilelang as tl  # noqa: E402
from tests.integrations import tl_torch_kernels as K  # noqa: E402

BLOCK = 256


def _grid(X, *_):
    return (tl.cdiv(X.numel(), BLOCK),)


def _like_first(X, *_):
    return torch.empty_like(X)


ADD = tl.torch_op(K.add, name="tltest::add", outputs={"Z": _like_first}, grid=_grid,
                  constexprs={"BLOCK": BLOCK})
MUL = tl.torch_op(K.mul, name="tltest::mul", outputs={"Z": _like_first}, grid=_grid,
                  constexprs={"BLOCK": BLOCK})
SCALE_BWD = tl.torch_op(K.scale_backward, name="tltest::scale_backward",
                        outputs={"DX": _like_first}, grid=_grid)


def _mul_backward(ctx, dz):
    x, y, _z = ctx.saved_tensors
    return MUL(dz, y), MUL(dz, x)       # the backward runs the tilelang kernel too


MUL_AD = tl.torch_op(K.mul, name="tltest::mul_ad", outputs={"Z": _like_first}, grid=_grid,
                     backward=_mul_backward)


def _axpy_backward(ctx, dz):
    alpha = ctx.args[2]
    return SCALE_BWD(dz, alpha), dz, None


AXPY = tl.torch_op(K.axpy, name="tltest::axpy", outputs={"Z": _like_first}, grid=_grid,
                   backward=_axpy_backward)
AXPY_EMU = tl.torch_op(K.axpy, name="tltest::axpy_emulated", outputs={"Z": _like_first},
                       grid=_grid, cpu_target="emulate:sm_80")


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 1200), seed=st.integers(0, 2**31 - 1))
def test_add_matches_torch(n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, generator=g), torch.randn(n, generator=g)
    z = ADD(x, y)
    assert z.shape == x.shape and z.dtype == x.dtype
    np.testing.assert_array_equal(z.numpy(), (x + y).numpy())


def test_schema_has_inputs_scalars_and_output():
    assert str(AXPY.op._opoverload._schema) == \
        "tltest::axpy(Tensor X, Tensor Y, float alpha) -> Tensor"
    assert AXPY.inputs == ("X", "Y", "alpha")


def test_opcheck_passes():
    x, y = torch.randn(300), torch.randn(300)
    torch.library.opcheck(ADD.op, (x, y))
    torch.library.opcheck(AXPY.op, (x, y, 0.5))


def test_torch_compile_fullgraph_has_no_graph_break():
    def f(a, b):
        return torch.relu(ADD(a, b)) * 3.0

    x, y = torch.randn(1000), torch.randn(1000)
    explanation = torch._dynamo.explain(f)(x, y)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    np.testing.assert_allclose(compiled(x, y).numpy(), f(x, y).numpy(), rtol=0, atol=0)


def test_fake_gives_shape_and_dtype_without_launch():
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.empty(4096, dtype=torch.float16)
        z = ADD(x, x)
    assert z.shape == (4096,) and z.dtype == torch.float16


def test_autograd_through_backward_kernel():
    x = torch.randn(700, dtype=torch.float64, requires_grad=True)
    y = torch.randn(700, dtype=torch.float64, requires_grad=True)
    (MUL_AD(x, y) * torch.arange(700.0, dtype=torch.float64)).sum().backward()
    w = torch.arange(700.0, dtype=torch.float64)
    np.testing.assert_array_equal(x.grad.numpy(), (w * y).detach().numpy())
    np.testing.assert_array_equal(y.grad.numpy(), (w * x).detach().numpy())


def test_gradcheck_with_scalar_argument():
    x = torch.randn(300, dtype=torch.float64, requires_grad=True)
    y = torch.randn(300, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: AXPY(a, b, 0.75), (x, y))


def test_autograd_under_torch_compile():
    def loss(a, b):
        return (AXPY(a, b, 2.5) ** 2).sum()

    x = torch.randn(513, requires_grad=True)
    y = torch.randn(513, requires_grad=True)
    torch.compile(loss, fullgraph=True, backend="aot_eager")(x, y).backward()
    z = (2.5 * x + y).detach()
    np.testing.assert_allclose(x.grad.numpy(), (2 * z * 2.5).numpy(), rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), (2 * z).numpy(), rtol=1e-6)


def test_cpu_tensors_on_the_emulator():
    x, y = torch.randn(600), torch.randn(600)
    np.testing.assert_array_equal(AXPY_EMU(x, y, -1.5).numpy(), AXPY(x, y, -1.5).numpy())


def test_output_that_is_not_a_parameter_is_a_compile_error():
    with pytest.raises(tl.CompileError, match="'W'.*not tensor parameters") as info:
        tl.torch_op(K.add, name="tltest::bad", outputs={"W": _like_first}, grid=_grid)
    assert "add" in str(info.value) and "tl_torch_kernels.py" in str(info.value)


def test_unannotated_scalar_is_a_compile_error():
    with pytest.raises(tl.CompileError, match="'s' needs a float, int or bool annotation"):
        tl.torch_op(K.untyped_scalar, name="tltest::untyped", outputs={"Z": _like_first},
                    grid=_grid)


def test_allocator_must_return_a_tensor():
    op = tl.torch_op(K.add, name="tltest::bad_alloc", outputs={"Z": lambda X, Y: 3}, grid=_grid)
    with pytest.raises(tl.LaunchError, match="returned int, not a torch.Tensor"):
        op(torch.randn(4), torch.randn(4))


def test_import_tilelang_does_not_import_torch():
    code = "import sys, tilelang; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
