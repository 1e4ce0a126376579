"""The per-property summary table: what counts as a property's pass, failure and skip.

A property fails in a test only when gradprops says so (a PropertyFailure of that property); a test
using the ``gradprops`` fixture that fails otherwise (an error in its own body) is counted on the
"other failures" line, under no property. A property that ran on no example of a test (``vmap`` on a
plain function, ``devices`` without a second device) did not pass there: it is counted as skipped.
The table is built where every report arrives: serially, and on pytest-xdist's controller.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PROJECT = """
import torch
from torch.autograd import Function
from gradprops import autograd_test


class IgnoresSeed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x.cos()  # should be grad * x.cos()


def test_passes(gradprops):
    gradprops.check(torch.sin, gradprops.strategies.inputs("(n)"))


def test_passes_then_name_error(gradprops):
    gradprops.check(torch.sin, gradprops.strategies.inputs("(n)"))
    undefined_name  # an error in the test, after every property held


def test_property_failure(gradprops):
    gradprops.check(IgnoresSeed.apply, gradprops.strategies.inputs("(n)"), properties=["seed_linearity"])


test_items = autograd_test(torch.sin, inputs="(n)", properties=["seed_linearity", "vmap", "devices"])
"""
ARGS = ["-p", "no:cacheprovider", "--gradprops-seed=1", "--gradprops-max-examples=4"]
ROW = re.compile(r"^(\w+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$")
# Properties that run on no example of torch.sin here: no custom Function, no custom op, no second device.
NOT_RUN = {"vmap", "opcheck", "devices"}


def table(result: pytest.RunResult) -> dict[str, tuple[int, ...]]:
    """property -> (tests, passed, failed, skipped, examples, skipped examples)."""
    out = result.stdout.str()
    section = out[out.index("examples run per property"):]
    return {m.group(1): tuple(map(int, m.groups()[1:])) for line in section.splitlines() if (m := ROW.match(line))}


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_failure_counts_under_its_property_only_and_a_property_that_ran_on_nothing_did_not_pass(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_project=PROJECT)
    result = pytester.runpytest_subprocess(*ARGS, *xdist)
    result.assert_outcomes(passed=2, failed=2, skipped=2)  # test_items' vmap and devices items skip
    rows = table(result)

    # seed_linearity: held in test_passes, test_passes_then_name_error and test_items; failed once.
    assert rows["seed_linearity"] == (4, 3, 1, 0, 12, 0)
    for name in ("purity", "ones_seed_matches_sum", "chain_rule"):  # held in both fixture tests
        assert rows[name][:4] == (2, 2, 0, 0), (name, result.stdout.str())
    for name in NOT_RUN:  # 0 examples in every test: never a pass
        tests, passed, failed, skipped, examples, _ = rows[name]
        assert (passed, failed, examples) == (0, 0, 0) and skipped == tests >= 2, (name, result.stdout.str())
    assert sum(r[2] for r in rows.values()) == 1  # the NameError is no property's failure

    result.stdout.fnmatch_lines([
        "*passed: held on at least one example*failed: a gradprops PropertyFailure of that property*",
        "other failures: 1 test *not under any property*",
    ])


def test_without_other_failures_there_is_no_other_failures_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_project=PROJECT)
    result = pytester.runpytest_subprocess(*ARGS, "-k", "not name_error")
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    assert table(result)["seed_linearity"][:4] == (3, 2, 1, 0)
    assert "other failures" not in result.stdout.str()
