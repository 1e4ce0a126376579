"""benchmarks/false_alarms.py counts what it must: a wrong op as a failure, a correct one not, an op that
torch cannot run in a dtype apart from both (2 ops × 2 examples: seconds); and it runs the main job's
fuzz jobs too, as the gradprops command does."""

from __future__ import annotations

import doctest
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from gradprops.app.catalogue import ENTRIES, Entry
from gradprops.app.runner import FUZZ_JOBS, JOBS, entry_job

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "false_alarms.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("false_alarms", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["false_alarms"] = module  # worker processes pickle its functions by module name
    spec.loader.exec_module(module)
    return module


# forward is x, backward says 2: wrong on every nonempty input, and linear (only an oracle sees it)
PLANTED = entry_job(Entry("planted", "x + (x - x.detach())", "()", "unary", nonempty=True))
# a 1-d input is no matrix: raises in float64 too, so it is a failure there, not "cannot run"
RAISES = entry_job(Entry("raises", "torch.linalg.inv(x)", "(n)", "linalg", nonempty=True))


def test_planted_wrong_op_is_a_failure_and_a_correct_op_is_not(bench: ModuleType) -> None:
    results = bench.run({"sin": JOBS["sin"], "planted": PLANTED}, ["float64"], [0], 2)
    by_op = {r["op"]: r for r in results}
    assert by_op["sin"]["outcome"] == "passed" and by_op["sin"]["examples"] == 2
    assert by_op["planted"]["outcome"] == "failed"
    assert by_op["planted"]["property"] in ("finite_differences", "forward_reverse_adjoint", "chain_rule")
    assert by_op["planted"]["mismatches"][0]["max_abs_diff"] > 0  # its numbers are kept
    summary = bench.summarize(results)["float64"]
    assert (summary["checks"], summary["examples"], summary["failures"]) == (2, 4, 1)
    assert summary["per_10000"] == 2500.0
    text = bench.render(results)
    assert "FAILED: planted / " in text and "/ float64 / seed 0" in text
    assert "python benchmarks/false_alarms.py --ops planted --dtypes float64 --seeds 0 --examples 2" in text
    assert "fn, inputs = JOBS['planted'].strategies(torch.float64)" in text
    # the call that shows the shrunk failure runs the failing property alone, as check()'s own replay line
    assert f"seed=0, max_examples=2, properties={[by_op['planted']['property']]!r})" in text


def test_an_op_torch_cannot_run_in_a_dtype_is_counted_apart(bench: ModuleType) -> None:
    results = bench.run({"inv": JOBS["inv"], "raises": RAISES}, ["float16", "float64"], [0], 2)
    outcome = {(r["op"], r["dtype"]): r["outcome"] for r in results}
    assert outcome == {("inv", "float16"): "cannot run", ("raises", "float16"): "cannot run",
                       ("inv", "float64"): "passed", ("raises", "float64"): "failed"}
    summary = bench.summarize(results)
    assert summary["float16"]["cannot_run_ops"] == ["inv", "raises"]
    assert (summary["float16"]["failures"], summary["float16"]["examples"]) == (0, 0)
    assert summary["float64"]["failures"] == 1
    assert "cannot run in float16 (2 ops)" in bench.render(results)


def test_known_torch_findings_are_left_out_and_counted(bench: ModuleType) -> None:
    [r] = bench.run({"logsigmoid": JOBS["logsigmoid"]}, ["float64"], [0], 1)
    assert r["known"] == ["second_order"] and "second_order" not in r["property_examples"]
    assert bench.summarize([r])["float64"]["known_skipped"] == 1


def test_command_line_with_workers_writes_json(bench: ModuleType, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    code = bench.main(["--ops", "neg,sin", "--seeds", "0-1", "--dtypes", "float32", "--examples", "2",
                       "--jobs", "2", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "cores; Python" in printed and f"torch {torch.__version__}" in printed
    data = json.loads(out.read_text())
    assert data["summary"]["float32"]["examples"] == 8 and data["summary"]["float32"]["failures"] == 0
    assert [(r["op"], r["seed"]) for r in data["results"]] == [("neg", 0), ("sin", 0), ("neg", 1), ("sin", 1)]


def test_bad_arguments_say_what_to_write(bench: ModuleType) -> None:
    assert bench.parse_seeds("12,17,20-22") == [12, 17, 20, 21, 22]
    with pytest.raises(SystemExit, match="0-19"):
        bench.parse_seeds("a-b")
    with pytest.raises(SystemExit, match="unknown dtype 'float8'"):
        bench.main(["--dtypes", "float8"])
    with pytest.raises(SystemExit, match="unknown ops"):
        bench.main(["--ops", "nope"])


def test_docstring_examples(bench: ModuleType) -> None:
    assert doctest.testmod(bench).failed == 0


def test_a_check_whose_process_is_killed_is_an_error_and_the_run_goes_on(bench: ModuleType,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    real = bench.run_one

    def run_one(entry, dtype, seed, examples, properties=None):
        if entry.name == "neg":
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer does
        return real(entry, dtype, seed, examples, properties)

    monkeypatch.setattr(bench, "run_one", run_one)  # the forked processes inherit it
    results = bench.run({"sin": JOBS["sin"], "neg": JOBS["neg"], "cos": JOBS["cos"]}, ["float64"], [0], 2,
                        jobs=2)
    by_op = {r["op"]: r for r in results}
    assert by_op["neg"]["outcome"] == "error" and "killed" in by_op["neg"]["message"]
    assert by_op["sin"]["outcome"] == by_op["cos"]["outcome"] == "passed"


def test_the_fuzz_jobs_run_with_their_own_budget_and_replay_by_their_flag(
        bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fuzz.json"
    assert bench.main(["--fuzz-only", "--seeds", "3", "--examples", "3", "--jobs", "1", "--json", str(out)]) == 0
    assert "0 catalogue ops + 2 fuzz jobs" in capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    assert [(r["op"], r["kind"], r["examples"]) for r in results] == [(j.name, "fuzz", 3) for j in FUZZ_JOBS]
    # without --examples each job gets the command's budget: 200 for a fuzz job, 25 for a catalogue op
    tasks = bench.run({"neg": JOBS["neg"]}, ["float64"], [0], 1)
    assert tasks[0]["examples"] == 1 and JOBS["neg"].examples == 25 and FUZZ_JOBS[0].examples == 200
    failed = {"op": FUZZ_JOBS[1].name, "kind": "fuzz", "dtype": "float32", "seed": 7, "examples": 200,
              "property": "purity"}
    assert bench.replay_command(failed).startswith(
        "python benchmarks/false_alarms.py --fuzz-only --dtypes float32 --seeds 7 --examples 200")


def test_by_default_every_job_of_the_command_runs(bench: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[tuple[str, int]] = []
    monkeypatch.setattr(bench, "run", lambda checked, dtypes, seeds, examples, *a, **k: ran.extend(
        (n, examples or j.examples) for n, j in checked.items()) or [])
    bench.main(["--seeds", "0", "--jobs", "1"])
    assert ran == [(n, j.examples) for n, j in JOBS.items()] and len(ran) == len(ENTRIES) + 2
    ran.clear()
    bench.main(["--no-fuzz", "--seeds", "0", "--jobs", "1"])
    assert [n for n, _ in ran] == list(ENTRIES)
    with pytest.raises(SystemExit):
        bench.main(["--ops", "sin", "--fuzz-only"])  # argparse: not allowed together
    capsys.readouterr()
