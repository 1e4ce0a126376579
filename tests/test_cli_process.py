"""The ``gradprops`` executable as a user runs it: exit statuses, signals, and the pytest-xdist child.

Each test starts ``python -m gradprops`` (the same ``main`` as the ``gradprops`` script) in a
subprocess; the signal tests then signal it as a terminal or a supervisor would and check that no
process of its pytest-xdist run is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Eight ops at 150 examples each: the first ends in seconds, all of them take a minute or more, so
# a signal sent when the first is done lands mid-run.
LONG_RUN = ["--ops", "sin,cos,tan,exp,tanh,sigmoid,softplus,atan", "--max-examples", "150"]


def gradprops(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gradprops", *argv], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_exit_statuses_of_the_executable(tmp_path: Path) -> None:
    usage = gradprops("--ops", "sum")
    out, err = usage.communicate(timeout=120)
    assert usage.returncode == 2 and "unknown op 'sum'" in err and "Traceback" not in err
    failing = gradprops("check", "tests.cli_targets:broken", "--properties", "seed_linearity", "--json", "-")
    out, err = failing.communicate(timeout=300)
    assert failing.returncode == 1, err
    data = json.loads(out)
    assert data["status"] == "failed"
    compile(data["results"][0]["failure"]["repro"], "<repro>", "exec")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive_in_group(pgid: int) -> list[str]:
    """Processes of process group ``pgid`` that are still running (zombies excluded)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(f"{entry.name} {fields[0]}")
    return alive


def _wait_for_progress(proc: subprocess.Popen[str]) -> list[str]:
    """Lines up to the first finished job's progress line."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(("  ok ", "  FAILED ")):
            return lines
    raise AssertionError(f"no progress line; stderr:\n{proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_xdist_run_prints_what_finished_and_leaves_no_process(
        tmp_path: Path, signum: int, status: int) -> None:
    out = tmp_path / "r.json"
    proc = gradprops("-n", "2", *LONG_RUN, "--json", str(out))
    try:
        first = _wait_for_progress(proc)
        (controller,) = _children(proc.pid)
        assert len(_alive_in_group(controller)) >= 3  # the pytest controller and its two workers
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    printed = "".join(first) + rest
    assert f"interrupted by {signal.Signals(signum).name}" in printed and "of 8 jobs finished" in printed
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    data = json.loads(out.read_text())
    assert data["status"] == "interrupted" and 1 <= len(data["results"]) < 8
    deadline = time.monotonic() + 10
    while _alive_in_group(controller) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive_in_group(controller) == []


def test_ctrl_c_in_process_prints_what_finished_and_exits_130() -> None:
    proc = gradprops(*LONG_RUN)
    try:
        first = _wait_for_progress(proc)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    printed = "".join(first) + rest
    assert "interrupted by SIGINT" in printed and "1 checks, 0 failed" in printed
    assert "Traceback" not in err


SITECUSTOMIZE = """
import os, sys
if "GRADPROPS_RUN" in os.environ:  # only in the pytest-xdist run the command starts
    sys.stderr.write("noise " * 50_000)  # 300 KB: a pipe nobody reads holds 64 KiB
    sys.stderr.flush()
"""


def test_a_child_that_writes_much_to_stderr_does_not_block_the_run(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = gradprops("-n", "2", "--ops", "sin", "--max-examples", "2", "--dtype", "float32", env=env)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "1 checks, 0 failed" in out and "dtype float32" in out


MASKED = """
import os, signal, sys, time
from gradprops.app import cli, runner as _runner

def masked(job, **options):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in here
    finally:
        os.kill(os.getpid(), signal.SIGINT)  # a second signal, while the first one unwinds
        raise AssertionError("a library's cleanup replaced the interrupt")  # as Hypothesis' can

_runner.run_job = masked
sys.exit(cli.main(["--ops", "sin,cos"]))
"""


def test_an_interrupt_that_library_code_turns_into_another_exception_is_still_an_interrupt() -> None:
    done = subprocess.run([sys.executable, "-c", MASKED], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, done.stderr
    assert "interrupted by SIGTERM: 0 of 2 jobs finished" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_xdist_run_that_ends_early_is_an_internal_error_with_its_output(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        "import os, sys\nif 'GRADPROPS_RUN' in os.environ:\n    sys.exit('the child broke before any job')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = gradprops("-n", "2", "--ops", "sin,cos", env=env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert "the child broke before any job" in err and "ended after 0 of 2 jobs" in err
