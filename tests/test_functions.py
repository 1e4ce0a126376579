"""gst.functions(): finite, runnable from its repr, and a planted broken op is found and shrunk."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings

import gradprops
from gradprops import strategies as gst
from gradprops.strategies.functions import INPUT_BOUND, LIMIT, POOL, FunctionOp, GeneratedFunction, _build


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


SQUARE = next(op for op in POOL if op.name == "square")
_EDGES = torch.tensor([INPUT_BOUND, -INPUT_BOUND, 0.5, 0.0])


def test_five_chained_squares_stay_finite_in_float32() -> None:
    # (1e3)^32 = 1e96: inf in float32 unless the guard squashes the operand once it passes LIMIT.
    f = _build([(0, 0, 0, 0)] * 5, [SQUARE], 1, 1, True)
    y = f(_EDGES.float())
    assert torch.isfinite(y).all() and y.abs().max() <= LIMIT, (repr(f), y)
    assert "torch.tanh" in repr(f)


@fast(300)
@given(gst.functions(n_inputs=2, max_ops=12), gst.inputs("(),()", dtype=torch.float32, requires_grad=False))
def test_float32_programs_stay_within_the_limit(f: GeneratedFunction, xs: tuple[torch.Tensor, ...]) -> None:
    """The intervals bound every value by LIMIT, for any input in [-1e3, 1e3], the edges included."""
    for inputs in (xs, (_EDGES.float(), _EDGES.flip(0).float())):
        out = f(*inputs)
        assert torch.isfinite(out).all(), f"non-finite from\n{f!r}\non {inputs}"
        assert out.abs().max() <= LIMIT * (1 + 1e-6) if out.numel() else True, f"beyond LIMIT from\n{f!r}"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"n_inputs": 0}, "n_inputs must be at least 1"),
        ({"n_inputs": "2"}, "n_inputs must be an integer"),
        ({"max_ops": 2.5}, "max_ops must be an integer"),
        ({"n_outputs": True}, "n_outputs must be an integer"),
        ({"n_outputs": 3, "max_ops": 2}, "n_outputs=3 is larger than max_ops=2"),
        ({"ops": []}, "give no op to build programs from"),
        ({"ops": "sin"}, "ops must be a sequence of FunctionOp"),
        ({"ops": POOL[0]}, "ops must be a sequence of FunctionOp"),
        ({"extra_ops": [torch.sin]}, "extra_ops must be a sequence of FunctionOp"),
        ({"broadcast": 1}, "broadcast must be True or False"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict, says: str) -> None:
    with pytest.raises(gradprops.UsageError, match=re.escape(says)):
        gst.functions(**kwargs)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("twice", 3, "{0}", lambda a: a), "arity must be 1 or 2"),
        (("twice", 1, "{0}", None), "interval must be a function"),
        (("twice", 1, "{0}", lambda a: a, ("pos",)), "needs must give one of"),
        (("twice", 2, "{0}", lambda a, b: a, ("positive",)), "needs must give one of"),
        (("twice", 1, "{0}", lambda a: a, (), "same"), "shape must be one of"),
    ],
)
def test_bad_function_ops_are_refused_where_they_are_made(args: tuple, says: str) -> None:
    with pytest.raises(gradprops.UsageError, match=re.escape(says)):
        FunctionOp(*args)
