"""Hypothesis' own pytest options reach gradprops tests: ``--hypothesis-seed``, statistics, deadlines.

Runs are subprocesses: ``--hypothesis-seed`` sets a global in Hypothesis, which must not leak into
this session.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PROJECT = """
import torch
from gradprops import autograd_test

test_sin = autograd_test(torch.sin, inputs="(n)", properties=["seed_linearity"])


def test_fixture(gradprops):
    print("SEED", gradprops.seed)
    gradprops.check(torch.cos, gradprops.strategies.inputs("()"), properties=["ones_seed_matches_sum"])
"""
ARGS = ["-p", "no:cacheprovider", "--gradprops-max-examples=4", "-s"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_project=PROJECT)
    return pytester


def seed_line(result: pytest.RunResult) -> tuple[str, str]:
    """(the header's seed part, the fixture test's seed)."""
    header = next(line for line in result.outlines if line.startswith("gradprops "))
    seed = re.search(r"SEED (\d+)", result.stdout.str()).group(1)  # type: ignore[union-attr]
    return re.search(r"--gradprops-seed=\d+[^,]*", header).group(0), seed  # type: ignore[union-attr]


def test_hypothesis_seed_decides_the_session_seed(project: pytest.Pytester) -> None:
    by_hypothesis = project.runpytest_subprocess(*ARGS, "--hypothesis-seed=7")
    by_gradprops = project.runpytest_subprocess(*ARGS, "--gradprops-seed=7")
    other = project.runpytest_subprocess(*ARGS, "--hypothesis-seed=8")
    for result in (by_hypothesis, by_gradprops, other):
        result.assert_outcomes(passed=2)
    assert seed_line(by_hypothesis) == ("--gradprops-seed=7 (from --hypothesis-seed)", seed_line(by_gradprops)[1])
    assert seed_line(by_gradprops)[0] == "--gradprops-seed=7"
    assert seed_line(other)[1] != seed_line(by_gradprops)[1]

    both = project.runpytest_subprocess(*ARGS, "--hypothesis-seed=7", "--gradprops-seed=9")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*--gradprops-seed=9 and --hypothesis-seed=7 disagree: give one of them*"])


def test_show_statistics_describes_each_gradprops_search(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(*ARGS, "--gradprops-seed=1", "--hypothesis-show-statistics", "-n", "2")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    section = out[out.index("Hypothesis Statistics"):]
    for nodeid in ("test_project.py::test_sin[seed_linearity-float64]", "test_project.py::test_fixture"):
        assert f"{nodeid}:" in section, section
    assert section.count("- during generate phase") == 2
    assert section.count("4 passing, 0 failing") == 2


SLOW = """
import time

import torch
from hypothesis import settings
from gradprops import autograd_test


def slow_sin(x):
    time.sleep(0.2)
    return x.sin()


test_slow = autograd_test(slow_sin, inputs="()", properties=["seed_linearity"], settings=settings(deadline=50))
"""


def test_a_deadline_set_in_settings_is_hypothesis_deadline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=SLOW)
    result = pytester.runpytest_subprocess(*ARGS, "--gradprops-seed=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DeadlineExceeded*"])
