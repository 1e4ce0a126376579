"""gradprops items go through pytest's cache and selection like parametrized tests.

``--lf``, ``--ff`` and ``--sw`` store node ids as strings and, from pytest 9.2, compare them with the
collected items' structured ids (``NodeId``: path, names, params). An item must therefore be what
pytest builds for a parametrized test: name ``test_x[...]``, original name ``test_x`` and a callspec
whose id is the part in brackets. These runs enable the cache (the project's own runs disable it)
and run in subprocesses, serially and under pytest-xdist, whose controller parses the workers'
report ids from strings. They run on the installed pytest (8 or 9); the README says which versions
were checked.
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


def test_plain():
    pass


test_sin = autograd_test(torch.sin, inputs="(n)", properties=["ones_seed_matches_sum", "seed_linearity"])
test_broken = autograd_test(IgnoresSeed.apply, inputs="(n)", dtypes=["float32", "float64"],
                            properties=["ones_seed_matches_sum", "seed_linearity"])


class TestInAClass:
    test_broken_too = autograd_test(IgnoresSeed.apply, inputs="(n)", properties=["seed_linearity"])
"""

FAILING = [
    "test_project.py::test_broken[seed_linearity-float32]",
    "test_project.py::test_broken[seed_linearity-float64]",
    "test_project.py::TestInAClass::test_broken_too[seed_linearity-float64]",
]
ARGS = ["-p", "cacheprovider", "--gradprops-seed=3", "--gradprops-max-examples=5", "-v"]


def ran(result: pytest.RunResult) -> list[str]:
    """Node ids in the order they ran, with their outcome: ``id PASSED`` (serial or xdist's ``-v``)."""
    out = []
    for line in result.outlines:
        m = re.match(r"(\S+::\S+) (PASSED|FAILED|SKIPPED)\b", line)
        x = re.match(r"\[gw\d+\] \[ *\d+%\] (PASSED|FAILED|SKIPPED) (\S+::\S+)", line)
        if m:
            out.append(f"{m.group(1)} {m.group(2)}")
        elif x:
            out.append(f"{x.group(2)} {x.group(1)}")
    return out


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_project=PROJECT)
    return pytester


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_last_failed_and_failed_first_select_gradprops_items(project: pytest.Pytester, xdist: list[str]) -> None:
    first = project.runpytest_subprocess(*ARGS, *xdist)
    first.assert_outcomes(passed=5, failed=3)

    again = project.runpytest_subprocess(*ARGS, *xdist, "--lf")
    again.assert_outcomes(failed=3)  # the others are left out at collection, not deselected
    if not xdist:  # (pytest-xdist does not print the status line)
        assert "rerun previous 3 failures" in again.stdout.str()
    assert sorted(ran(again)) == sorted(f"{n} FAILED" for n in FAILING)

    first_failed = project.runpytest_subprocess(*ARGS, "--ff")  # serial: the order is the point
    first_failed.assert_outcomes(passed=5, failed=3)
    assert [line.split()[0] for line in ran(first_failed)[:3]] == FAILING


def test_stepwise_resumes_at_the_failed_gradprops_item(project: pytest.Pytester) -> None:
    first = project.runpytest_subprocess(*ARGS, "--sw")
    first.assert_outcomes(passed=3, failed=1)  # test_plain and test_sin's two, then the first failure
    resumed = project.runpytest_subprocess(*ARGS, "--sw")
    assert "skipping 3 already passed items" in resumed.stdout.str()
    assert ran(resumed) == [f"{FAILING[0]} FAILED"]
    skip = project.runpytest_subprocess(*ARGS, "--sw", "--sw-skip")
    assert [line.split()[0] for line in ran(skip)][:2] == FAILING[:2]


def test_items_look_like_parametrized_tests(project: pytest.Pytester) -> None:
    project.makeconftest("""
def pytest_collection_modifyitems(items):
    for item in items:
        if "[" in item.name:
            print("ITEM", item.nodeid, item.originalname, item.callspec.id)
""")
    result = project.runpytest_subprocess("--collect-only", "-q", "-s")
    items = [line.split()[1:] for line in result.outlines if line.startswith("ITEM ")]
    assert ["test_project.py::test_broken[seed_linearity-float64]", "test_broken",
            "seed_linearity-float64"] in items
    assert len(items) == 7
