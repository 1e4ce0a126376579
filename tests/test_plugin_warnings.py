"""Warnings: torch's, raised inside gradprops' own machinery, are gradprops' business; the user's are theirs.

torch's first forward-mode AD call (``make_dual``) imports its forward-AD decompositions and warns 18
times that ``torch.jit.script`` is deprecated. Under ``-W error`` that was reported as the function
under test raising, failing ``forward_reverse_adjoint`` on every correct op; without it, it added 18
lines to every session. Each run here is a fresh process, so torch's first call happens inside it.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PROJECT = """
import warnings

import torch
from gradprops import autograd_test


def warns(x):
    warnings.warn("mylib: inputs are large", UserWarning)
    return x.sin()


test_sin = autograd_test(torch.sin, inputs="(n)", properties=["forward_reverse_adjoint", "seed_linearity"])
test_warns = autograd_test(warns, inputs="(n)", properties=["forward_reverse_adjoint"])
"""
ARGS = ["-p", "no:cacheprovider", "--gradprops-seed=1", "--gradprops-max-examples=3"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_project=PROJECT)
    return pytester


def test_under_warnings_as_errors_a_correct_op_passes_and_the_users_warning_fails(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nfilterwarnings =\n    error\n")
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=2, failed=1)
    assert "FAILED test_project.py::test_warns[forward_reverse_adjoint-float64]" in result.stdout.str()
    result.stdout.fnmatch_lines(["*UserWarning: mylib: inputs are large*"])
    assert "torch.jit.script" not in result.stdout.str()


def test_without_it_only_the_users_warning_is_shown(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(*ARGS, "-n", "2")
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    assert "mylib: inputs are large" in out and "warnings summary" in out
    assert "torch.jit.script" not in out and "DeprecationWarning" not in out


VMAP_FIRST = """
import torch
from gradprops import autograd_test


class Sin(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * x.cos()


test_sin = autograd_test(Sin.apply, inputs="(n)", properties=["vmap"])
"""


def test_a_process_whose_first_dual_tensor_is_torch_func_jvps_passes_under_warnings_as_errors(
        pytester: pytest.Pytester) -> None:
    # vmap's torch.func.jvp made the process's first dual tensor, outside the filter that jvp had.
    pytester.makepyfile(test_project=VMAP_FIRST)
    pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)
    assert "torch.jit.script" not in result.stdout.str()
