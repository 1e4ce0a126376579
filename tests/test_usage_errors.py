"""Every mistake a caller can make gets a UsageError that says what to do instead."""

import math

import pytest
import torch

import gradprops

x64 = lambda *s: torch.randn(s, dtype=torch.float64).requires_grad_()  # noqa: E731


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, (x64(2), 3.0)),
         "input 1 is a float, not a tensor"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, [1.0, 2.0]),
         "input 0 is a float, not a tensor"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, {"x": x64(2)}),
         "inputs must be a tensor or a tuple of tensors"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, (torch.randn(3),)),
         "Mark the ones to differentiate with x.requires_grad_()"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.neg, (torch.arange(3),)),
         "integer or bool dtypes (torch.int64)"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, ()),
         "no inputs were given"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.mul, (x64(2), torch.eye(2).to_sparse())),
         "input 1 is a torch.sparse_coo tensor: gradprops checks dense (strided) tensors only"),
        (lambda: gradprops.assert_ones_seed_matches_sum(lambda t: t.detach() * 2, (x64(3),)),
         "does not require grad"),
        (lambda: gradprops.assert_ones_seed_matches_sum(lambda t: t.sum().item(), (x64(3),)),
         "returned a float"),
        (lambda: gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(3),), torch.randn(4, dtype=torch.float64)),
         "seed v for output 0 has shape (4,) but the output has shape (3,)"),
        (lambda: gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(3),), torch.randn(3)),
         "has dtype torch.float32 but the output is torch.float64"),
        (lambda: gradprops.assert_vjp_matches_jacobian(
            lambda t: (t.sin(), t.cos()), (x64(3),), torch.randn(3, dtype=torch.float64)),
         "seed v has 1 tensor(s) but the function has 2 differentiable output(s)"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), seeds=(torch.ones(3, dtype=torch.float64),)),
         "seeds must be a pair (u, v)"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(1.0, math.nan)),
         "coefficient b must be a finite real number, got nan"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(math.inf, 1.0)),
         "coefficient a must be a finite real number, got inf"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=("2", 1.0)),
         "coefficient a must be a finite real number"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(1.0,)),
         "coefficients must be a pair"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), rtol=-1.0),
         "rtol must be a non-negative number"),
        (lambda: gradprops.assert_ones_seed_matches_sum("torch.sin", (x64(3),)),
         "must be callable"),
        (lambda: gradprops.assert_vjp_matches_jacobian(
            torch.sin, (torch.randn(2, dtype=torch.complex128).requires_grad_(),),
            torch.randn(2, dtype=torch.complex128)),
         "does not support complex"),
    ],
)
def test_usage_error_says_what_to_do(call, says):
    with pytest.raises(gradprops.UsageError) as info:
        call()
    assert says in str(info.value)
    assert not isinstance(info.value, AssertionError)  # never mistaken for a finding


def test_integer_inputs_pass_through_next_to_a_differentiated_one():
    index = torch.tensor([2, 0])
    gradprops.assert_ones_seed_matches_sum(lambda t, i: t[i] * 2, (x64(3), index))


def test_outputs_without_grad_are_ignored():
    gradprops.assert_seed_linearity(
        lambda t: (t.sin(), t.argmax()), (x64(3),),
        seeds=(torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)),
    )
