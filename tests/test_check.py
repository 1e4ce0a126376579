"""gradprops.check: runs every property per example, shrinks failures, replays, reports."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from torch.autograd import Function

import gradprops
from gradprops import strategies as gst
from tests.functions import IgnoresSeed, Sin


def ignores_seed_when(condition):
    """A Sin whose backward assumes a ones seed exactly when ``condition(x)`` holds."""

    class Broken(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            ctx.broken = bool(condition(x))
            return x.sin()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return x.cos() if ctx.broken else grad * x.cos()

    return Broken


def test_passes_on_a_correct_function_and_reports_every_property():
    report = gradprops.check(Sin.apply, gst.inputs("()"), max_examples=20, seed=1)
    assert report.examples >= 20  # Hypothesis may add its own (e.g. the minimal) example
    for name in ("seed_linearity", "ones_seed_matches_sum", "vjp_matches_jacobian"):
        assert report.properties[name].examples == report.examples, str(report)
    text = str(report)
    assert "seed_linearity" in text and "passed" in text and "seed 1" in text


def test_failure_names_the_property_shows_the_shrunk_case_and_how_to_replay():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(IgnoresSeed.apply, gst.inputs("()"), max_examples=50, seed=3)
    failure = info.value
    text = str(failure)
    assert failure.property == "seed_linearity"
    assert "gradprops.check(fn, inputs, seed=3, properties=['seed_linearity'], max_examples=50)" in text
    assert "gradprops.assert_seed_linearity(fn, inputs, seeds=(u, v)" in text
    assert "Case:" in text and "input 0: shape" in text


def test_replaying_with_the_printed_seed_gives_the_same_failure():
    runs = []
    for _ in range(2):
        with pytest.raises(gradprops.PropertyFailure) as info:
            gradprops.check(IgnoresSeed.apply, gst.inputs("()"), max_examples=50, seed=11)
        runs.append(str(info.value))
    assert runs[0] == runs[1]


def _shapes_seen(seed: int) -> list[tuple]:
    seen: list[tuple] = []

    def spy(x):
        seen.append((tuple(x.shape), x.stride()))
        return x.sin()

    gradprops.check(spy, gst.inputs("()"), max_examples=15, seed=seed, properties=["ones_seed_matches_sum"],
                    settings=hsettings(database=None))
    return seen


def test_same_seed_same_cases_different_seed_different_cases():
    assert _shapes_seen(5) == _shapes_seen(5)
    assert _shapes_seen(5) != _shapes_seen(6)


def test_shrinks_a_bug_on_0d_inputs_to_shape_empty_tuple():
    Broken = ignores_seed_when(lambda x: x.dim() == 0)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(Broken.apply, gst.inputs("()"), seed=0)
    (_, x), = info.value.case.variables
    assert tuple(x.shape) == ()


def test_shrinks_a_bug_on_non_contiguous_inputs_to_two_elements_or_fewer():
    Broken = ignores_seed_when(lambda x: not x.is_contiguous())
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(Broken.apply, gst.inputs("()"), seed=0)
    (_, x), = info.value.case.variables
    assert not x.is_contiguous() and x.numel() <= 2, str(info.value)


def test_finds_a_bug_only_on_inputs_over_64_elements_within_the_default_budget():
    """Default budget: the profile's max_examples (100 unless a profile says otherwise)."""
    Broken = ignores_seed_when(lambda x: x.numel() > 64)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(Broken.apply, gst.inputs("()"), seed=0, settings=hsettings(max_examples=100))
    (_, x), = info.value.case.variables
    # Shrunk to the boundary: 65 through a large example (one dim grown), or 72 = 3·4·6, the smallest
    # size above 64 that an ordinary shape (sides up to 6, 3 dims) can have.
    assert 64 < x.numel() <= 72, str(info.value)


def test_an_error_raised_only_for_some_shapes_is_a_shrunk_finding():
    def fails_on_matrices(x):
        if x.dim() == 2:
            raise RuntimeError("2-d not handled")
        return x * 2

    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(fails_on_matrices, gst.inputs("()"), seed=0)
    assert "raised during forward: RuntimeError: 2-d not handled" in str(info.value)
    (_, x), = info.value.case.variables
    assert x.dim() == 2 and x.numel() <= 1
    assert isinstance(info.value.__cause__, RuntimeError)


def test_concrete_inputs_are_accepted_and_only_seeds_vary():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    report = gradprops.check(Sin.apply, (x,), max_examples=5, seed=0)
    assert report.examples >= 5 and report.ran("seed_linearity") == report.examples


def test_selecting_properties():
    report = gradprops.check(Sin.apply, gst.inputs("()"), max_examples=3, seed=0,
                             properties=["ones_seed_matches_sum"])
    assert list(report.properties) == ["ones_seed_matches_sum"]


def test_all_but_some_properties():
    report = gradprops.check(Sin.apply, gst.inputs("()"), max_examples=3, seed=0,
                             properties="-second_order,-forward_reverse_adjoint")
    assert "second_order" not in report.properties and "forward_reverse_adjoint" not in report.properties
    assert "seed_linearity" in report.properties and "low_precision" in report.properties


@pytest.mark.parametrize(("properties", "says"), [(["-second_order", "purity"], "mixes names with '-name'"),
                                                  (["-nope"], "unknown properties ['nope']")])
def test_exclusions_that_cannot_mean_anything_are_usage_errors(properties, says):
    with pytest.raises(gradprops.UsageError, match=re.escape(says)):
        gradprops.check(Sin.apply, gst.inputs("()"), max_examples=3, seed=0, properties=properties)


def test_complex_outputs_skip_the_jacobian_with_the_reason():
    report = gradprops.check(torch.sin, gst.inputs("()", dtype=torch.complex128), max_examples=5, seed=0)
    jac = report.properties["vjp_matches_jacobian"]
    assert jac.examples == 0 and jac.status == "skipped"
    assert any("complex" in reason for reason in jac.skipped)
    assert report.properties["seed_linearity"].examples == report.examples


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"properties": ["no_such_property"]}, "unknown properties ['no_such_property']"),
        ({"properties": []}, "properties is empty"),
        ({"max_examples": 0}, "max_examples must be a positive integer"),
    ],
)
def test_usage_errors(kwargs, says):
    with pytest.raises(gradprops.UsageError, match=r".*".join(map(__import__("re").escape, [says]))):
        gradprops.check(Sin.apply, gst.inputs("()"), **kwargs)


def test_inputs_must_be_a_strategy_or_tensors():
    with pytest.raises(gradprops.UsageError, match="inputs must be a Hypothesis strategy"):
        gradprops.check(Sin.apply, "()")


class CountedSin(Function):
    """sin, counting its forward and backward calls (class state is fine: purity is not selected)."""

    forwards = 0
    backwards = 0

    @staticmethod
    def forward(ctx, x):
        CountedSin.forwards += 1
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        CountedSin.backwards += 1
        (x,) = ctx.saved_tensors
        return grad * x.cos()


def test_properties_share_one_forward_and_the_vjp_of_the_shared_seed():
    CountedSin.forwards = CountedSin.backwards = 0
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    report = gradprops.check(CountedSin.apply, (x,), properties=["finite_grads", "finite_differences"],
                             max_examples=4, seed=0)
    n = report.examples
    # One backward per example for both properties: VJP(shared seed) is taken once.
    assert CountedSin.backwards == n, (CountedSin.backwards, n)
    # The shared forward, then finite differences at x ± h·d (f(x) is the shared forward's).
    assert CountedSin.forwards == 3 * n, (CountedSin.forwards, n)


def test_check_samples_a_few_jacobian_rows_per_example_and_says_so():
    from gradprops.properties.registry import JACOBIAN_ROWS_PER_EXAMPLE

    x = torch.randn(40, dtype=torch.float64, requires_grad=True)
    report = gradprops.check(torch.sin, (x,), properties=["vjp_matches_jacobian"], max_examples=3, seed=0)
    notes = report.properties["vjp_matches_jacobian"].notes
    assert notes == {f"explicit Jacobian capped: {JACOBIAN_ROWS_PER_EXAMPLE} of 40 rows, sampled at random": 3}, notes


def test_sampled_jacobian_rows_still_catch_a_backward_that_ignores_seed_strides():
    class ReadsSeedInMemoryOrder(Function):
        """Backward reads its seed as if contiguous: wrong whenever the seed is strided."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            flat = torch.as_strided(grad, (grad.numel(),), (1,))  # memory order, ignoring strides
            return flat.reshape(grad.shape) * 2

    x = torch.randn(6, 6, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(ReadsSeedInMemoryOrder.apply, (x,), properties=["vjp_matches_jacobian"],
                        max_examples=100, seed=0)
    assert info.value.property == "vjp_matches_jacobian"


def test_sampled_jacobian_rows_that_miss_some_outputs_are_not_an_error():
    # 10 outputs of 2 elements, 8 sampled rows: some outputs get no row (jacobian() fails on those).
    x = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)
    report = gradprops.check(torch.unbind, (x,), properties=["vjp_matches_jacobian"], max_examples=5, seed=0)
    assert report.ran("vjp_matches_jacobian") == report.examples


def test_a_forward_that_alternates_between_calls_is_purity_finding():
    # passes linearity and the chain rule, and finite differences call it not smooth: purity must say it
    calls = {"n": 0}

    def alternating(x):
        calls["n"] += 1
        return x * (2.0 if calls["n"] % 2 else 3.0)

    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="not deterministic: a second forward on the same") as info:
        gradprops.assert_purity(alternating, (x,))
    assert "second forward" in str(info.value)


class _WrongAtOneValue(Sin):
    """sin whose backward is wrong only where x is exactly 0.123456789: a regression random draws never hit."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x == 0.123456789, x.cos() * 2, x.cos())


def test_pinned_examples_are_checked_first_and_replay_on_their_own():

    fn = _WrongAtOneValue.apply
    report = gradprops.check(fn, gst.inputs("(n)"), seed=0, max_examples=20)  # random draws miss it
    assert report.examples == 20
    pinned = (torch.tensor([0.123456789, 1.0], dtype=torch.float64, requires_grad=True),)
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(fn, gst.inputs("(n)"), seed=0, max_examples=20, examples=[pinned])
    text = str(caught.value)
    assert "gradprops.check(fn, examples[0], seed=0" in text and "max_examples=10" in text
    with pytest.raises(gradprops.PropertyFailure):  # that replay, with examples[0] written in
        gradprops.check(fn, pinned, seed=0, max_examples=10, properties=[caught.value.property])
    both = gradprops.check(torch.sin, gst.inputs("(n)"), seed=0, max_examples=20, examples=[pinned, pinned[0]])
    assert both.examples == 20 + 2 * 10


def test_pinned_examples_reach_autograd_test_items():
    from gradprops import autograd_test
    pinned = (torch.tensor([0.123456789], dtype=torch.float64, requires_grad=True),)
    test = autograd_test(_WrongAtOneValue.apply, inputs=gst.inputs("(n)"),
                         properties=["finite_differences"], examples=[pinned])
    with pytest.raises(gradprops.PropertyFailure, match="finite_differences"):
        test(seed=0, max_examples=5)


@pytest.mark.parametrize("examples", [torch.zeros(2), [st.just(torch.zeros(2))], [3.0]])
def test_pinned_examples_must_be_concrete_inputs(examples):
    with pytest.raises(gradprops.UsageError, match=r"examples must be a list of concrete inputs|inputs must be"):
        gradprops.check(torch.sin, gst.inputs("(n)"), seed=0, max_examples=2, examples=examples)
