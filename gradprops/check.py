"""``gradprops.check``: draw cases with Hypothesis, run every property on each, shrink a failure."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from torch import Tensor

from gradprops.autodiff import Graph
from gradprops.errors import PropertyFailure, UsageError
from gradprops.properties._common import NotApplicable, findings_as_failures, make_case
from gradprops.properties.registry import Example, Property, select
from gradprops.report import PropertyReport, Report
from gradprops.target import Target, function_name

_HEALTH_CHECKS_OFF = [
    HealthCheck.too_slow,  # a backward is slow; that is not the user's strategy's fault
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.nested_given,  # check() may run inside a user's own @given test
    HealthCheck.function_scoped_fixture,
]


def check(
    fn: Callable[..., Any] | st.SearchStrategy[Callable[..., Any]],
    inputs: st.SearchStrategy[Any] | Tensor | Sequence[Tensor],
    *,
    properties: Sequence[str] | str | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
    settings: hypothesis.settings | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    database_key: bytes | None = None,
) -> Report:
    """Check ``fn``'s backward on generated cases; raise PropertyFailure for the shrunk failure.

    ``fn`` is the function under test, or a strategy of functions (e.g. generated programs, or a
    catalogue op with drawn arguments), drawn first on every example.
    ``inputs`` is a Hypothesis strategy of a tensor or tuple of tensors (usually
    ``gst.inputs(signature)``), or concrete tensors (then only seeds and the like vary). Every
    selected property (default: all that apply) runs on every example; when one fails, Hypothesis
    shrinks the case — shapes, layouts, special values, seeds — to the smallest that still fails.

    The example budget is ``max_examples``, else that of ``settings``, else of the active Hypothesis
    settings profile (``HYPOTHESIS_PROFILE``, ``--hypothesis-profile``; 100 by default). Runs are
    deterministic given ``seed``; with neither a seed nor a derandomizing profile, a seed is drawn
    at random and printed with any failure so it can be replayed.

    A seeded check, like ``@hypothesis.seed``, leaves the example database alone. With
    ``database_key`` (the pytest plugin passes each item's node id) it keys the settings' database
    by it and uses it even when seeded: failures saved by earlier runs, other pytest-xdist workers
    or CI machines are replayed first.

    >>> import torch
    >>> from gradprops import strategies as gst
    >>> report = check(torch.sin, gst.inputs("()"), max_examples=5, seed=0)
    >>> report.ran("seed_linearity")
    5
    """
    selected = select(properties)
    strategy = _as_strategy(inputs)
    base = settings if settings is not None else hypothesis.settings()
    overrides: dict[str, Any] = {
        "deadline": None,  # torch's first calls warm caches; a deadline would flake
        "suppress_health_check": list(set(base.suppress_health_check) | set(_HEALTH_CHECKS_OFF)),
        "report_multiple_bugs": False,  # one PropertyFailure, not an ExceptionGroup
        # Hypothesis' explain phase varies the shrunk case to say which parts matter; its words
        # never reach the PropertyFailure, and it took 20 of the 21 s to report a wrong sin backward.
        "phases": tuple(p for p in base.phases if p != hypothesis.Phase.explain),
    }
    if max_examples is not None:
        if not isinstance(max_examples, int) or max_examples < 1:
            raise UsageError(f"max_examples must be a positive integer, got {max_examples!r}")
        overrides["max_examples"] = max_examples
    run_settings = hypothesis.settings(base, **overrides)
    if seed is None and not run_settings.derandomize:
        seed = random.SystemRandom().getrandbits(32)

    report = Report(
        function=f"drawn from {fn!r}" if isinstance(fn, st.SearchStrategy) else function_name(fn),
        seed=seed,
        max_examples=run_settings.max_examples,
        properties={p.name: PropertyReport(p.name, p.summary, p.needs) for p in selected},
    )
    search = _Search(fn, strategy, run_settings, seed, database_key, rtol, atol)
    started = time.perf_counter()
    try:
        search.run(selected, report)
    except PropertyFailure as failure:
        raise _focused(search, selected, failure) from failure.__cause__
    report.seconds = time.perf_counter() - started
    return report


def _focused(search: _Search, selected: tuple[Property, ...], failure: PropertyFailure) -> PropertyFailure:
    """Search again with only the failing property, and report that failure when it shows one.

    The properties that pass draw seeds and directions too; while Hypothesis shrinks, their draws
    shift with the shape and stall it (a 6-element case instead of 2). Alone, the failing property
    shrinks cleanly, and the replay line names exactly the search that found the reported case.
    """
    names = [p.name for p in selected]
    if len(selected) > 1:
        only = tuple(p for p in selected if p.name == failure.property)
        scratch = Report(function="", seed=search.seed, max_examples=0,
                         properties={p.name: PropertyReport(p.name, p.summary) for p in only})
        try:
            search.run(only, scratch)
        except PropertyFailure as focused:
            failure, names = focused, [focused.property]
    return failure.with_replay(_replay(failure, search.seed, names))


class _Search:
    """One Hypothesis search over examples of ``fn``, running the given properties on each."""

    def __init__(self, fn: Any, strategy: st.SearchStrategy[Any], settings: hypothesis.settings,
                 seed: int | None, database_key: bytes | None, rtol: float | None,
                 atol: float | None) -> None:
        self.fn, self.strategy, self.settings, self.seed = fn, strategy, settings, seed
        self.database_key, self.rtol, self.atol = database_key, rtol, atol

    def run(self, selected: tuple[Property, ...], report: Report) -> None:
        fn, strategy = self.fn, self.strategy

        def one_example(data: st.DataObject) -> None:
            started = time.perf_counter()
            under_test = data.draw(fn, label="function") if isinstance(fn, st.SearchStrategy) else fn
            drawn = data.draw(strategy, label="inputs")
            report.generation_seconds += time.perf_counter() - started
            target = Target(under_test, drawn)
            graph = _probe(target, selected[0].name)

            def timed_draw(s: st.SearchStrategy[Any]) -> Any:
                t0 = time.perf_counter()
                value = data.draw(s)
                report.generation_seconds += time.perf_counter() - t0
                return value

            example = Example(target, graph, timed_draw, rtol=self.rtol, atol=self.atol)
            # Tallied only once the example completes: Hypothesis may reject it part-way (a
            # filtered draw), and then none of its properties ran on a kept example.
            outcomes: list[tuple[PropertyReport, str | None, list[str], float]] = []
            for prop in selected:
                t0 = time.perf_counter()
                try:
                    notes, skip = prop.run(example), None
                except NotApplicable as exc:
                    notes, skip = [], str(exc)
                outcomes.append((report.properties[prop.name], skip, notes, time.perf_counter() - t0))
            report.examples += 1
            for tally, skip, notes, seconds in outcomes:
                tally.seconds += seconds
                if skip is None:
                    tally.examples += 1
                    tally.notes.update(notes)
                else:
                    tally.skipped[skip] += 1

        test = hypothesis.settings(self.settings)(hypothesis.given(st.data())(one_example))
        # Key the example database by what is checked, as hypothesis.stateful does for machines, so
        # that every check() call does not share one entry.
        key = self.database_key or f"{report.function}|{strategy!r}".encode()
        test.hypothesis.inner_test._hypothesis_internal_add_digest = hashlib.sha256(  # type: ignore[attr-defined]
            key + repr([p.name for p in selected]).encode()
        ).digest()
        if self.seed is not None and self.database_key is not None:
            # What @hypothesis.seed sets, without switching the example database off as @seed does.
            test._hypothesis_internal_use_seed = self.seed  # type: ignore[attr-defined]
        elif self.seed is not None:
            test = hypothesis.seed(self.seed)(test)
        test()


def _as_strategy(inputs: Any) -> st.SearchStrategy[Any]:
    if isinstance(inputs, st.SearchStrategy):
        return inputs
    if isinstance(inputs, Tensor) or (
        isinstance(inputs, (tuple, list)) and all(isinstance(x, Tensor) for x in inputs)
    ):
        return st.just(inputs)
    raise UsageError(
        f"inputs must be a Hypothesis strategy (e.g. gst.inputs('(m,n),(n,p)')) or tensors, got "
        f"{type(inputs).__name__}"
    )


def _probe(target: Target, first_property: str) -> Graph:
    """The example's one shared forward (guarded: purity's first check); a raise is a finding."""
    graph = Graph(target, guarded=True)
    case = lambda: make_case(  # noqa: E731
        target, graph.variables, helper_call="gradprops.assert_purity(fn, inputs)  # runs forward too"
    )
    with findings_as_failures(first_property, case):
        graph.outputs  # noqa: B018 (runs forward)
    return graph


def _replay(failure: PropertyFailure, seed: int | None, names: list[str]) -> str:
    how = (
        f"gradprops.check(fn, inputs, seed={seed}, properties={[failure.property]!r})"
        if seed is not None
        else f"gradprops.check(fn, inputs, properties={[failure.property]!r})  # profile is derandomized"
    )
    return (
        f"replay the search (same draws, same shrinking):\n  {how}\n"
        f"or run the helper on the shrunk case:\n"
        + "\n".join("  " + line for line in failure.case.repro(failure.property).splitlines())
    )
