"""A function that is not a function of its inputs fails with a PropertyFailure that says so.

Every property calls the function several times on one case, so randomness in forward (dropout,
``torch.rand``) or state kept between calls fails some property with a misleading grad message, or
makes Hypothesis' replay disagree with the first run (its raw ``FlakyFailure``).
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch.autograd import Function

import gradprops
from gradprops import strategies as gst
from gradprops.checking import NONDETERMINISTIC


def dropout(x):
    return F.dropout(x, 0.5, training=True)


@pytest.mark.parametrize("max_examples", [20, 100])
def test_dropout_in_forward_is_reported_as_nondeterminism(max_examples):
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(dropout, gst.inputs("()"), seed=0, max_examples=max_examples)
    failure = info.value
    assert failure.detail.startswith(NONDETERMINISTIC), str(failure)
    assert f"property '{failure.property}' failed" in str(failure)
    assert "dropout" in str(failure) and "module.eval()" in str(failure)


class Alternating:
    """2·x on odd calls, 3·x on even ones: state kept between calls, the same in every process."""

    def __init__(self) -> None:
        self.calls = itertools.count(1)

    def __call__(self, x):
        return x * (2 if next(self.calls) % 2 else 3)


def test_a_second_forward_that_differs_is_shown_output_by_output():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(Alternating(), gst.inputs("()"), seed=0, max_examples=20,
                        properties=["seed_linearity", "forward_reverse_adjoint"])
    text = str(info.value)
    assert info.value.detail.startswith(NONDETERMINISTIC), text
    assert "forward on the same inputs returned other outputs" in text
    assert "output 0:" in text and "first forward = " in text


class WrongAtFirst(Function):
    """A deterministic forward whose backward ignores its seed on its first 12 calls only (the first examples)."""

    backwards = 0

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        WrongAtFirst.backwards += 1
        return torch.ones_like(grad) * 2 if WrongAtFirst.backwards <= 12 else grad * 2


def test_a_failure_that_does_not_repeat_names_the_property_and_what_the_replay_did():
    WrongAtFirst.backwards = 0
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(WrongAtFirst.apply, gst.inputs("()"), seed=0, max_examples=10,
                        properties=["seed_linearity"])
    failure = info.value
    assert failure.property == "seed_linearity"
    assert failure.detail.startswith(NONDETERMINISTIC), str(failure)
    assert "Hypothesis ran this case again with the same draws, and it held" in failure.detail


def test_running_out_of_memory_once_is_a_usage_error_about_size():
    calls = itertools.count()

    def out_of_memory_once(x):
        if next(calls) == 0:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 400000000 bytes")
        return x.sin()

    with pytest.raises(gradprops.UsageError, match=r"ran out of memory on an example .*smaller inputs"):
        gradprops.check(out_of_memory_once, gst.inputs("()"), seed=0, max_examples=10,
                        properties=["ones_seed_matches_sum"])


def test_an_inputs_strategy_that_draws_differently_on_replay_is_a_usage_error():
    calls = itertools.count()

    @st.composite
    def drifting(draw):  # its bounds depend on how often it was called: not a function of the draws
        n = draw(st.integers(1, 2 + next(calls)))
        return torch.randn(n, dtype=torch.float64, requires_grad=True)

    with pytest.raises(gradprops.UsageError, match=r"drew different choices when it replayed .* from Hypothesis"):
        gradprops.check(torch.sin, drifting(), seed=0, max_examples=20, properties=["ones_seed_matches_sum"])


def test_a_deterministic_bug_is_not_called_nondeterminism():
    class Doubled(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return torch.ones_like(grad) * 2

    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(Doubled.apply, gst.inputs("()"), seed=0, max_examples=20)
    assert not info.value.detail.startswith(NONDETERMINISTIC), str(info.value)
