"""The pytest plugin's options: ini twins, precedence, the header line, clear usage errors.

These runs configure pytest (and at most collect); they run in-process, which is fast and safe
because nothing here changes Hypothesis' global settings.
"""

from __future__ import annotations

import re

import pytest
import torch  # imported before any in-process run: pytester drops the modules a run imports,

import gradprops.pytest_support  # and re-importing torch's C extension crashes the process
from gradprops.properties import registry

pytest_plugins = ["pytester"]

TRIVIAL = "def test_trivial():\n    assert True\n"

DTYPE_PROJECT = """
import torch
from hypothesis import strategies as st
from gradprops.pytest_support import autograd_test

def inputs(dtype):
    return st.just(torch.ones(2, dtype=dtype, requires_grad=True))

test_scale = autograd_test(lambda x: 2 * x, inputs=inputs)
test_fixed = autograd_test(lambda x: 2 * x, inputs=inputs, dtypes=["float32"], properties=["seed_linearity"])
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def header(result: pytest.RunResult) -> str:
    lines = [line for line in result.outlines if line.startswith("gradprops ")]
    assert len(lines) == 1, result.stdout.str()
    return lines[0]


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_header_names_versions_seed_and_budget(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TRIVIAL)
    line = header(run(pytester, "--gradprops-seed=1234", "--gradprops-max-examples=17"))
    assert line.startswith(f"gradprops {gradprops.__version__}, torch {torch.__version__}: ")
    assert "--gradprops-seed=1234" in line and "17 examples per test" in line
    assert "examples per test" in header(run(pytester))  # the profile's budget when not given


def test_seed_is_random_without_the_option_and_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TRIVIAL)
    seeds = {re.search(r"--gradprops-seed=(\d+)", header(run(pytester))).group(1) for _ in range(3)}  # type: ignore[union-attr]
    assert len(seeds) > 1


@pytest.mark.parametrize("ini", ["ini", "toml", "toml-native"])
def test_ini_twins_are_honoured_and_the_command_line_wins(pytester: pytest.Pytester, ini: str) -> None:
    settings = {"gradprops_seed": "5", "gradprops_max_examples": "7", "gradprops_dtypes": "float32, float16",
                "gradprops_properties": "seed_linearity", "gradprops_devices": "cpu"}
    if ini == "ini":
        pytester.makeini("[pytest]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    elif ini == "toml":
        toml = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\n" + toml)
    else:  # numbers and lists, without a deprecation warning
        pytester.makepyprojecttoml(
            '[tool.pytest.ini_options]\ngradprops_seed = 5\ngradprops_max_examples = 7\n'
            'gradprops_dtypes = ["float32", "float16"]\ngradprops_properties = ["seed_linearity"]\n'
            'filterwarnings = ["error", "ignore::pytest.PytestAssertRewriteWarning"]\n'
        )
    pytester.makepyfile(test_scale=DTYPE_PROJECT)

    assert "--gradprops-seed=5, 7 examples per test" in header(run(pytester, "--collect-only"))
    assert collected(run(pytester, "--collect-only", "-q")) == [
        "test_scale.py::test_scale[seed_linearity-float32]",
        "test_scale.py::test_scale[seed_linearity-float16]",
        "test_scale.py::test_fixed[seed_linearity-float32]",  # its own dtypes= and properties= win
    ]

    args = ["--collect-only", "--gradprops-seed=9", "--gradprops-max-examples=3", "--gradprops-dtypes=float64",
            "--gradprops-properties=ones_seed_matches_sum,seed_linearity"]
    assert "--gradprops-seed=9, 3 examples per test" in header(run(pytester, *args))
    assert collected(run(pytester, "-q", *args)) == [
        "test_scale.py::test_scale[seed_linearity-float64]",
        "test_scale.py::test_scale[ones_seed_matches_sum-float64]",
        "test_scale.py::test_fixed[seed_linearity-float32]",
    ]


def test_default_collection_takes_every_default_property_from_the_registry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_scale=DTYPE_PROJECT)
    ids = collected(run(pytester, "--collect-only", "-q"))
    expected = [f"test_scale.py::test_scale[{p.name}-float64]" for p in registry.PROPERTIES]
    assert ids[: len(expected)] == expected and len(expected) >= 3


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--gradprops-seed=abc"], "", "gradprops: --gradprops-seed: expected a non-negative integer, got 'abc'"),
        (["--gradprops-seed=-3"], "", "--gradprops-seed: expected a non-negative integer, got '-3'"),
        ([], "gradprops_seed = x1", "gradprops: ini option gradprops_seed: expected a non-negative integer, got 'x1'"),
        (["--gradprops-max-examples=0"], "", "--gradprops-max-examples: expected a positive integer, got '0'"),
        ([], "gradprops_max_examples = many", "ini option gradprops_max_examples: expected a positive integer"),
        (["--gradprops-dtypes=float65"], "", "--gradprops-dtypes: unknown dtype 'float65': choose from float64,"),
        # complex32: a torch dtype, but nothing gradprops can draw (the strategies refuse it)
        (["--gradprops-dtypes=complex32"], "", "--gradprops-dtypes: unknown dtype 'complex32': choose from"),
        ([], "gradprops_dtypes = int3", "ini option gradprops_dtypes: unknown dtype 'int3'"),
        (["--gradprops-devices=gpu"], "", "--gradprops-devices: unknown device 'gpu': expected cpu, cuda, cuda:N"),
        (["--gradprops-properties=seed-linearity"], "", "--gradprops-properties: expected comma-separated property"),
        (["--gradprops-properties=,"], "", "--gradprops-properties: expected comma-separated property names"),
    ],
)
def test_bad_values_are_usage_errors_that_say_what_is_wrong(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makepyfile(TRIVIAL)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_an_unknown_property_name_is_reported_with_the_known_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_scale=DTYPE_PROJECT)
    result = run(pytester, "--gradprops-properties=seed_linearty")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    message = next(line for line in out.splitlines() if "unknown properties" in line)
    assert message.startswith("ERROR: gradprops: --gradprops-properties: unknown properties ['seed_linearty']: "
                              "choose from ")
    assert all(p.name in message for p in registry.PROPERTIES)


OWN_PROPERTIES_ONLY = """
from gradprops.pytest_support import autograd_test

test_own = autograd_test(lambda x: 2 * x, inputs="()", properties=["seed_linearity"])
"""


@pytest.mark.parametrize("project", [OWN_PROPERTIES_ONLY, TRIVIAL], ids=["tests-name-their-own", "no-gradprops-test"])
@pytest.mark.parametrize(
    ("args", "ini", "source", "unknown", "close"),
    [
        (["--gradprops-properties=bogus"], "", "--gradprops-properties", "'bogus'", ""),
        (["--gradprops-properties=seed_linearity,ones_seed_matches_som"], "", "--gradprops-properties",
         "'ones_seed_matches_som'", "did you mean 'ones_seed_matches_sum'?"),
        ([], "gradprops_properties = seed_linerity", "ini option gradprops_properties", "'seed_linerity'",
         "did you mean 'seed_linearity'?"),
    ],
)
def test_an_unknown_property_in_the_option_is_a_usage_error_whatever_the_tests_name(
    pytester: pytest.Pytester, project: str, args: list[str], ini: str, source: str, unknown: str, close: str
) -> None:
    """Not only once a test takes the session's properties: a typo there is never silently ignored."""
    pytester.makepyfile(test_project=project)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    message = next(line for line in result.stderr.lines if "unknown properties" in line)
    assert message.startswith(f"ERROR: gradprops: {source}: unknown properties [{unknown}]: choose from "), message
    assert all(p.name in message for p in (*registry.PROPERTIES, *registry.OPT_IN))
    assert close in message
    assert "passed" not in result.stdout.str()  # stopped at session start


def test_options_are_listed_in_help_with_their_ini_twins(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    out = result.stdout.str()
    for name in ("seed", "max-examples", "properties", "dtypes", "devices"):
        assert f"--gradprops-{name}" in out
        assert f"gradprops_{name.replace('-', '_')} " in out


SHAPES_PROJECT = """
import pytest
from gradprops.pytest_support import autograd_test

test_module_level = autograd_test(lambda x: 2 * x, inputs="()", properties=["seed_linearity", "ones_seed_matches_sum"])

class TestInAClass:
    test_in_class = autograd_test(lambda x: 3 * x, inputs="()", properties=["seed_linearity"],
                                  marks=[pytest.mark.slow])

@autograd_test(inputs="()", properties=["seed_linearity"])
def test_decorated(x):
    return 4 * x

helper_not_collected = autograd_test(lambda x: x, inputs="()")
"""


def test_module_class_and_decorator_forms_are_collected_and_selectable(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.makepyfile(test_forms=SHAPES_PROJECT)
    assert collected(run(pytester, "--collect-only", "-q")) == [
        "test_forms.py::test_module_level[seed_linearity-float64]",
        "test_forms.py::test_module_level[ones_seed_matches_sum-float64]",
        "test_forms.py::TestInAClass::test_in_class[seed_linearity-float64]",
        "test_forms.py::test_decorated[seed_linearity-float64]",
    ]
    assert collected(run(pytester, "--collect-only", "-q", "-m", "slow")) == [
        "test_forms.py::TestInAClass::test_in_class[seed_linearity-float64]"]
    assert len(collected(run(pytester, "--collect-only", "-q", "-m", "gradprops"))) == 4
    assert collected(run(pytester, "--collect-only", "-q", "-k", "ones_seed")) == [
        "test_forms.py::test_module_level[ones_seed_matches_sum-float64]"]
    one = "test_forms.py::test_decorated[seed_linearity-float64]"
    assert collected(run(pytester, "--collect-only", "-q", one)) == [one]


def test_without_the_plugin_an_autograd_test_is_not_silently_dropped(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_scale=DTYPE_PROJECT)
    result = run(pytester, "-p", "no:gradprops", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*cannot collect 'test_scale' because it is not a function*"])
