"""Wall times a user waits for: the main job, the test suite, a downstream suite serial and in parallel.

    python benchmarks/wall_times.py                 # main job, downstream serial and -n 2 (about 2 minutes)
    python benchmarks/wall_times.py --no-main-job --downstream-examples 100
    python benchmarks/wall_times.py --suite         # and gradprops' own test suite at -n 2 (3-4 minutes more)

Each command runs in a fresh process, as a user or CI would run it, and is timed from start to exit.
Printed with the hardware, the versions and the load average before each run: on a machine that is
not idle (load above its cores) the figures say more about the neighbours than about gradprops.

- main job: ``gradprops -n 2`` (the catalogue and the fuzz jobs, seed 0);
- downstream: ``examples/downstream``'s tests with the plugin, serial and ``-n 2``, at its own 25
  examples per item and at 100 (where items carry enough work for two workers to pay), each with its
  slowest and median item among those that ran (pytest's JUnit XML; skipped items, a property
  the function cannot have, cost nothing), so a single item's shrinking shows;
- suite: ``pytest -q -n 2 -p no:cacheprovider`` on ``tests/`` (``--suite``), with ``suite_children.py``
  loaded to tell the tests that start Python processes (pytest, the ``gradprops`` command, a replay
  in a new process) from the others, and the floor those processes set: each imports torch.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1


def hardware() -> str:
    from false_alarms import environment  # its sibling: the same description of the machine

    env = environment()
    pytest = subprocess.run([sys.executable, "-m", "pytest", "--version"], capture_output=True, text=True)
    return (f"{env['cpu']}, {env['cores']} cores; Python {env['python']}, torch {env['torch']}, "
            f"Hypothesis {env['hypothesis']}, {pytest.stdout.strip()}, gradprops/ as of {env['gradprops_commit']}")


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str, int]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    print(f"  $ {' '.join(command)}   (in {cwd.relative_to(ROOT) if cwd != ROOT else '.'}; load before: {load:.1f})")
    return took, done.stdout + done.stderr, done.returncode


def item_durations(junit: Path) -> tuple[list[float], int]:
    """Durations of the items that ran (skipped ones cost nothing and would drag the median down),
    and how many were skipped, from pytest's JUnit XML."""
    ran, skipped = [], 0
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            skipped += 1
        else:
            ran.append(float(case.get("time", 0)))
    return ran, skipped


def suite() -> list[tuple[str, float, str]]:
    """The test suite at -n 2, and its counted floor: the Python processes its tests start, each of
    which imports torch (xdist workers too) before it can do anything."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "tests.jsonl"
        env = {**os.environ, "GRADPROPS_SUITE_LOG": str(log),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")]))}
        took, out, code = timed([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
                                 "-p", "suite_children"], ROOT, env=env)
        tests = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    last = next((line for line in reversed(out.splitlines()) if " passed" in line), "no summary line")
    starting = [t for t in tests if t["children"]]
    children = [c for t in starting for c in t["children"]]
    workers = sum(_workers(c["argv"]) for c in children)
    torch_import = min(timed([sys.executable, "-c", "import torch"], ROOT)[0] for _ in range(3))
    floor = (len(children) + workers) * torch_import / CORES
    return [
        ("test suite: pytest -n 2", took, f"rc {code}; {last.strip()}"),
        ("… its tests that start Python processes, summed", sum(t["seconds"] for t in starting),
         f"{len(starting)} tests; {len(children)} processes, {workers} more as their xdist workers; "
         f"the processes took {sum(c['seconds'] for c in children):.0f} s"),
        ("… its other tests, summed", sum(t["seconds"] for t in tests if not t["children"]),
         f"{len(tests) - len(starting)} tests"),
        ("… floor: those processes' torch imports alone", floor,
         f"{len(children) + workers} imports × {torch_import:.2f} s (`python -c 'import torch'`, idle) "
         f"÷ {CORES} cores"),
    ]


def _workers(argv: list[str]) -> int:
    """The pytest-xdist workers a child's command line asks for (``-n N``), 0 for none."""
    for flag, value in itertools.pairwise(argv):
        if flag in ("-n", "--numprocesses") and value.isdigit():
            return int(value)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", action="store_true", help="also time gradprops' own test suite at -n 2")
    parser.add_argument("--downstream-examples", type=int, nargs="*", default=[25, 100],
                        help="--gradprops-max-examples for the downstream runs (its pyproject says 25)")
    parser.add_argument("--no-main-job", action="store_true")
    args = parser.parse_args()
    print(f"# wall times — {time.strftime('%Y-%m-%d %H:%M')}, {hardware()}\n")
    results = []

    if not args.no_main_job:
        took, out, code = timed(["gradprops", "-n", "2"], ROOT)
        summary = next((line for line in out.splitlines() if " checks, " in line and "wall" in line), "no summary")
        results.append(("main job: gradprops -n 2", took, f"rc {code}; {summary.strip()}"))

    downstream = ROOT / "examples" / "downstream"
    for examples in args.downstream_examples:
        runs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):
                junit = Path(tmp) / f"{len(runs)}.xml"
                took, out, code = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                         f"--gradprops-max-examples={examples}", f"--junitxml={junit}", *extra],
                                        downstream)
                items, skipped = item_durations(junit)
                runs[label] = took
                spread = (f"{len(items)} items ran ({skipped} skipped), median {statistics.median(items):.2f} s, "
                          f"slowest {max(items):.2f} s ({max(items) / statistics.median(items):.1f}× the median)"
                          if items else "no item ran")
                results.append((f"examples/downstream, {examples} examples, {label}", took, f"rc {code}; {spread}"))
        results.append((f"examples/downstream, {examples} examples, serial ÷ -n 2", runs["serial"] / runs["-n 2"],
                         "speed-up"))

    if args.suite:
        results += suite()

    print("\n| what | seconds | |\n|---|---:|---|")
    for what, value, note in results:
        shown = f"{value:.2f}×" if note == "speed-up" else f"{value:.1f}"
        print(f"| {what} | {shown} | {'' if note == 'speed-up' else note} |")


if __name__ == "__main__":
    main()
