"""The broken suite through torch.autograd.gradcheck (slow and fast mode) and gradprops.check.

gradcheck is run as a user would: on one hand-picked float64 input (``torch.randn(3, 4)``; a
(5, 3) batch for the module; 1,000 elements for the one-wrong-entry Function, whose point is a
large input), counting any exception as "caught". gradprops.check runs with its defaults (every
default property, Hypothesis' default example budget, shrinking on) on the inputs strategy the
suite gives each Function. Prints one markdown table.

    python benchmarks/vs_gradcheck.py                  # check's phases: generate, then shrink
    python benchmarks/vs_gradcheck.py --phases detect  # up to the first failing example
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import hypothesis
import torch
from hypothesis import Phase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gradprops
from gradprops import strategies as gst
from tests.broken_suite import BROKEN, CORRECT, Broken

GRADCHECK_INPUTS: dict[str, Callable[[], torch.Tensor]] = {
    "module: wrong weight grad": lambda: torch.randn(5, 3, dtype=torch.float64),
    "one wrong Jacobian entry": lambda: torch.randn(1000, dtype=torch.float64),
}


def gradcheck_input(name: str) -> torch.Tensor:
    torch.manual_seed(0)
    x = GRADCHECK_INPUTS.get(name, lambda: torch.randn(3, 4, dtype=torch.float64))()
    return x.requires_grad_()


def run_gradcheck(b: Broken | None, fn: Callable[..., Any], name: str, fast: bool) -> tuple[bool, float]:
    if b is not None:
        b.reset()
    x = gradcheck_input(name)
    started = time.perf_counter()
    try:
        ok = torch.autograd.gradcheck(fn, (x,), fast_mode=fast)
    except Exception:  # GradcheckError, or the function raising: either way the user sees a failure
        ok = False
    return not ok, time.perf_counter() - started


PHASES = {
    "default": None,  # what check runs: Hypothesis' phases but explain (check leaves that out)
    "detect": [Phase.explicit, Phase.reuse, Phase.generate],
}


def run_check(b: Broken | None, fn: Callable[..., Any], inputs: Any, phases: str) -> tuple[str, float]:
    if b is not None:
        b.reset()
    # The database is off so that a second run does not just replay the first one's failure.
    settings = hypothesis.settings(database=None)
    if PHASES[phases] is not None:
        settings = hypothesis.settings(settings, phases=PHASES[phases])
    started = time.perf_counter()
    try:
        gradprops.check(fn, inputs, seed=0, settings=settings)
        caught = ""
    except gradprops.PropertyFailure as failure:
        caught = failure.property
    return caught, time.perf_counter() - started


def header() -> str:
    cpu = platform.processor() or platform.machine()
    return "\n".join([
        f"Machine: {platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}",
        f"torch {torch.__version__}, hypothesis {hypothesis.__version__}, Python {platform.python_version()}",
        f"Date: {datetime.date.today().isoformat()}",
        "",
    ])


def mark(caught: bool, seconds: float) -> str:
    return f"{'caught' if caught else '**missed**'} ({seconds:.2f}s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", choices=list(PHASES), default="default",
                        help="Hypothesis phases for gradprops.check (default: check's own)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(header())
    print("| broken Function | bug | gradcheck (slow) | gradcheck (fast) | gradprops.check | named property |")
    print("|---|---|---|---|---|---|")
    totals = [0, 0, 0]
    for b in BROKEN:
        fn = b.make()
        slow = run_gradcheck(b, fn, b.name, fast=False)
        fast = run_gradcheck(b, fn, b.name, fast=True)
        prop, seconds = run_check(b, fn, b.inputs(), args.phases)
        totals = [totals[0] + slow[0], totals[1] + fast[0], totals[2] + bool(prop)]
        print(f"| {b.name} | {b.bug} | {mark(*slow)} | {mark(*fast)} | {mark(bool(prop), seconds)} | "
              f"{prop or '-'} |", flush=True)
    n = len(BROKEN)
    print(f"| **total caught** | | **{totals[0]}/{n}** | **{totals[1]}/{n}** | **{totals[2]}/{n}** | |")
    print()
    print("| correct Function | gradcheck (slow) | gradcheck (fast) | gradprops.check |")
    print("|---|---|---|---|")
    for name, fn in CORRECT.items():
        slow = run_gradcheck(None, fn, name, fast=False)
        fast = run_gradcheck(None, fn, name, fast=True)
        prop, seconds = run_check(None, fn, gst.inputs("()"), args.phases)
        alarm = f"**false alarm: {prop}**" if prop else "passed"
        print(f"| {name} | {'**false alarm**' if slow[0] else 'passed'} ({slow[1]:.2f}s) | "
              f"{'**false alarm**' if fast[0] else 'passed'} ({fast[1]:.2f}s) | {alarm} ({seconds:.2f}s) |",
              flush=True)
    print()
    phases = {"default": "shrinking included", "detect": "stopping at the first failing example"}
    print(f"gradprops.check: defaults (Hypothesis' {hypothesis.settings().max_examples} examples, every default "
          f"property), seed=0, database off, {phases[args.phases]}. gradcheck: one input, torch.randn(3, 4) "
          "float64 unless noted, differentiating the input only.")

if __name__ == "__main__":
    main()
