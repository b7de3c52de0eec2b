"""Signature strings: dtypes, ranks and the tensor facts suffix (``A=f32[2]:16``)."""

from __future__ import annotations

import pytest

import tilelang as tl
from tilelang.errors import CompileError
from tilelang.frontend.signature import parse_signature
from tilelang.ir.types import TENSOR_FACTS, TensorType


@tl.kernel
def k_copy(X: tl.Tensor, Y: tl.Tensor, n, BLOCK: tl.constexpr = 128):
    tl.store(Y, (0,), tl.load(X, (0,), (BLOCK,)))


def test_no_suffix_means_no_facts_and_16_means_the_alignment_ones():
    x, y, n = parse_signature(k_copy, "X=f32[1]:16, Y=f32[1]:16+wide, n=i32")
    assert x.facts == ("aligned", "unit_stride", "divisible") and n.facts == ()
    assert y.facts == TENSOR_FACTS
    assert (str(x), str(n)) == ("X=f32[1]:16", "n=i32")
    assert str(y) == "Y=f32[1]:aligned+unit_stride+divisible+wide"


def test_a_subset_of_facts_is_joined_with_plus_and_kept_in_canonical_order():
    x, y, _ = parse_signature(k_copy, {"X": "f32[1]:unit_stride+aligned",
                                       "Y": "f32[1]:divisible", "n": "i32"})
    assert x.facts == ("aligned", "unit_stride") and y.facts == ("divisible",)
    assert str(x) == "X=f32[1]:aligned+unit_stride"
    again = parse_signature(k_copy, ",".join(str(p) for p in (x, y, _)))
    assert again == (x, y, _)


def test_facts_reach_the_tensor_types_of_the_traced_kernel():
    compiled = k_copy.compile("X=f32[1]:16,Y=f32[1]:aligned,n=i32")
    x, y = compiled.function.params[:2]
    assert x.type == TensorType(tl.f32, 1, aligned=True, unit_stride=True, divisible=True)
    assert y.type == TensorType(tl.f32, 1, aligned=True)
    assert "%X: tensor<f32, 1, aligned, unit_stride, divisible>" in compiled.ir["input"]


@pytest.mark.parametrize("signature, message", [
    ("X=f32[1]:17,Y=f32[1],n=i32", "bad facts ':17'"),
    ("X=f32[1]:aligned+fast,Y=f32[1],n=i32", "bad facts ':aligned\\+fast'"),
    ("X=f32[1]:aligned+,Y=f32[1],n=i32", "bad facts"),
    ("X=f32[1],Y=f32[1],n=i32:16", "'n' is a scalar"),
])
def test_bad_facts_are_compile_errors(signature, message):
    with pytest.raises(CompileError, match=message):
        parse_signature(k_copy, signature)
