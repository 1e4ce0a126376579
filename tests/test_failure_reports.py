"""What pytest shows of a gradprops failure in a user's test: the test's line and gradprops' message,
not the frames gradprops and Hypothesis raised it through (the message says all of it), while a bug
inside gradprops keeps its traceback."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import torch, gradprops
from gradprops import strategies as gst
import gradprops.properties.finite_differences as fd


class Off(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * 1.1


def test_check():
    gradprops.check(Off.apply, gst.inputs("(n)"), seed=0, properties=["finite_differences"])


def test_helper():
    gradprops.assert_finite_differences(Off.apply, (torch.randn(3, dtype=torch.float64, requires_grad=True),))


def test_a_bug_inside_gradprops(monkeypatch):
    def broken(*args, **kwargs):
        raise IndexError("a bug of gradprops")

    monkeypatch.setattr(fd, "check_finite_differences", broken)
    gradprops.assert_finite_differences(Off.apply, (torch.randn(3, dtype=torch.float64, requires_grad=True),))
"""


def test_a_failure_shows_the_callers_line_and_the_message_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    sections = out.split("_ test_")
    [check] = [s for s in sections if s.startswith("check _")]
    [helper] = [s for s in sections if s.startswith("helper _")]
    [bug] = [s for s in sections if s.startswith("a_bug_inside_gradprops _")]
    for shown, line in ((check, "gradprops.check(Off.apply"), (helper, "gradprops.assert_finite_differences(")):
        assert f">       {line}" in shown
        assert "property 'finite_differences' failed" in shown and "How to reproduce" in shown
        assert "gradprops/checking.py" not in shown and "gradprops/properties/" not in shown, shown
        assert "Draw 1" not in shown  # Hypothesis' notes on its draws: the case above says it, with layouts
    assert "IndexError: a bug of gradprops" in bug
    assert "gradprops/properties/finite_differences.py" in bug  # where the helper called into it
