"""gst.functions(): finite, runnable from its repr, and a planted broken op is found and shrunk."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings

import gradprops
from gradprops import strategies as gst
from gradprops.strategies.functions import POOL, FunctionOp, GeneratedFunction


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@fast(1000)
@given(gst.functions(n_inputs=2, n_outputs=2, max_ops=8), gst.inputs("(),()", requires_grad=False))
def test_no_nan_forward_over_1000_draws(f: GeneratedFunction, xs: tuple[torch.Tensor, ...]) -> None:
    for out in f(*xs):
        assert not torch.isnan(out).any(), f"NaN from\n{f!r}\non {xs}"
        assert torch.isfinite(out).all(), f"inf from\n{f!r}\non {xs}"


@fast(100)
@given(gst.functions(n_inputs=2, max_ops=8, broadcast=False), gst.inputs("(a),(b)", requires_grad=False))
def test_any_shapes_work_without_broadcasting(f: GeneratedFunction, xs: tuple[torch.Tensor, ...]) -> None:
    assert torch.isfinite(f(*xs)).all()


@fast(100)
@given(gst.functions(n_inputs=2), gst.inputs("(),()", requires_grad=False))
def test_repr_is_source_that_reruns_to_the_same_function(f: GeneratedFunction, xs: tuple) -> None:
    source = repr(f)
    assert source == f.__gradprops_source__ and source.startswith("def f(x0, x1):")
    scope = {"torch": torch, "F": torch.nn.functional}
    exec(source, scope)
    torch.testing.assert_close(scope["f"](*xs), f(*xs), rtol=0, atol=0, equal_nan=True)


@fast(20)
@given(h=gst.functions(), xs=gst.inputs("(n)"))
def test_usable_as_downstream_function(h: GeneratedFunction, xs: tuple) -> None:
    y = torch.softmax(xs[0], -1) * 3
    h(y).sum().backward()
    assert xs[0].grad is not None


class IgnoresSeed(torch.autograd.Function):
    """2·x whose backward assumes a seed of ones — the bug gradprops exists to catch."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return 2 * x

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return 2 * torch.ones_like(grad)


PLANTED = FunctionOp("ignores_seed", 1, "IgnoresSeed.apply({0})", lambda a: (2 * a[0], 2 * a[1]),
                     namespace=(("IgnoresSeed", IgnoresSeed),))


def test_planted_broken_op_is_found_and_shrunk_to_at_most_two_ops() -> None:
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(gst.functions(ops=POOL[:8], extra_ops=[PLANTED]), gst.inputs("()"),
                        max_examples=200, seed=0)
    function = info.value.case.function
    assert "IgnoresSeed.apply" in function
    assert len(re.findall(r"\bv\d+ = ", function)) <= 2, function


def test_correct_functions_pass_check() -> None:
    # softmax included: on constant rows its VJP cancels to rounding noise, which the noise floor allows.
    report = gradprops.check(gst.functions(ops=POOL), gst.inputs("()"), max_examples=30, seed=3)
    assert report.examples >= 30


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        gst.functions(n_inputs=0)
