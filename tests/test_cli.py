"""The ``gradprops`` command in this process: arguments, exit status, JSON output, dtype and seed.

Signals, the pytest-xdist child and the real executable are in tests/test_cli_process.py.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from gradprops.app import cli
from gradprops.app import runner as _runner
from gradprops.app.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_a_correct_function(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, printed, _ = run(capsys, "check", "tests.cli_targets:correct", "--inputs", "(m,n),(n,p)", "--dtype",
                           "float64", "--max-examples", "5", "--seed", "0", "--json", str(out))
    assert code == cli.EXIT_PASSED
    data = json.loads(out.read_text())
    assert data["status"] == "passed" and data["command"] == "check"
    (result,) = data["results"]
    assert result["rows"]["seed_linearity"] == {**result["rows"]["seed_linearity"], "status": "passed",
                                                "examples": 5}
    assert result["failure"] is None
    assert "seed_linearity" in printed and "dtype float64" in printed


def test_properties_may_name_the_ones_to_leave_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, _, _ = run(capsys, "check", "tests.cli_targets:correct", "--inputs", "(m,n),(n,p)", "--max-examples", "2",
                     "--properties=-second_order,-low_precision", "--json", str(out))
    assert code == cli.EXIT_PASSED
    rows = json.loads(out.read_text())["results"][0]["rows"]
    assert "second_order" not in rows and "low_precision" not in rows and "purity" in rows


def test_check_fails_a_broken_function_with_structured_failure(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, printed, _ = run(capsys, "check", "tests.cli_targets:broken", "--max-examples", "30", "--seed", "0",
                           "--properties", "finite_grads,seed_linearity", "--json", str(out))
    assert code == cli.EXIT_FAILED
    assert "FAILED tests.cli_targets:broken: property seed_linearity" in printed and "How to reproduce" in printed
    # finite_grads ran on the examples before the failure; it was said "not run, 0 examples" (user trial)
    assert "finite_grads             stopped          (the check stopped at the failure above: no tally)" in printed
    data = json.loads(out.read_text())
    assert data["status"] == "failed"
    assert data["results"][0]["rows"]["finite_grads"]["status"] == "stopped"
    failure = data["results"][0]["failure"]
    assert failure["property"] == "seed_linearity" and "not linear in its seed" in failure["detail"]
    assert failure["max_abs_diff"] > 0 and failure["mismatches"][0]["name"] == "grad of input 0"
    assert "seed=0" in failure["replay"]
    compile(failure["repro"], "<repro>", "exec")
    # The command the report ends with runs the same check again, with nothing to define first.
    assert failure["command"] == ("gradprops check tests.cli_targets:broken --inputs '()' --dtype float64 --seed 0 "
                                  "--max-examples 30 --properties=finite_grads,seed_linearity")
    assert f"or run this command again:\n  {failure['command']}" in printed
    code, again, _ = run(capsys, *shlex.split(failure["command"])[1:])
    assert code == cli.EXIT_FAILED and failure["text"] in again


def test_json_has_status_versions_and_no_duplicated_property_data(capsys: pytest.CaptureFixture[str]) -> None:
    import hypothesis
    import torch

    import gradprops

    code, printed, err = run(capsys, "--ops", "sin,sum_dim,kron_transposed", "--properties",
                             "purity,finite_differences", "--max-examples", "2", "--json", "-")
    assert code == cli.EXIT_PASSED
    data = json.loads(printed)  # stdout is the JSON alone; the report went to stderr
    assert data["status"] == "passed"
    assert data["versions"]["gradprops"] == gradprops.__version__
    assert data["versions"]["torch"] == torch.__version__
    assert data["versions"]["hypothesis"] == hypothesis.__version__
    assert data["settings"]["properties"] == ["purity", "finite_differences"]
    assert set(data) == {"status", "command", "versions", "settings", "seconds", "results"}
    rows = {r["name"]: r["rows"] for r in data["results"]}
    assert set(data["results"][0]) == {"name", "kind", "seconds", "rows", "failure"}
    assert rows["sin"]["finite_differences"]["status"] == "passed"
    assert rows["kron_transposed"]["purity"]["status"] in ("expected failure", "unexpected pass")
    assert "sum_dim" in err and "expected failures" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-n", "0"], "-n/--jobs: expected a positive integer, got 0"),
        (["-n", "-3"], "-n/--jobs: expected a positive integer, got -3"),
        (["--max-examples", "0"], "--max-examples: expected a positive integer, got 0"),
        (["--max-examples", "many"], "--max-examples: expected a positive integer, got 'many'"),
        (["--dtype", "float8"], "unknown dtype 'float8': choose from float64, float32, float16, bfloat16"),
        (["--ops", "sum"], "--ops: unknown op 'sum': did you mean sum_all, sum_dim"),
        (["--ops", ","], "--ops is empty"),
        (["--properties", "seed_linerity"], "unknown property 'seed_linerity': did you mean seed_linearity?"),
        (["-n", "2", "--properties", "nosuch"], "unknown property 'nosuch'"),
        (["--json", "/nonexistent/x.json"], "--json /nonexistent/x.json: directory '/nonexistent' does not exist"),
        (["check", "nosuchmodule:f"], "cannot import 'nosuchmodule'"),
        (["check", "tests.cli_targets"], "target must look like package.module:attr"),
        (["check", "tests.cli_targets:nosuch"], "has no attribute 'nosuch'"),
        (["check", "tests.cli_targets:NOT_CALLABLE"], "is a int, not a function"),
        (["check", "tests.cli_targets:correct", "--inputs", "(m,n"], "--inputs: signature='(m,n' is not"),
        (["check", "tests.cli_targets:correct", "--dtype", "int3"], "unknown dtype 'int3'"),
        (["-n", "2", "check", "tests.cli_targets:correct"], "-n/--jobs apply to the catalogue run"),
        (["list", "ops", "--seed", "1"], "unrecognized arguments: --seed 1"),
        (["--seed", "1", "list", "ops"], "'gradprops list' takes no options, got --seed"),
        (["list", "things"], "invalid choice: 'things'"),
    ],
)
def test_usage_errors_exit_2_before_anything_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                  argv: list[str], message: str) -> None:
    monkeypatch.setattr(_runner, "run_job", _must_not_run)
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert message in err, err
    assert "Traceback" not in err and out == ""


def _must_not_run(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a job ran although the arguments were bad")


def test_an_opt_in_property_can_be_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # 'gradprops list properties' says "(opt-in: name it in --properties)"; --properties refused it
    asked: list[Any] = []

    def record(job: Any, **options: Any) -> dict[str, Any]:
        asked.append(options["properties"])
        return {"name": job.name, "kind": job.kind, "seconds": 0.0, "failure": None,
                "rows": {"compiled_matches_eager": {"status": "passed", "examples": 1, "seconds": 0.0}}}

    monkeypatch.setattr(_runner, "run_job", record)
    code, _, err = run(capsys, "--ops", "sin", "--properties", "compiled_matches_eager")
    assert code == 0, err
    assert asked == [["compiled_matches_eager"]]


def test_a_module_that_raises_on_import_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "raises_on_import.py").write_text("x = 1\nraise RuntimeError('no config')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "check", "raises_on_import:f")
    assert code == cli.EXIT_USAGE
    assert "importing 'raises_on_import' raised RuntimeError: no config" in err and "raises_on_import.py:2" in err


def test_a_function_gradprops_cannot_check_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "tests.cli_targets:returns_int", "--max-examples", "2")
    assert code == cli.EXIT_USAGE
    assert "gradprops: error: tests.cli_targets:returns_int: the function under test returned a int" in err
    assert "Traceback" not in err


def test_an_internal_error_exits_3_with_its_traceback(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_runner(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in gradprops")

    monkeypatch.setattr(_runner, "run_job", broken_runner)
    code, _, err = run(capsys, "--ops", "sin")
    assert code == cli.EXIT_INTERNAL
    assert "RuntimeError: a bug in gradprops" in err and "internal error (exit status 3)" in err


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["check", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        for status in ("0    every check passed", "1    a property failed", "2    usage error",
                       "3    internal error", "130  interrupted by SIGINT"):
            assert status in out


@pytest.mark.parametrize("position", ["before", "after"])
def test_options_mean_the_same_before_or_after_check(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     position: str) -> None:
    options = ["--seed", "5", "--max-examples", "3", "--dtype", "float32", "--properties", "purity",
               "--json", str(tmp_path / "r.json")]
    check = ["check", "tests.cli_targets:correct", "--inputs", "(m,n),(n,p)"]
    code, printed, _ = run(capsys, *(options + check if position == "before" else check + options))
    assert code == cli.EXIT_PASSED
    settings = json.loads((tmp_path / "r.json").read_text())["settings"]
    assert (settings["seed"], settings["max_examples"], settings["dtype"], settings["properties"]) == (
        5, 3, "float32", ["purity"])
    assert "seed 5" in printed and "dtype float32" in printed


def test_list_names_every_op_and_property(capsys: pytest.CaptureFixture[str]) -> None:
    from gradprops.app.catalogue import ENTRIES
    from gradprops.properties.registry import OPT_IN, PROPERTIES

    code, out, _ = run(capsys, "list", "ops")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(ENTRIES)
    code, out, _ = run(capsys, "list", "properties")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [p.name for p in (*PROPERTIES, *OPT_IN)]
    assert all("(opt-in" in line for line in out.splitlines()[len(PROPERTIES):])


def test_dtype_and_options_reach_every_job(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def recording(job: _runner.Job, **options: Any) -> dict[str, Any]:
        calls.append((job.name, options))
        return {"name": job.name, "kind": job.kind, "seconds": 0.0, "failure": None,
                "rows": {"purity": {"status": "passed", "examples": 1, "seconds": 0.0}}}

    monkeypatch.setattr(_runner, "run_job", recording)
    code, out, _ = run(capsys, "--ops", "sin,cos", "--dtype", "bfloat16", "--seed", "7", "--properties", "purity")
    assert code == cli.EXIT_PASSED
    expected = {"dtype": "bfloat16", "max_examples": None, "seed": 7, "properties": ["purity"]}
    assert calls == [("sin", expected), ("cos", expected)]
    assert "dtype bfloat16" in out.splitlines()[0] and "dtype bfloat16" in out.splitlines()[-1]


def test_the_whole_run_is_every_entry_then_the_fuzz_jobs(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from gradprops.app.catalogue import ENTRIES

    names: list[str] = []
    monkeypatch.setattr(_runner, "run_job", lambda job, **_: names.append(job.name) or {
        "name": job.name, "kind": job.kind, "seconds": 0.0, "failure": None, "rows": {}})
    monkeypatch.setattr("gc.freeze", lambda: None)  # not this test process's imports
    assert main([]) == cli.EXIT_PASSED
    assert names == [*ENTRIES, *(j.name for j in _runner.FUZZ_JOBS)]
    names.clear()
    assert main(["--no-fuzz"]) == cli.EXIT_PASSED
    assert names == list(ENTRIES)
    capsys.readouterr()


def test_entries_whose_forward_raises_expect_every_registered_property_to_fail() -> None:
    """A property added to the registry is expected to fail on them too (checked in a fresh process)."""
    import subprocess
    import sys

    program = (
        "import dataclasses\n"
        "from gradprops.properties import registry\n"
        "extra = dataclasses.replace(registry.PROPERTIES[0], name='a_tenth_property')\n"
        "registry.PROPERTIES = (*registry.PROPERTIES, extra)\n"
        "from gradprops.app.catalogue import ENTRIES\n"
        "print(sorted(ENTRIES['kron_transposed'].known) == sorted(p.name for p in registry.PROPERTIES))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "True", done.stderr


def test_the_summary_says_how_many_known_failures_did_not_show(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # '34 expected failures' counted 5 that passed in this run's examples (XPASS): said apart now
    def known(job: Any, **options: Any) -> dict[str, Any]:
        rows = {"purity": {"status": "unexpected pass", "examples": 25, "seconds": 0.0, "reason": "r1"},
                "second_order": {"status": "expected failure", "examples": 0, "seconds": 0.0, "reason": "r2"}}
        return {"name": job.name, "kind": job.kind, "seconds": 0.0, "failure": None, "rows": rows}

    monkeypatch.setattr(_runner, "run_job", known)
    code, out, err = run(capsys, "--ops", "sin", "--properties", "purity,second_order")
    assert code == 0
    assert "1 checks, 0 failed, 2 expected failures (1 of them did not show: XPASS)" in out + err


def test_fuzz_only_runs_the_fuzz_jobs_alone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A failing fuzz job's command reran the whole catalogue (162 ops) to get to it (a review).
    out = tmp_path / "r.json"
    code, _, _ = run(capsys, "--fuzz-only", "--max-examples", "2", "--json", str(out))
    assert code == cli.EXIT_PASSED
    assert [r["name"] for r in json.loads(out.read_text())["results"]] == [j.name for j in _runner.FUZZ_JOBS]
    code, _, err = run(capsys, "--fuzz-only", "--ops", "sin")
    assert code == cli.EXIT_USAGE and "--fuzz-only runs the fuzz jobs alone: leave out --ops" in err
