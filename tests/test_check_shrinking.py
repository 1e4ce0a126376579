"""Shrinking is bounded: a slow failure is reported partly shrunk after checking.SHRINK_SECONDS, and says so."""

from __future__ import annotations

import time

import hypothesis.internal.conjecture.engine
import pytest
import torch
from hypothesis import strategies as st

import gradprops
from gradprops import checking
from gradprops import strategies as gst


class SlowWrongPastTen(torch.autograd.Function):
    """sin whose backward is 1% off on inputs of more than ten elements, and slow: every call sleeps."""

    @staticmethod
    def forward(ctx, x):
        time.sleep(0.1)
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * (1.01 if x.numel() > 10 else 1.0)


def test_shrinking_a_slow_failure_stops_at_the_budget_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checking, "SHRINK_SECONDS", 1.0)
    started = time.perf_counter()
    with pytest.raises(gradprops.PropertyFailure) as failure:
        gradprops.check(SlowWrongPastTen.apply, gst.tensors(shape=st.integers(200, 400).map(lambda n: (n,))), seed=0,
                        properties=["finite_differences"], max_examples=20)
    assert "shrinking: stopped after 1 s" in str(failure.value)
    assert "making very slow progress" not in str(failure.value)
    assert time.perf_counter() - started < 30  # unbounded, shrinking takes minutes
    assert hypothesis.internal.conjecture.engine.MAX_SHRINKING_SECONDS == 300  # restored


def test_a_quick_shrink_is_not_marked() -> None:
    with pytest.raises(gradprops.PropertyFailure) as failure:
        gradprops.check(SlowWrongPastTen.apply, gst.tensors(shape=st.integers(11, 30).map(lambda n: (n,))),
                        seed=0, properties=["finite_differences"], max_examples=20)
    assert "shrinking:" not in str(failure.value)


def test_the_hypothesis_limit_the_bound_lowers_is_still_there():
    """Fails when a Hypothesis upgrade moves engine.MAX_SHRINKING_SECONDS (then see gradprops/checking.py)."""
    assert checking._bounded_shrinking.patchable(), f"hypothesis {hypothesis.__version__} moved the limit"
    with checking._bounded_shrinking(), checking._bounded_shrinking():  # nested checks restore once
        assert hypothesis.internal.conjecture.engine.MAX_SHRINKING_SECONDS == checking.SHRINK_SECONDS
    assert hypothesis.internal.conjecture.engine.MAX_SHRINKING_SECONDS == 300
