"""The GPU tier for the torch integration: ``tl.torch_op`` on CUDA tensors launches on
torch's current stream of the tensors' device, eagerly, under ``torch.compile`` and
through autograd. Skipped without torch's CUDA build and a device (CI has neither;
``tests/integrations/test_torch_op.py`` covers the rest on CPU tensors)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import tilelang as tl  # noqa: E402
from tests.integrations import tl_torch_kernels as K  # noqa: E402

pytestmark = pytest.mark.gpu
BLOCK = 256


def _grid(X, *_):
    return (tl.cdiv(X.numel(), BLOCK),)


def _like_first(X, *_):
    return torch.empty_like(X)


def _axpy_backward(ctx, dz):
    return SCALE_BWD(dz, ctx.args[2]), dz, None


SCALE_BWD = tl.torch_op(K.scale_backward, name="tlgpu::scale_backward",
                        outputs={"DX": _like_first}, grid=_grid)
AXPY = tl.torch_op(K.axpy, name="tlgpu::axpy", outputs={"Z": _like_first}, grid=_grid,
                   backward=_axpy_backward)


@pytest.fixture(scope="module")
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    return torch.device("cuda")


def test_eager_on_a_side_stream_orders_with_torch_work(cuda):
    x = torch.randn(5000, device=cuda)
    y = torch.randn(5000, device=cuda)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        y2 = y * 3                       # queued on the side stream before the kernel
        z = AXPY(x, y2, 0.5)             # the kernel must run after it, on `side`
        w = z + 1
    side.synchronize()
    torch.testing.assert_close(w, 0.5 * x + 3 * y + 1)


def test_under_torch_compile_without_graph_breaks(cuda):
    x = torch.randn(3000, device=cuda)
    y = torch.randn(3000, device=cuda)

    @torch.compile(fullgraph=True)
    def f(a, b):
        return AXPY(a.sin(), b, 2.0) * 2

    torch.testing.assert_close(f(x, y), (2.0 * x.sin() + y) * 2)


def test_autograd_runs_the_backward_kernel(cuda):
    x = torch.randn(1000, device=cuda, requires_grad=True)
    y = torch.randn(1000, device=cuda, requires_grad=True)
    AXPY(x, y, 1.5).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 1.5))
    torch.testing.assert_close(y.grad, torch.ones_like(y))
