"""Double backward with respect to the first-order seed (grad_output): what gradgradcheck checks and
torch.autograd.functional.jvp relies on, and what second_order used to leave out."""

import pytest
import torch

import gradprops
from gradprops import strategies as gst


class MulCosWrongInSeed(torch.autograd.Function):
    """g·cos(x), whose backward is right in x and twice too large in g."""

    @staticmethod
    def forward(ctx, g, x):
        ctx.save_for_backward(g, x)
        return g * x.cos()

    @staticmethod
    def backward(ctx, gg):
        g, x = ctx.saved_tensors
        return 2 * gg * x.cos(), -gg * g * x.sin()


class SinWrongDoubleBackwardInSeed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return MulCosWrongInSeed.apply(g, x)


class SinNaNDoubleBackwardInSeed(torch.autograd.Function):
    """Right first order and right in x; its derivative in grad_output is NaN: 0·√0 has an infinite slope."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() + 0 * (g.abs() - g.abs()).sqrt()


@pytest.mark.parametrize("fn", [SinWrongDoubleBackwardInSeed.apply, SinNaNDoubleBackwardInSeed.apply])
def test_a_double_backward_wrong_only_in_grad_output_is_caught_by_default_check(fn):
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(fn, gst.inputs("(n)"), max_examples=30, seed=0)
    failure = info.value
    assert failure.property == "second_order"
    assert "with respect to the seed (grad_output)" in str(failure)


def test_the_helper_says_which_part_and_by_how_much():
    x = torch.tensor([0.3, -1.1, 2.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="is not J·t1") as info:
        gradprops.assert_second_order(SinWrongDoubleBackwardInSeed.apply, (x,))
    text = str(info.value)
    assert "⟨s, DB_v(t1)⟩" in text and "⟨backward(s), t1⟩" in text


def test_the_seed_part_of_correct_double_backwards_passes():
    for fn in (torch.sin, torch.tanh, lambda t: t.softmax(-1), lambda t: t @ t.mT, lambda t: (t * t).sum()):
        gradprops.check(fn, gst.inputs("(m,n)"), properties=["second_order"], max_examples=30, seed=1)
