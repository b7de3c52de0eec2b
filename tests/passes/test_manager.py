"""The pass manager: verification between passes, once per changed module."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from tilelang.errors import IRError
from tilelang.ir.parser import parse_module
from tilelang.ir.values import Block, Module
from tilelang.passes import PASSES, manager

TEXT = """
module {
  func @k(%X: tensor<f32, 1>) {
    %a = tl.constant() {value = 64} : i32
    %pid = tl.program_id() {axis = 0} : i32
    %m = tl.binary(lhs = %pid, rhs = %a) {fn = "mul"} : i32
    %t = tl.load(tensor = %X, offsets = [%m]) : tile<4xf32>
    tl.store(tensor = %X, offsets = [%m], value = %t)
    tl.return()
  }
}"""


def module() -> Module:
    return parse_module(textwrap.dedent(TEXT))


def drop_first_op(m: Module) -> Module:
    """A broken pass: %a's definition goes, its use stays."""
    fn = m.functions[0]
    body = Block(fn.body.args, fn.body.ops[1:])
    return Module((dataclasses.replace(fn, body=body),))


def test_a_pass_that_breaks_the_ir_is_named():
    with pytest.raises(IRError, match="after pass 'broken'.*%a"):
        manager.run_pipeline(module(), [("eliminate-dead-code", PASSES["eliminate-dead-code"]),
                                        ("broken", drop_first_op)])


def test_only_modules_with_new_functions_are_verified(monkeypatch):
    seen = []
    monkeypatch.setattr(manager, "verify_module", lambda m, verified: seen.append(m))
    rebuilt = lambda m: Module(tuple(dataclasses.replace(f) for f in m.functions))  # noqa: E731
    result = manager.run_pipeline(module(), [("keep", lambda m: m), ("rebuild", rebuilt),
                                             ("keep-functions", lambda m: Module(m.functions)),
                                             ("rebuild-again", rebuilt)], keep_stages=True)
    assert [name for name, _ in result.stages] == ["input", "keep", "rebuild",
                                                   "keep-functions", "rebuild-again"]
    # the first pass's output is verified (nothing was before it); "keep-functions"
    # returns a new module of the functions just verified
    assert seen == [result.stages[1][1], result.stages[2][1], result.stages[4][1]]
