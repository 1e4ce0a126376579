"""benchmarks/wall_times.py --suite splits the suite by what it must: the tests that start Python
processes (and the xdist workers those ask for) apart from the others, through suite_children.py."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

pytest_plugins = ["pytester"]

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_workers_a_childs_command_line_asks_for() -> None:
    workers = _load("wall_times")._workers
    assert workers(["-m", "pytest", "-q", "-n", "2", "tests"]) == 2
    assert workers(["-m", "gradprops", "--numprocesses", "3"]) == 3
    assert workers(["-m", "pytest", "-n", "auto"]) == 0  # not counted: the floor stays a floor
    assert workers(["-c", "import torch"]) == 0


def test_the_plugin_logs_each_test_with_the_python_processes_it_started(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_two="""
        import subprocess, sys

        def test_starts_one():
            subprocess.run([sys.executable, "-c", "pass"], check=True)

        def test_starts_none():
            subprocess.run(["true"], check=True)  # not Python: not counted
    """)
    log = pytester.path / "tests.jsonl"
    monkeypatch.setenv("GRADPROPS_SUITE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(BENCHMARKS), os.environ.get("PYTHONPATH")])))
    result = pytester.runpytest_subprocess("-p", "suite_children", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    tests = {row["test"].split("::")[1]: row for row in map(json.loads, log.read_text().splitlines())}
    assert set(tests) == {"test_starts_one", "test_starts_none"}
    [child] = tests["test_starts_one"]["children"]
    assert child["argv"] == ["-c", "pass"] and 0 < child["seconds"] <= tests["test_starts_one"]["seconds"]
    assert tests["test_starts_none"]["children"] == []
