"""Loop-carried and branch-yielded names come from liveness.

Unit tests of ``tilelang.frontend.liveness`` on small ASTs, the issue's two-loop
kernel on interp and the emulator, the messages for names that have no value
after a loop or branch, and a hypothesis property: random nestings of runtime
``for``/``if`` with assignments and reads of a few names give on ``interp``
exactly what plain Python with numpy gives for the same program text.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.frontend.liveness import live_in, loop_head_live
from tilelang.frontend.kernel_def import ParamSpec
from tilelang.ir import ops
from tilelang.ir.types import TileType


def _stmts(src: str) -> list[ast.stmt]:
    return ast.parse(textwrap.dedent(src)).body


# -- the analysis ---------------------------------------------------------------

def test_read_before_write_is_live():
    assert live_in(_stmts("y = x + 1\nx = 2"), frozenset()) == {"x"}
    assert live_in(_stmts("x = 2\ny = x + 1"), frozenset()) == set()


def test_augmented_assignment_reads_its_target():
    assert live_in(_stmts("x += 1"), frozenset()) == {"x"}


def test_branch_joins_both_paths():
    src = "if c:\n    x = 1\nelse:\n    y = 2\nz = x + y"
    assert live_in(_stmts(src), frozenset()) == {"c", "x", "y"}


def test_loop_head_live_sees_the_next_iteration_and_after():
    loop = _stmts("for i in range(n):\n    t = x\n    x = t + i\n    w = 1")[0]
    assert loop_head_live(loop, frozenset()) == {"x"}
    assert loop_head_live(loop, frozenset({"w"})) == {"x", "w"}
    write_first = _stmts("for i in range(n):\n    x = i\n    y = x")[0]
    assert loop_head_live(write_first, frozenset()) == set()


def test_break_and_continue_jump_to_after_and_head():
    loop = _stmts("for i in range(n):\n    if c:\n        break\n    x = 1\n"
                  "    if d:\n        continue\n    y = x")[0]
    assert loop_head_live(loop, frozenset({"x"})) == {"c", "d", "x"}


# -- the kernel ----------------------------------------------------------

@tl.kernel(num_warps=1)
def two_loops(X, Y, N: tl.constexpr = 32):
    acc = tl.zeros((N,), tl.f32)
    for i in range(4):
        x = tl.load(X, (i * N,), (N,))
        acc += x
    for i in range(4):
        x = tl.load(X, (i * N,), (N,)) * 2.0
        tl.store(Y, (i * N,), x + acc)


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
def test_name_rebound_in_a_later_loop(target):
    x = np.random.default_rng(0).standard_normal(128).astype(np.float32)
    y = np.zeros(128, np.float32)
    two_loops[(1,)](x, y, target=target)
    acc = x.reshape(4, 32).sum(axis=0, dtype=np.float32)
    np.testing.assert_allclose(y, (x.reshape(4, 32) * 2 + acc).ravel(), rtol=1e-6)


def test_only_live_names_are_carried():
    spec = two_loops.make_specialization(
        (ParamSpec("X", tl.f32, 1), ParamSpec("Y", tl.f32, 1)), {})
    fn = two_loops.trace(spec).functions[0]
    loops = [op for op in ops.walk(fn.body) if isinstance(op, ops.ForOp)]
    # the first loop carries acc (read by the next iteration and after it), not x;
    # the second carries nothing
    assert [len(loop.inits) for loop in loops] == [1, 0]
    assert [r.type for r in loops[0].results] == [TileType((32,), tl.f32)]


@tl.kernel
def used_after_loop(X):
    for i in range(4):
        y = tl.load(X, (i * 4,), (4,))
    tl.store(X, (0,), y)


@tl.kernel
def used_after_rebinding_loop(X):
    for i in range(2):
        y = tl.load(X, (i * 4,), (4,))
    for i in range(2):
        y = tl.load(X, (i * 4 + 8,), (4,))
    tl.store(X, (0,), y)


@tl.kernel
def one_branch(X):
    if tl.program_id(0) == 0:
        y = tl.load(X, (0,), (4,))
    tl.store(X, (0,), y)


@pytest.mark.parametrize("kernel, message, line", [
    (used_after_loop, "'y' is defined inside the loop at line", "tl.store(X, (0,), y)"),
    (used_after_rebinding_loop, "'y' is defined inside the loop at line",
     "tl.store(X, (0,), y)"),
    (one_branch, "'y' is only defined in one branch", "tl.store(X, (0,), y)"),
])
def test_no_value_after_the_block_is_a_clear_error(kernel, message, line):
    with pytest.raises(tl.CompileError, match=message) as e:
        kernel[(1,)](np.zeros(16, np.float32), target="interp")
    text = str(e.value) + str(e.value.hint)
    assert "Unavailable" not in text and "object at 0x" not in text
    source = Path(__file__).read_text().splitlines()
    start = source.index(f"def {kernel.name}(X):")
    lineno = next(i for i in range(start, len(source)) if line in source[i]) + 1
    assert f"{__file__}:{lineno}:" in text  # the read that has no value


# -- the property ----------------------------------------------------------------

NAMES = ("a", "b", "c")
N = 8


class _NumpyTL:
    """The few ``tl`` functions the generated programs use, on numpy."""

    f32 = np.float32

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, np.float32)

    @staticmethod
    def load(x, offsets, shape):
        return x[offsets[0]:offsets[0] + shape[0]].copy()

    @staticmethod
    def store(y, offsets, v):
        y[offsets[0]:offsets[0] + v.shape[0]] = v

    @staticmethod
    def program_id(axis):
        return 0


@st.composite
def programs(draw, jumps=False):
    """Source lines of a kernel body: nested runtime loops and branches over NAMES.

    Reads draw only from names bound on every path to them (as tilelang requires:
    a name first bound inside a loop or a single branch has no value after it).
    With ``jumps``, loop bodies also ``break`` and ``continue``, and ``while`` loops
    appear."""
    counter = itertools.count()

    def expr(defined, loops):
        choices = ["load"] + (["unary", "binary"] if defined else [])
        kind = draw(st.sampled_from(choices))
        if kind == "load":
            idx = draw(st.sampled_from([str(draw(st.integers(0, 3)))] +
                                       [f"({v} % 4)" for v in loops]))
            return f"tl.load(X, ({idx} * N,), (N,))"
        a = draw(st.sampled_from(sorted(defined)))
        if kind == "unary":
            return draw(st.sampled_from([f"{a} * 0.5", f"{a} - 1.0", f"{a} + {a}"]))
        b = draw(st.sampled_from(sorted(defined)))
        return draw(st.sampled_from([f"{a} + {b}", f"{a} * {b}", f"{a} - {b}"]))

    def cond(loops):
        options = ["tl.program_id(0) == 0", f"n > {draw(st.integers(0, 3))}"]
        options += [f"({v} + {draw(st.integers(0, 2))}) % 2 == 0" for v in loops]
        return draw(st.sampled_from(options))

    def block(depth, defined, loops, indent, in_loop=False):
        lines: list[str] = []
        defined = set(defined)
        for _ in range(draw(st.integers(1, 4))):
            kinds = ["assign", "assign", "store"] + (["for", "if"] if depth < 3 else [])
            kinds += ["jump"] if in_loop and jumps else []
            kinds += ["while"] if jumps and depth < 3 else []
            kind = draw(st.sampled_from(kinds))
            pad = "    " * indent
            if kind == "jump":  # break / continue, usually under a runtime condition
                word = draw(st.sampled_from(["break", "continue"]))
                if draw(st.integers(0, 4)):
                    lines.append(f"{pad}if {cond(loops)}:")
                    if defined and draw(st.booleans()):
                        name = draw(st.sampled_from(sorted(defined)))
                        lines.append(f"{pad}    tl.store(Y, ({draw(st.integers(0, 7))} * N,), "
                                     f"{name})")
                    lines.append(f"{pad}    {word}")
                else:
                    lines.append(f"{pad}{word}")
                    break  # the rest of this block could never run
            elif kind == "assign":
                name = draw(st.sampled_from(NAMES))
                if name in defined and draw(st.booleans()):
                    lines.append(f"{pad}{name} += {expr(defined, loops)}")
                else:
                    lines.append(f"{pad}{name} = {expr(defined, loops)}")
                defined.add(name)
            elif kind == "store" and defined:
                name = draw(st.sampled_from(sorted(defined)))
                lines.append(f"{pad}tl.store(Y, ({draw(st.integers(0, 7))} * N,), {name})")
            elif kind == "for":
                var = f"i{next(counter)}"
                lo = draw(st.sampled_from(["", "1, "]))
                lines.append(f"{pad}for {var} in range({lo}n):")
                body, _ = block(depth + 1, defined, loops + [var], indent + 1, in_loop=True)
                lines += body  # names first bound in the body do not survive it
            elif kind == "while":  # a counted while: the counter steps before any jump
                var = f"w{next(counter)}"
                lines.append(f"{pad}{var} = 0")
                lines.append(f"{pad}while {var} < n:")
                lines.append(f"{pad}    {var} += 1")
                body, _ = block(depth + 1, defined, loops + [var], indent + 1, in_loop=True)
                lines += body
            elif kind == "if":
                lines.append(f"{pad}if {cond(loops)}:")
                then, then_def = block(depth + 1, defined, loops, indent + 1, in_loop)
                lines += then
                if draw(st.booleans()):
                    lines.append(f"{pad}else:")
                    orelse, else_def = block(depth + 1, defined, loops, indent + 1, in_loop)
                    lines += orelse
                    defined = then_def & else_def
        if not lines:
            lines.append("    " * indent + "pass")
        return lines, defined

    lines, defined = block(0, set(), [], 1)
    for k, name in enumerate(sorted(defined)):  # every surviving name is read at the end
        lines.append(f"    tl.store(Y, ({8 + k} * N,), {name})")
    return lines


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("liveness-programs")


def _load(folder: Path, source: str, name: str):
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_serial = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=programs(), n=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_random_nestings_match_python(folder, body, n, seed):
    text = "\n".join(body)
    name = f"tl_liveness_prog_{next(_serial)}"
    module = _load(folder, "import tilelang as tl\n\n\n@tl.kernel(num_warps=1)\n"
                   "def prog(X, Y, n, N: tl.constexpr = 8):\n" + text + "\n", name)
    ref_ns: dict = {"tl": _NumpyTL}
    exec("def ref(X, Y, n, N=8):\n" + text + "\n", ref_ns)  # the same body as Python
    x = np.random.default_rng(seed).uniform(-2, 2, 4 * N).astype(np.float32)
    want = np.zeros(16 * N, np.float32)
    ref_ns["ref"](x, want, n)
    got = np.zeros(16 * N, np.float32)
    module.prog[(1,)](x, got, n, target="interp")
    np.testing.assert_array_equal(got, want, err_msg=text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=programs(jumps=True), n=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_random_nestings_with_while_break_continue_match_python(folder, body, n, seed):
    text = "\n".join(body)
    name = f"tl_liveness_prog_{next(_serial)}"
    module = _load(folder, "import tilelang as tl\n\n\n@tl.kernel(num_warps=1)\n"
                   "def prog(X, Y, n, N: tl.constexpr = 8):\n" + text + "\n", name)
    ref_ns: dict = {"tl": _NumpyTL}
    exec("def ref(X, Y, n, N=8):\n" + text + "\n", ref_ns)  # the same body as Python
    x = np.random.default_rng(seed).uniform(-2, 2, 4 * N).astype(np.float32)
    want = np.zeros(16 * N, np.float32)
    ref_ns["ref"](x, want, n)
    got = np.zeros(16 * N, np.float32)
    module.prog[(1,)](x, got, n, target="interp")
    np.testing.assert_array_equal(got, want, err_msg=text)
