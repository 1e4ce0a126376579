"""The plugin end to end: a downstream project with a planted bug, run serially and with ``-n 2``.

Each run is a subprocess (torch cannot be re-imported in one process, and the runs load their own
Hypothesis profile). The project is ``examples/downstream`` with its planted bug switched on.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOWNSTREAM = Path(__file__).parent.parent / "examples" / "downstream"
CORRECT = "        return grad * torch.sigmoid(ctx.beta * x), None\n"
PLANTED = "        # return torch.sigmoid(ctx.beta * x), None  # planted bug"

# Profiles for these runs: no shrink phase (the plugin is under test here, not shrinking, and a
# failure's first example is as deterministic as its shrunk one); with and without a database.
CONFTEST = """
from hypothesis import Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile("plugin-tests", phases=[Phase.explicit, Phase.reuse, Phase.generate],
                          database=None, deadline=None)
settings.register_profile("plugin-tests-db", parent=settings.get_profile("plugin-tests"),
                          database=DirectoryBasedExampleDatabase(".hypothesis/examples"))
"""

COMPLEX = """
import torch
from gradprops.pytest_support import autograd_test

test_complex_sin = autograd_test(torch.sin, inputs="()", dtypes=["complex128"],
                                 properties=["seed_linearity", "vjp_matches_jacobian"])
"""

ARGS = ["-p", "no:cacheprovider", "--gradprops-max-examples=8", "--gradprops-seed=12345",
        "--gradprops-properties=seed_linearity,ones_seed_matches_sum"]

FAILING = {
    "tests/test_mylib.py::test_scaled_softplus[seed_linearity-float32]",
    "tests/test_mylib.py::test_scaled_softplus[seed_linearity-float64]",
    "tests/test_mylib.py::test_softplus_of_normalized[seed_linearity-float64]",
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """examples/downstream with the planted bug in, plus a complex-dtype test and test profiles."""
    for path in ("mylib.py", "pyproject.toml", "tests/test_mylib.py"):
        (pytester.path / path).parent.mkdir(exist_ok=True)
        shutil.copy(DOWNSTREAM / path, pytester.path / path)
    mylib = pytester.path / "mylib.py"
    source = mylib.read_text()
    assert CORRECT in source and PLANTED in source, "the example's planted bug moved: update this test"
    mylib.write_text(source.replace(CORRECT, "        return torch.sigmoid(ctx.beta * x), None\n"))
    (pytester.path / "tests" / "conftest.py").write_text(CONFTEST)
    (pytester.path / "tests" / "test_complex.py").write_text(COMPLEX)
    return pytester


def all_output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


def case_block(failure: str) -> str:
    """The 'Case:' part of a failure message: what was found, without how it was searched for."""
    return failure[failure.index("Case:"):failure.index("How to reproduce:")]


def failed_ids(result: pytest.RunResult) -> set[str]:
    return {m.group(1) for line in result.outlines if (m := re.match(r"FAILED (\S+)", line))}


def junit_cases(path: Path) -> dict[str, tuple[str, str, dict[str, str]]]:
    """name -> (outcome, failure text, properties) from a junit XML file."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome, text = kind, element.get("message", "") + (element.text or "")
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cases[f"{case.get('classname')}.{case.get('name')}"] = (outcome, text, props)
    return cases


def test_serial_and_xdist_find_the_same_failures_and_the_replay_command_reproduces_one(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Under CI=true pytest repeats each failure's whole message in the short summary; the inner
    # runs must read the same on a laptop and in CI.
    monkeypatch.delenv("CI", raising=False)
    profile = ["--hypothesis-profile=plugin-tests"]
    serial = project.runpytest_subprocess(*ARGS, *profile, "--junitxml=serial.xml")
    xdist = project.runpytest_subprocess(*ARGS, *profile, "--junitxml=xdist.xml", "-n", "2")

    outcomes = serial.parseoutcomes()
    for key in ("passed", "failed", "skipped"):
        assert serial.parseoutcomes().get(key) == xdist.parseoutcomes().get(key), (serial.outlines[-1],
                                                                                   xdist.outlines[-1])
    assert failed_ids(serial) == failed_ids(xdist) == FAILING
    assert outcomes["skipped"] == 1  # the Jacobian on complex128, with its reason
    serial.stdout.fnmatch_lines(["SKIPPED [[]1] tests/test_complex.py:5: vjp_matches_jacobian needs real *complex*"])

    for result in (serial, xdist):
        header = [line for line in result.outlines if line.startswith("gradprops ")]
        assert len(header) == 1 and "--gradprops-seed=12345, 8 examples per test" in header[0]
        # 6 items and the fixture test; 4 passed with 8 examples each, 3 failed.
        assert any(re.match(r"seed_linearity +7 +4 +3 +0 +32 ", line) for line in result.outlines), all_output(result)
    assert sum("examples run per property" in line for line in xdist.outlines) == 1  # controller only

    # Item by item, the same outcome and the same failure text (the same case was found).
    cases, xcases = junit_cases(project.path / "serial.xml"), junit_cases(project.path / "xdist.xml")
    assert cases.keys() == xcases.keys()
    for name, (outcome, text, props) in cases.items():
        assert xcases[name][:2] == (outcome, text), name
        if "[" in name:  # one item per property, and junit says which
            assert props["gradprops_property"] == name.split("[")[1].split("-")[0].rstrip("]")
    failure = cases["tests.test_mylib.test_scaled_softplus[seed_linearity-float64]"][1]
    assert "property 'seed_linearity' failed" in failure and "Case:" in failure

    # Short output: the report, no traceback through check() or Hypothesis.
    output = serial.stdout.str()
    assert "gradprops/checking.py" not in output and "hypothesis/core.py" not in output

    replay = [line.strip() for line in serial.outlines
              if line.strip().startswith("pytest 'tests/test_mylib.py::test_scaled_softplus[seed_linearity-float64]'")]
    assert len(replay) == 1, output
    assert "--gradprops-seed=12345" in replay[0] and "--hypothesis-profile=plugin-tests" in replay[0]
    again = project.run(sys.executable, "-m", *shlex.split(replay[0]), "--junitxml=replay.xml")
    again.assert_outcomes(failed=1)
    assert junit_cases(project.path / "replay.xml") == {
        "tests.test_mylib.test_scaled_softplus[seed_linearity-float64]": cases[
            "tests.test_mylib.test_scaled_softplus[seed_linearity-float64]"]
    }


SIZE_BUG = """
import torch
from torch.autograd import Function
from gradprops.pytest_support import autograd_test

class SinBugOnLargeInputs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x.cos() if x.numel() >= 3 else grad * x.cos()  # ignores its seed on 3+ elements

def test_one_torch_thread_per_worker(gradprops):
    assert torch.get_num_threads() == 1

test_size_bug = autograd_test(SinBugOnLargeInputs.apply, inputs="()", dtypes=["float32", "float64"],
                              properties=["seed_linearity", "vjp_matches_jacobian"])
"""


THREADS = """
import torch
from gradprops import autograd_test

DEFAULT = torch.get_num_threads()


def test_a_gradprops_test_runs_on_one_thread(gradprops):
    assert torch.get_num_threads() == 1


test_sin = autograd_test(torch.sin, inputs="()", properties=["purity"])


def test_zz_others_get_the_threads_back():
    assert torch.get_num_threads() == DEFAULT
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_gradprops_tests_run_on_one_torch_thread_and_give_it_back(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    """Serially as under xdist: one thread while a gradprops test runs (float32 rounding depends on the
    thread count, so the two must agree), the process's own number for every other test."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    (project.path / "tests" / "test_threads.py").write_text(THREADS)
    result = project.runpytest_subprocess(*ARGS, *xdist, "-p", "no:randomly", "tests/test_threads.py")
    result.assert_outcomes(passed=3)


def test_workers_share_hypothesis_example_database_safely(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers write failing examples into one DirectoryBasedExampleDatabase at once; a later
    run with another seed finds the very same cases (replayed from the database), where a run with
    that seed and an empty database finds other ones. (And each worker runs torch on one thread.)"""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    (project.path / "tests" / "test_size_bug.py").write_text(SIZE_BUG)
    args = [*ARGS, "--hypothesis-profile=plugin-tests-db", "-n", "2", "tests/test_size_bug.py"]

    def run(seed: int, junit: str) -> dict[str, str]:
        args[args.index(next(a for a in args if a.startswith("--gradprops-seed=")))] = f"--gradprops-seed={seed}"
        result = project.runpytest_subprocess(*args, f"--junitxml={junit}")
        result.assert_outcomes(failed=4, passed=1)
        assert "INTERNALERROR" not in all_output(result)
        cases = junit_cases(project.path / junit).items()
        return {name: case_block(failure) for name, (outcome, failure, _) in cases if outcome == "failure"}

    first = run(1, "first.xml")
    database = project.path / ".hypothesis" / "examples"
    assert len([p for p in database.rglob("*") if p.is_file()]) >= 4
    assert run(2, "second.xml") == first  # replayed from the database the workers shared

    shutil.rmtree(database)
    assert run(2, "control.xml") != first  # without it, seed 2 finds other cases
