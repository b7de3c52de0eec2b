"""Every user error names the kernel, the Python file and line, and what to do."""

from __future__ import annotations

import inspect

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tilelang.frontend.kernel_def import ParamSpec

THIS_FILE = __file__


def line_of(fn, needle: str) -> int:
    """The file line number of the first source line of ``fn`` containing ``needle``."""
    lines, first = inspect.getsourcelines(fn.__wrapped__ if hasattr(fn, "__wrapped__") else fn)
    for i, text in enumerate(lines):
        if needle in text:
            return first + i
    raise AssertionError(needle)


def trace(kernel, *params, **constexprs):
    spec = kernel.make_specialization(tuple(params), constexprs)
    return kernel.trace(spec)


def F32(name: str, rank: int = 1) -> ParamSpec:
    return ParamSpec(name, tl.f32, rank)


def assert_located(err: tl.TileLangError, kernel: str, fn, needle: str) -> None:
    text = str(err)
    assert f"kernel '{kernel}'" in text
    assert f"{THIS_FILE}:{line_of(fn, needle)}" in text, text
    assert err.hint, "every user error carries a hint on what to do"
    assert "hint:" in text


# ---------------------------------------------------------------------------
# unsupported Python
# ---------------------------------------------------------------------------

@tl.kernel
def k_while(X):
    i = 0
    while i < 3:
        i += 1
    else:
        i = 0


def test_while_else_is_rejected():
    with pytest.raises(tl.CompileError, match="`while ... else` is not supported") as e:
        trace(k_while, F32("X"))
    assert_located(e.value, "k_while", k_while, "while i < 3")
    assert "after the loop" in e.value.hint


@tl.kernel
def k_try(X):
    try:
        tl.store(X, (0,), tl.zeros((4,), tl.f32))
    except Exception:
        pass


def test_try_is_rejected():
    with pytest.raises(tl.CompileError, match="`try` is not supported") as e:
        trace(k_try, F32("X"))
    assert_located(e.value, "k_try", k_try, "try:")


@tl.kernel
def k_listcomp(X):
    x = tl.load(X, (0,), (4,))
    ys = [y for y in x]


def test_list_comprehension_over_runtime_values():
    with pytest.raises(tl.CompileError, match="compile-time values") as e:
        trace(k_listcomp, F32("X"))
    assert_located(e.value, "k_listcomp", k_listcomp, "ys = [y for y in x]")


@tl.kernel
def k_static_listcomp(X, N: tl.constexpr = 3):
    offs = [i * 4 for i in range(N)]
    for o in offs:
        tl.store(X, (o,), tl.zeros((4,), tl.f32))


def test_list_comprehension_over_constants_is_folded():
    from tilelang.ir import ops
    m = trace(k_static_listcomp, F32("X"))
    stores = [op for op in ops.walk(m.functions[0].body) if isinstance(op, ops.StoreOp)]
    assert len(stores) == 3


def np_helper(x):
    return x


@tl.kernel
def k_foreign_call(X):
    x = tl.load(X, (0,), (4,))
    tl.store(X, (0,), np_helper(x))


def test_call_to_non_tl_function():
    with pytest.raises(tl.CompileError, match="not a tl function") as e:
        trace(k_foreign_call, F32("X"))
    assert_located(e.value, "k_foreign_call", k_foreign_call, "np_helper(x)")
    assert "@tl.func" in e.value.hint


@tl.kernel
def k_builtin_on_runtime(X):
    x = tl.load(X, (0,), (4,))
    tl.store(X, (0,), min(x, 0.0))


def test_builtin_on_runtime_value_suggests_tl_equivalent():
    with pytest.raises(tl.CompileError, match="evaluated at compile time") as e:
        trace(k_builtin_on_runtime, F32("X"))
    assert_located(e.value, "k_builtin_on_runtime", k_builtin_on_runtime, "min(x, 0.0)")
    assert "tl.minimum" in e.value.hint


# ---------------------------------------------------------------------------
# shapes and types
# ---------------------------------------------------------------------------

@tl.kernel
def k_runtime_shape(X):
    n = X.shape[0]
    acc = tl.zeros((n,), tl.f32)


def test_tile_shape_must_be_constant():
    with pytest.raises(tl.CompileError, match="must be a compile-time constant") as e:
        trace(k_runtime_shape, F32("X"))
    assert_located(e.value, "k_runtime_shape", k_runtime_shape, "tl.zeros((n,)")
    assert "constexpr" in e.value.hint


@tl.kernel
def k_dot_inner(A):
    a = tl.load(A, (0, 0), (16, 32))
    b = tl.load(A, (0, 0), (16, 16))
    c = tl.dot(a, b)


def test_dot_inner_dimensions():
    with pytest.raises(tl.CompileError, match=r"inner dimensions differ.*32 != 16") as e:
        trace(k_dot_inner, F32("A", 2))
    assert_located(e.value, "k_dot_inner", k_dot_inner, "tl.dot(a, b)")


@tl.kernel
def k_dot_rank(A):
    a = tl.load(A, (0, 0), (16, 16))
    v = tl.sum(a, 0)
    c = tl.dot(a, v)


def test_dot_ranks():
    with pytest.raises(tl.CompileError, match="tl.dot needs 2-D tiles") as e:
        trace(k_dot_rank, F32("A", 2))
    assert_located(e.value, "k_dot_rank", k_dot_rank, "tl.dot(a, v)")


@tl.kernel
def k_broadcast(X):
    a = tl.load(X, (0,), (64,))
    b = tl.load(X, (0,), (32,))
    c = a + b


def test_incompatible_broadcasting():
    with pytest.raises(tl.CompileError, match=r"\(64,\) and \(32,\) are incompatible") as e:
        trace(k_broadcast, F32("X"))
    assert_located(e.value, "k_broadcast", k_broadcast, "c = a + b")


@tl.kernel
def k_carried_shape(X):
    acc = tl.zeros((16,), tl.f32)
    for i in range(4):
        acc = tl.zeros((16, 16), tl.f32)
    tl.store(X, (0, 0), acc)  # live after the loop, so the loop must carry it


def test_loop_carried_shape_change():
    with pytest.raises(tl.CompileError, match="loop-carried variable 'acc'") as e:
        trace(k_carried_shape, F32("X"))
    assert "tile<16xf32> before the loop but tile<16x16xf32>" in str(e.value)
    assert_located(e.value, "k_carried_shape", k_carried_shape, "for i in range(4)")


@tl.kernel
def k_carried_dtype(X):
    acc = tl.zeros((16,), tl.f32)
    for i in range(4):
        acc = acc.to(tl.bf16)


def test_loop_carried_dtype_change():
    with pytest.raises(tl.CompileError, match="loop-carried variable 'acc'") as e:
        trace(k_carried_dtype, F32("X"))
    assert "tile<16xbf16>" in str(e.value)
    assert ".to(dtype)" in e.value.hint


@tl.kernel
def k_branch_types(X):
    x = tl.zeros((4,), tl.f32)
    if tl.program_id(0) > 0:
        x = tl.zeros((8,), tl.f32)
    tl.store(X, (0,), x)  # live after the `if`, so the `if` must yield it


def test_branches_must_agree():
    with pytest.raises(tl.CompileError, match="'x' is tile<8xf32> in the `if` branch") as e:
        trace(k_branch_types, F32("X"))
    assert_located(e.value, "k_branch_types", k_branch_types, "if tl.program_id(0) > 0")


@tl.kernel
def k_loop_local(X):
    for i in range(4):
        y = tl.zeros((4,), tl.f32)
    tl.store(X, (0,), y)


def test_loop_local_used_after_loop():
    with pytest.raises(tl.CompileError, match="'y' is defined inside the loop") as e:
        trace(k_loop_local, F32("X"))
    assert_located(e.value, "k_loop_local", k_loop_local, "tl.store(X, (0,), y)")


@tl.kernel
def k_return_in_loop(X):
    for i in range(4):
        if i > 2:
            return


def test_return_inside_loop():
    with pytest.raises(tl.CompileError, match="`return` inside a loop") as e:
        trace(k_return_in_loop, F32("X"))
    assert_located(e.value, "k_return_in_loop", k_return_in_loop, "if i > 2")


# ---------------------------------------------------------------------------
# launch errors
# ---------------------------------------------------------------------------

@tl.kernel
def k_copy(X, Y, n, BLOCK: tl.constexpr = 16):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)))


def test_wrong_number_of_launch_arguments():
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.LaunchError, match="bad launch arguments") as e:
        k_copy[(1,)](x, x)
    assert "k_copy" in str(e.value)
    assert "takes (X, Y, n, BLOCK (constexpr))" in e.value.hint
    assert f"{THIS_FILE}:{line_of(k_copy, 'def k_copy')}" in str(e.value)


def test_wrong_type_of_launch_argument():
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.LaunchError, match="argument 'n' is a str") as e:
        k_copy[(1,)](x, x, "16")
    assert "tl.constexpr" in e.value.hint


@tl.kernel
def k_tensor_annotated(X: tl.Tensor):
    tl.store(X, (0,), tl.zeros((4,), tl.f32))


def test_scalar_for_tensor_parameter():
    with pytest.raises(tl.LaunchError, match="argument 'X' must be an array") as e:
        k_tensor_annotated[(1,)](3)
    assert "k_tensor_annotated" in str(e.value)


def test_unsupported_dtype():
    x = np.zeros(16, np.complex64)
    with pytest.raises(tl.LaunchError, match="'X' has unsupported dtype complex64") as e:
        k_copy[(1,)](x, x, 16)
    assert "bf16" in e.value.hint


@tl.kernel
def k_rank2(X):
    M, N = X.shape
    tl.store(X, (0, 0), tl.zeros((4, 4), tl.f32))


def test_wrong_rank():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(tl.CompileError, match="cannot unpack 3 values into 2 names") as e:
        k_rank2[(1,)](x)
    assert_located(e.value, "k_rank2", k_rank2, "M, N = X.shape")


def test_wrong_rank_in_load():
    with pytest.raises(tl.CompileError, match="1-D tensor 'X' needs 1 offsets, got 2") as e:
        trace(k_rank2_load, F32("X", 1))
    assert_located(e.value, "k_rank2_load", k_rank2_load, "tl.load(X, (0, 0)")


@tl.kernel
def k_rank2_load(X):
    t = tl.load(X, (0, 0), (4, 4))


@pytest.mark.parametrize("grid", [[1], 4, (1, 2, 3, 4), (1.5,)])
def test_bad_grid(grid):
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.LaunchError, match="grid must be") as e:
        k_copy[grid](x, x, 16)
    assert "k_copy" in str(e.value)


def test_calling_a_kernel_directly():
    with pytest.raises(tl.LaunchError, match="launched with a grid"):
        k_copy(1, 2, 3)


def test_unknown_target():
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.LaunchError, match="unknown target 'cuda9'") as e:
        k_copy[(1,)](x, x, 16, target="cuda9")
    assert "interp" in e.value.hint


def test_bf16_arrays_are_accepted_by_dtype():
    x = np.zeros(16, ml_dtypes.bfloat16)
    from tilelang.runtime.launcher import bind_arguments
    params, _, _ = bind_arguments(k_copy, (x, x, 16), {})
    assert params[0] == ParamSpec("X", tl.bf16, 1, params[0].facts)  # facts: test_facts.py
    assert params[2] == ParamSpec("n", tl.i32, None)


def test_tl_function_outside_a_kernel():
    with pytest.raises(tl.CompileError, match="can only be used inside a @tl.kernel"):
        tl.program_id(0)
