"""Run one catalogue entry (or one function) through gradprops.check and return plain results.

Shared by the ``gradprops`` command (in-process, one job) and :mod:`gradprops._catalogue_suite`
(the pytest module the command runs under pytest-xdist for ``-n N``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import hypothesis
from hypothesis import Phase

import gradprops
from gradprops.catalogue import Entry
from gradprops.errors import PropertyFailure
from gradprops.properties.registry import select

#: Known failures are confirmed without shrinking: the point is that they still fail, quickly.
_NO_SHRINK = hypothesis.settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)


def run_entry(entry: Entry, *, max_examples: int, seed: int, properties: Sequence[str] | None = None,
              check_known: bool = True) -> dict[str, Any]:
    """Check ``entry`` with every selected property; known failures are run apart and expected.

    Returns ``{"name", "seconds", "report" (Report.to_dict() or None), "rows": {property: row},
    "failure": text or None}`` where a row has ``status`` (passed, failed, skipped, expected
    failure, unexpected pass), ``examples`` and ``seconds``.

    >>> from gradprops.catalogue import ENTRIES
    >>> run_entry(ENTRIES["sin"], max_examples=2, seed=0)["rows"]["purity"]["status"]
    'passed'
    """
    started = time.perf_counter()
    names = [p.name for p in select(properties)]
    normal = [n for n in names if n not in entry.known]
    fn, inputs = entry.strategies()
    result: dict[str, Any] = {"name": entry.name, "kind": entry.kind, "report": None, "failure": None,
                              "rows": {}}
    if normal:
        try:
            report = gradprops.check(fn, inputs, properties=normal, max_examples=max_examples, seed=seed)
        except PropertyFailure as failure:
            result["failure"] = str(failure)
            for n in normal:
                status = "failed" if n == failure.property else "not run"
                result["rows"][n] = {"status": status, "examples": 0, "seconds": 0.0}
        else:
            result["report"] = report.to_dict()
            for n, p in report.properties.items():
                result["rows"][n] = {"status": p.status, "examples": p.examples, "seconds": p.seconds,
                                     "skipped": dict(p.skipped)}
    for n in names:
        if n in entry.known:
            result["rows"][n] = _run_known(entry, n, max_examples, seed) if check_known else {
                "status": "expected failure", "examples": 0, "seconds": 0.0, "reason": entry.known[n]}
    result["rows"] = {n: result["rows"][n] for n in names}
    result["seconds"] = time.perf_counter() - started
    return result


def _run_known(entry: Entry, name: str, max_examples: int, seed: int) -> dict[str, Any]:
    fn, inputs = entry.strategies()
    t0 = time.perf_counter()
    try:
        report = gradprops.check(fn, inputs, properties=[name], max_examples=max(max_examples, 20), seed=seed,
                                 settings=_NO_SHRINK)
    except PropertyFailure:
        status, examples = "expected failure", 0
    else:
        status, examples = "unexpected pass", report.ran(name)
    return {"status": status, "examples": examples, "seconds": time.perf_counter() - t0,
            "reason": entry.known[name]}
