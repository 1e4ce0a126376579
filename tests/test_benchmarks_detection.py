"""benchmarks/detection.py counts what it must: a correct Function is never caught, a planted narrow-dtype
error far beyond rounding always is, and the table says by which property (two checks: seconds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "detection.py"


def load():
    spec = importlib.util.spec_from_file_location("detection", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["detection"] = module
    spec.loader.exec_module(module)
    return module


def test_a_correct_function_is_not_caught_and_a_far_wrong_one_is(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load()
    rows = bench.run(["sin"], [torch.bfloat16], [0.0, 0.2], [0])
    assert [(r["error"], r["caught"]) for r in rows] == [(0.0, 0), (0.2, 1)]
    assert rows[1]["by"] == {"low_precision": 1}  # only the narrow path is wrong: only it can see
    assert bench.main(["--functions", "sin", "--dtypes", "float16", "--errors", "0.2", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "| sin | float16 | 20% | 1 of 1 | low_precision 1 |" in out


def test_bad_arguments_say_what_to_write() -> None:
    with pytest.raises(SystemExit, match="--dtypes of float16, bfloat16"):
        load().main(["--dtypes", "float64"])
