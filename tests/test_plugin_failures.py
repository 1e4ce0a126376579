"""One cause, one report: a malformed signature is one collection error, and an exception the function
under test raises is shown in full once per test, not once per property item (serially and under
pytest-xdist, where only the controller sees every report)."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PROJECT = """
import torch
from gradprops import autograd_test


def picky(x):
    if x.numel() > 1:
        raise ValueError("picky: only scalars please")
    return x.sin()


def fussy(x):
    if x.numel() > 1:
        raise KeyError("fussy")
    return x.cos()


test_picky = autograd_test(picky, inputs="(n)", dtypes=["float32", "float64"],
                           properties=["purity", "seed_linearity", "ones_seed_matches_sum"])
test_fussy = autograd_test(fussy, inputs="(n)", properties=["seed_linearity", "ones_seed_matches_sum"])
"""
ARGS = ["-p", "no:cacheprovider", "--gradprops-seed=1", "--gradprops-max-examples=10"]


def failure_sections(result: pytest.RunResult) -> dict[str, str]:
    """Short test name -> its section of the FAILURES block."""
    out = result.stdout.str()
    block = out[out.index("= FAILURES ="):out.index("examples run per property")].rsplit("\n", 1)[0]
    parts = re.split(r"\n_+ (\S+) _+\n", block)
    # pytest-xdist starts each section with the worker's line: "[gw1] linux -- Python ..."
    return {name: re.sub(r"^\[gw\d+\] .*\n", "", text) for name, text in zip(parts[1::2], parts[2::2])}


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_exception_from_forward_is_reported_in_full_once_per_test(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_project=PROJECT)
    result = pytester.runpytest_subprocess(*ARGS, *xdist)
    result.assert_outcomes(failed=8)
    sections = failure_sections(result)
    assert len(sections) == 8
    for test, error in (("test_picky", "ValueError: picky: only scalars please"), ("test_fussy", "KeyError: 'fussy'")):
        mine = {name: text for name, text in sections.items() if name.startswith(f"{test}[")}
        full = [name for name, text in mine.items() if "raised by the function under test:" in text]
        assert len(full) == 1, mine  # one full report per test: the first to arrive
        assert "Case:" in mine[full[0]] and "How to reproduce:" in mine[full[0]]
        for name, text in mine.items():
            assert f"the function under test raised during forward: {error}" in text.splitlines()[0]
            assert f"pytest 'test_project.py::{name}' --gradprops-seed=1" in text  # each keeps its replay line
            if name != full[0]:
                assert f"the same exception, from the same line, as test_project.py::{full[0]}: " in text
                assert "Case:" not in text and len(text.strip().splitlines()) == 4


def test_a_malformed_signature_is_one_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_typo="""
import torch
from gradprops import autograd_test

test_typo = autograd_test(torch.sin, inputs="(m,n")
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "test_typo.py:4: in <module>",
        "E   gradprops.errors.UsageError: autograd_test: signature='(m,n' is not a gufunc-style signature: *",
    ])
    assert "pytest_support.py" not in out and len(result.outlines) < 25


@pytest.mark.parametrize(("inputs", "kind"), [("42", "int"), ("[1.0, 2.0]", "list")])
def test_inputs_that_are_no_strategy_signature_callable_or_tensors_are_one_collection_error(
    pytester: pytest.Pytester, inputs: str, kind: str
) -> None:
    """Not one runtime failure per property item (13 of them) saying what check() takes."""
    pytester.makepyfile(test_bad_inputs=f"""
import torch
from gradprops import autograd_test

def test_fine():
    pass

test_bad = autograd_test(torch.sin, inputs={inputs})
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gradprops-max-examples=2")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "test_bad_inputs.py:7: in <module>",
        "E   gradprops.errors.UsageError: autograd_test: inputs=* not something to draw inputs from: "
        "pass a Hypothesis strategy*a gufunc signature string*a callable taking dtype=*a tensor*",
    ])
    assert f"autograd_test: inputs={inputs} ({kind}) is not something" in out
    assert "pytest_support.py" not in out and out.count("UsageError") == 2  # the E line and the summary's
