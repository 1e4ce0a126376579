"""Run one job of the ``gradprops`` command — a catalogue entry, a random-program fuzz or a user's
function — through :func:`gradprops.check` and return plain, JSON-ready results.

Shared by the ``gradprops`` command (in-process, one job at a time) and
:mod:`gradprops.app.catalogue_suite` (the pytest module the command runs under pytest-xdist for
``-n N``), so both produce the same result for the same job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hypothesis
import torch
from hypothesis import Phase
from hypothesis import strategies as st

import gradprops
from gradprops import dtype_names
from gradprops import strategies as gst
from gradprops.app.catalogue import ENTRIES, Entry
from gradprops.errors import PropertyFailure
from gradprops.properties.registry import named, select
from gradprops.strategies.functions import POOL, FunctionOp
from gradprops.target import function_name

#: Examples per catalogue op when ``--max-examples`` is not given: 162 ops × 25 examples × every
#: property, then 2 × 200 random programs — about half a minute with -n 2 on a 2-core machine.
CATALOGUE_EXAMPLES = 25
FUZZ_EXAMPLES = 200  # per program shape (1 input, 2 broadcasting inputs)
FUZZ_MAX_OPS = 6

#: Known failures are confirmed without shrinking: the point is that they still fail, quickly.
_NO_SHRINK = hypothesis.settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)

Strategies = tuple[Any, st.SearchStrategy[Any]]  # (function or strategy of functions, inputs strategy)


@dataclass(frozen=True)
class Job:
    """One thing the command checks: a name, what to draw (given the dtype) and its known failures.

    >>> job = JOBS["sin"]
    >>> (job.kind, job.examples)
    ('unary', 25)
    """

    name: str
    kind: str  # a catalogue kind (unary, reduction, ...), "fuzz" or "function"
    strategies: Callable[[torch.dtype], Strategies]
    examples: int | None  # default budget; None: the active Hypothesis profile's
    #: dtype name -> {property: why it is known to fail in that dtype}
    known: Callable[[str], Mapping[str, str]] = lambda _dtype: {}


def entry_job(entry: Entry) -> Job:
    """The job that checks one catalogue entry."""
    return Job(entry.name, entry.kind, entry.strategies, CATALOGUE_EXAMPLES, entry.known_in)


def fuzz_pool(dtype: torch.dtype) -> tuple[FunctionOp, ...]:
    """The ops a fuzz job builds programs of in ``dtype``: :data:`~gradprops.strategies.functions.POOL`
    without those whose catalogue entry lists a torch finding in that dtype (bfloat16 ``erf``, which
    flushes tiny inputs to 0): a program through one would fail for torch's sake, as the catalogue
    entry does, and the entry already reports it as known.

    >>> [op.name for op in POOL if op not in fuzz_pool(torch.bfloat16)], fuzz_pool(torch.float64) == POOL
    (['erf'], True)
    """
    name = dtype_names.canonical(str(dtype))
    return tuple(op for op in POOL if op.name not in ENTRIES or not ENTRIES[op.name].known_in(name))


def _fuzz_job(n_inputs: int, signature: str) -> Job:
    def strategies(dtype: torch.dtype) -> Strategies:
        return (gst.functions(n_inputs=n_inputs, max_ops=FUZZ_MAX_OPS, ops=fuzz_pool(dtype)),
                gst.inputs(signature, dtype=dtype))

    return Job(f"fuzz: functions(n_inputs={n_inputs}) on {signature}", "fuzz", strategies, FUZZ_EXAMPLES)


#: Random programs of catalogue-like ops: one input, then two broadcasting inputs.
FUZZ_JOBS: tuple[Job, ...] = (_fuzz_job(1, "()"), _fuzz_job(2, "(),()"))

#: Every job the command can run by name: the catalogue's entries, then the fuzz jobs.
JOBS: dict[str, Job] = {**{name: entry_job(e) for name, e in ENTRIES.items()}, **{j.name: j for j in FUZZ_JOBS}}


def run_job(job: Job, *, dtype: str = "float64", max_examples: int | None = None, seed: int = 0,
            properties: Sequence[str] | None = None, check_known: bool = True) -> dict[str, Any]:
    """Check ``job`` on inputs of ``dtype`` (a torch dtype's name) with every selected property;
    known failures are run apart and expected.

    Returns ``{"name", "kind", "seconds", "rows": {property: row}, "failure"}``: a row has
    ``status`` (passed, failed, not run, skipped, expected failure, unexpected pass, or stopped: the
    check stopped at another property's failure before its tally was kept), ``examples``,
    ``seconds``, ``skipped`` (reason -> examples) and, for known failures, ``reason``; ``failure`` is
    ``None`` or :func:`failure_fields` of the shrunk failure.

    >>> run_job(JOBS["sin"], max_examples=2, seed=0)["rows"]["purity"]["status"]
    'passed'
    """
    started = time.perf_counter()
    names = [p.name for p in select(properties)]
    known = job.known(dtype)
    normal = [n for n in names if n not in known]
    examples = max_examples or job.examples
    rows: dict[str, dict[str, Any]] = {}
    failure: dict[str, Any] | None = None
    if normal:
        fn, inputs = job.strategies(getattr(torch, dtype))
        sources: dict[str, str] = {}  # function name as a failure names it -> runnable source
        if isinstance(fn, st.SearchStrategy):
            fn = fn.map(lambda f: _remember_source(f, sources))
        try:
            # normal is every property but the known findings: only those the user named are asked for
            report = gradprops.check(fn, inputs, properties=normal, max_examples=examples, seed=seed,
                                     _requested=named(properties))
        except PropertyFailure as exc:
            failure = failure_fields(exc, source=sources.get(exc.case.function))
            for n in normal:
                # the others ran on the examples before the failure, but a failing check keeps no tally
                rows[n] = {"status": "failed" if n == exc.property else "stopped", "examples": 0, "seconds": 0.0}
        else:
            for n, p in report.properties.items():
                rows[n] = {"status": p.status, "examples": p.examples, "seconds": p.seconds,
                           "skipped": dict(p.skipped)}
    for n in names:
        if n in known:
            rows[n] = _run_known(job, n, dtype, examples, seed) if check_known else {
                "status": "expected failure", "examples": 0, "seconds": 0.0, "reason": known[n]}
    return {"name": job.name, "kind": job.kind, "seconds": time.perf_counter() - started,
            "rows": {n: rows[n] for n in names}, "failure": failure}


def run_entry(entry: Entry, **options: Any) -> dict[str, Any]:
    """:func:`run_job` of a catalogue entry (the tests check entries one by one).

    >>> run_entry(ENTRIES["sin"], max_examples=2, seed=0)["failure"] is None
    True
    """
    return run_job(entry_job(entry), **options)


def _remember_source(f: Any, sources: dict[str, str]) -> Any:
    source = getattr(f, "__gradprops_source__", None)
    if source is not None:
        sources[function_name(f)] = source
    return f


def failure_fields(failure: PropertyFailure, source: str | None = None) -> dict[str, Any]:
    """A PropertyFailure as JSON-ready fields: ``repro`` is Python source that re-runs the property's
    helper on the shrunk case, ``replay`` says how to replay the search, ``text`` is the whole report.

    ``source`` is the drawn function's runnable source, when it was drawn (catalogue ops, fuzzed
    programs).
    """
    return {
        "property": failure.property,
        "detail": failure.detail,
        "function": failure.case.function,
        "source": source,
        "max_abs_diff": failure.max_abs_diff,
        "max_rel_diff": failure.max_rel_diff,
        "mismatches": [
            {"name": m.name, "mismatched": m.mismatched, "numel": m.numel, "worst_index": list(m.worst_index),
             "max_abs_diff": m.max_abs_diff, "max_rel_diff": m.max_rel_diff,
             "allowed_at_worst": m.allowed_at_worst}
            for m in failure.mismatches
        ],
        "repro": failure.case.repro(failure.property),
        "replay": failure.replay,
        "text": str(failure),
    }


def _run_known(job: Job, name: str, dtype: str, max_examples: int | None, seed: int) -> dict[str, Any]:
    fn, inputs = job.strategies(getattr(torch, dtype))
    t0 = time.perf_counter()
    try:
        report = gradprops.check(fn, inputs, properties=[name], max_examples=max(max_examples or 0, 20),
                                 seed=seed, settings=_NO_SHRINK, _requested=())
    except PropertyFailure:
        status, examples = "expected failure", 0
    else:
        status, examples = "unexpected pass", report.ran(name)
    return {"status": status, "examples": examples, "seconds": time.perf_counter() - t0,
            "reason": job.known(dtype)[name]}
