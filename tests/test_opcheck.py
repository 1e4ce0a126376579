"""The opcheck property: torch.library custom ops checked by torch.library.opcheck on every drawn case."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import gradprops
from gradprops import strategies as gst


def _backward(ctx, g):
    (x,) = ctx.saved_tensors
    return g * x.cos()


def _save(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


@torch.library.custom_op("gradprops_tests::sin", mutates_args=())
def good_sin(x: Tensor) -> Tensor:
    return x.sin()


good_sin.register_fake(lambda x: torch.empty_like(x))
good_sin.register_autograd(_backward, setup_context=_save)


@torch.library.custom_op("gradprops_tests::sin_fake_drops_last_dim", mutates_args=())
def fake_drops_last_dim(x: Tensor) -> Tensor:
    return x.sin()


@fake_drops_last_dim.register_fake
def _(x):
    # Right for vectors only: a matrix's fake result loses its last dim.
    return x.new_empty(x.shape[:1]) if x.dim() >= 2 else torch.empty_like(x)


fake_drops_last_dim.register_autograd(_backward, setup_context=_save)


@torch.library.custom_op("gradprops_tests::sin_writes_input", mutates_args=())
def writes_input(x: Tensor) -> Tensor:
    y = x.sin()
    x.add_(1.0)  # writes into an argument its schema declares read-only
    return y


writes_input.register_fake(lambda x: torch.empty_like(x))
writes_input.register_autograd(_backward, setup_context=_save)


# An op with two overloads, its autograd formula registered for one of them only. Its
# implementation is differentiable torch code, so grads through the other overload come out right by
# accident (autograd records the ops inside): every other property passes; opcheck does not.
_overloads = torch.library.Library("gradprops_tests_overloads", "DEF")
_overloads.define("scale(Tensor x) -> Tensor")
_overloads.define("scale.by(Tensor x, float factor) -> Tensor")
_overloads.impl("scale", lambda x: x * 2.0, "CompositeExplicitAutograd")
_overloads.impl("scale.by", lambda x, factor: x * factor, "CompositeExplicitAutograd")
torch.library.register_autograd("gradprops_tests_overloads::scale", lambda ctx, g: g * 2.0)
torch.library.register_fake("gradprops_tests_overloads::scale", lambda x: torch.empty_like(x))
torch.library.register_fake("gradprops_tests_overloads::scale.by", lambda x, factor: torch.empty_like(x))


def test_an_autograd_formula_registered_for_one_overload_only_is_found() -> None:
    gradprops.check(lambda t: torch.ops.gradprops_tests_overloads.scale(t), gst.inputs("(n)"), seed=0,
                    max_examples=10, properties=["opcheck"])
    with pytest.raises(gradprops.PropertyFailure) as failure:
        gradprops.check(lambda t: torch.ops.gradprops_tests_overloads.scale.by(t, 2.0), gst.inputs("(n)"), seed=0,
                        max_examples=10)
    # opcheck says it; under -W error torch's own warning in backward, turned into an error, says it first
    assert ("test_autograd_registration failed with gradprops_tests_overloads::scale.by" in str(failure.value)
            or "gradprops_tests_overloads::scale: an autograd kernel was not registered" in str(failure.value))


def test_a_correct_custom_op_passes_and_is_checked() -> None:
    report = gradprops.check(lambda x: good_sin(2 * x), gst.inputs("(m,n)"), seed=0, max_examples=15)
    assert report.properties["opcheck"].examples > 0 and not report.properties["opcheck"].skipped
    # torch drops forward mode's tangent at a custom op without a forward-AD rule (no error): a skip
    # with that reason, not "backward and forward mode disagree"
    adjoint = report.properties["forward_reverse_adjoint"]
    assert adjoint.examples == 0 and any("no tangent at all" in why for why in adjoint.skipped), adjoint.skipped


def test_a_fake_kernel_wrong_for_matrices_is_found_and_shrunk() -> None:
    with pytest.raises(gradprops.PropertyFailure) as failure:
        gradprops.check(fake_drops_last_dim, gst.inputs("(m,n)"), seed=0, max_examples=30, properties=["opcheck"])
    message = str(failure.value)
    assert failure.value.property == "opcheck" and "test_faketensor" in message
    assert "gradprops_tests.sin_fake_drops_last_dim.default was called with (tensor of shape" in message
    # the maths is right: only opcheck can see it
    gradprops.check(fake_drops_last_dim, gst.inputs("(m,n)"), seed=0, max_examples=30, properties="-opcheck")


def test_an_op_that_writes_an_input_its_schema_declares_read_only_is_found() -> None:
    with pytest.raises(gradprops.PropertyFailure, match="test_schema"):
        gradprops.assert_opcheck(writes_input, (torch.tensor([0.5, 1.0], dtype=torch.float64, requires_grad=True),))


def test_plain_torch_ops_are_skipped_with_the_reason() -> None:
    report = gradprops.check(torch.sin, gst.inputs("(n)"), seed=0, max_examples=10)
    assert any("no torch.library custom op" in why for why in report.properties["opcheck"].skipped)
    with pytest.warns(gradprops.NotChecked, match="opcheck was not checked: no torch.library custom op"):
        gradprops.assert_opcheck(torch.sin, (torch.ones(2, requires_grad=True),))


def test_vmap_does_not_take_a_custom_ops_generated_function_for_an_old_style_one_of_the_users() -> None:
    # torch.library makes an old-style autograd.Function for the op; torch.func reaches the op itself
    with pytest.warns(gradprops.NotChecked, match="vmap was asked for but ran on no example: no custom torch"):
        gradprops.check(good_sin, gst.inputs("(n)"), seed=0, max_examples=3, properties=["vmap"])
