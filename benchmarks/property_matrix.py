"""Which property catches which broken Function, each property run alone; and how often each one
runs (passes) or skips on the correct Functions. Prints two markdown tables.

    python benchmarks/property_matrix.py
"""

from __future__ import annotations

import os
import sys
import time

import hypothesis
import torch
from hypothesis import Phase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gradprops
from gradprops import strategies as gst
from gradprops.properties.registry import PROPERTIES
from tests.broken_suite import BROKEN, CORRECT

DETECT = hypothesis.settings(max_examples=50, database=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def main() -> None:
    torch.set_num_threads(1)
    names = [p.name for p in PROPERTIES]
    short = {n: n.replace("_matches_", "=").replace("forward_reverse_", "") for n in names}
    started = time.perf_counter()
    print("| broken Function | " + " | ".join(short[n] for n in names) + " |")
    print("|---|" + "---|" * len(names))
    caught = dict.fromkeys(names, 0)
    for b in BROKEN:
        cells = []
        for n in names:
            b.reset()
            try:
                report = gradprops.check(b.make(), b.inputs(), properties=[n], seed=0, settings=DETECT)
            except gradprops.PropertyFailure:
                cells.append("**caught**")
                caught[n] += 1
            else:
                p = report.properties[n]
                cells.append("skipped" if p.status == "skipped" else "-")
        print(f"| {b.name} | " + " | ".join(cells) + " |", flush=True)
    print("| **caught** | " + " | ".join(f"**{caught[n]}/{len(BROKEN)}**" for n in names) + " |")
    print()
    print("| correct Function (50 examples) | " + " | ".join(short[n] for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for name, fn in CORRECT.items():
        report = gradprops.check(fn, gst.inputs("()"), seed=0, settings=DETECT)
        cells = [f"{p.examples} passed" + (f", {sum(p.skipped.values())} skipped" if p.skipped else "")
                 for p in report.properties.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n({time.perf_counter() - started:.0f}s; each property alone, 50 examples, no shrinking, seed 0)")


if __name__ == "__main__":
    main()
