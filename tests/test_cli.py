"""The ``gradprops`` command: check a user's function, the catalogue, JSON output, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradprops.cli import main


def test_check_passes_a_correct_function(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code = main(["check", "tests.cli_targets:correct", "--inputs", "(m,n),(n,p)", "--dtype", "float64",
                 "--max-examples", "5", "--seed", "0", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["status"] == "passed"
    assert data["report"]["properties"]["seed_linearity"]["status"] == "passed"
    assert "seed_linearity" in capsys.readouterr().out


def test_check_fails_a_broken_function_and_prints_the_failure(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code = main(["check", "tests.cli_targets:broken", "--max-examples", "30", "--seed", "0",
                 "--properties", "seed_linearity", "--json", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAILED tests.cli_targets:broken" in printed and "seed_linearity" in printed
    assert "How to reproduce" in printed or "reproduce" in printed
    assert json.loads(out.read_text())["failures"][0]["property"] == "seed_linearity"


def test_catalogue_subset_with_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    code = main(["--ops", "sin,sum_dim,kron_transposed", "--properties", "purity,finite_differences",
                 "--max-examples", "2", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    rows = {r["name"]: r["rows"] for r in data["results"]}
    assert rows["sin"]["finite_differences"]["status"] == "passed"
    assert rows["kron_transposed"]["purity"]["status"] in ("expected failure", "unexpected pass")
    printed = capsys.readouterr().out
    assert "sum_dim" in printed and "expected failures" in printed
