"""The loop behind ``gradprops.check``: draw cases with Hypothesis, run every property, shrink a failure."""

from __future__ import annotations

import datetime
import hashlib
import random
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import hypothesis
import torch
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure, FlakyStrategyDefinition
from hypothesis.reporting import current_reporter, with_reporter
from torch import Tensor

from gradprops.autodiff import Graph
from gradprops.compare import compare
from gradprops.errors import NotChecked, PropertyFailure, UsageError, findings_hidden
from gradprops.properties._common import (
    CASES_WATCH_NARROWING,
    PRECISION_LOST,
    findings_as_failures,
    make_case,
    narrowing_said,
    raise_if_parameters_read_elsewhere,
    tolerance_for,
)
from gradprops.properties.compiled import BACKENDS, backend_names, checked_backends
from gradprops.properties.compiled import NAME as COMPILED
from gradprops.properties.registry import Example, Property, named, select
from gradprops.properties.vmap import NAME as VMAP
from gradprops.report import PropertyReport, Report
from gradprops.signals import FunctionRaised, NoOutputToCheck, NotApplicable, Unsupported
from gradprops.strategies.values import SEEDS
from gradprops.target import Inputs, Target, function_name
from gradprops.tolerances import resolve_tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

# Hypothesis internals, typed Any: _NoLocalConstants.patchable() checks at run time what is there, and
# stands in for them (a plain dict for its LRUCache).
_providers: Any
_engine: Any
try:  # tests/test_reproducible.py fails if a Hypothesis upgrade moves them
    from hypothesis.internal.conjecture import engine as _engine
    from hypothesis.internal.conjecture import providers as _providers
    from hypothesis.internal.constants_ast import Constants as _Constants
except ImportError:  # pragma: no cover - then seeded searches may depend on the process' modules
    _providers = _engine = None

#: Seconds Hypothesis may spend shrinking one failure (its own limit is five minutes). A large
#: failing case costs a forward and backward per shrink step, and shrinking one for minutes made a
#: single test of a suite take 94 s; past this the case found so far is reported, marked partly
#: shrunk, and the example database resumes shrinking from it on the next run.
SHRINK_SECONDS = 20.0

_HEALTH_CHECKS_OFF = [
    HealthCheck.too_slow,  # a backward is slow; that is not the user's strategy's fault
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.nested_given,  # check() may run inside a user's own @given test
    HealthCheck.function_scoped_fixture,
]


#: Hypothesis' own default deadline. A check runs every property on an example — a dozen forwards
#: and backwards — and torch's first calls warm caches, so this default would flake; a deadline
#: that settings or a profile set to anything else is the caller's choice, and applies.
HYPOTHESIS_DEFAULT_DEADLINE = datetime.timedelta(milliseconds=200)

#: How a failure that did not repeat itself begins its detail (see :func:`_nondeterministic`).
NONDETERMINISTIC = "the function under test is not deterministic"


def check(
    fn: Callable[..., Any] | st.SearchStrategy[Callable[..., Any]],
    inputs: st.SearchStrategy[Any] | Inputs,
    *,
    properties: Sequence[str] | str | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
    settings: hypothesis.settings | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    reference: Callable[..., Any] | None = None,
    compile_backends: Sequence[str | Callable[..., Any]] = BACKENDS,
    database_key: bytes | None = None,
    examples: Sequence[Inputs] = (),
    _requested: Collection[str] | None = None,
    _inputs_source: str | None = None,
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
    deterministic given ``seed`` (an int), whatever else the process imported; with neither a seed
    nor a derandomizing profile, a seed is drawn at random and printed with any failure so it can
    be replayed. A deadline that ``settings`` or the profile set applies to each example (all its
    properties); Hypothesis' own default of 200 ms does not, as torch's first calls would flake it.

    A function whose outputs differ between calls on the same inputs (``torch.rand``, dropout in
    training mode) fails with a PropertyFailure whose detail begins with :data:`NONDETERMINISTIC`.

    ``reference`` is a plain PyTorch version of ``fn`` (the composite a fast kernel replaces), taking
    the same inputs: ``low_precision`` then takes the float64 answer from it and bounds ``fn``'s
    error in a narrow dtype by the reference's own error in that dtype (see
    :func:`gradprops.assert_low_precision`). Outputs of other shapes are a UsageError.

    ``compile_backends`` are the ``torch.compile`` backends the opt-in ``compiled_matches_eager``
    compares with eager (names, or backend callables ``(gm, example_inputs) -> callable``).

    A property named in ``properties`` that ran on no example (the function cannot have it: no
    forward AD, no second device, inputs not float64) is said as a :class:`~gradprops.NotChecked`
    warning; ``vmap`` named for a custom Function that cannot run under vmap is a failure.
    (``_requested`` is the pytest plugin's: each item runs one property, named by the user or not;
    so is ``_inputs_source``, the expression that made its inputs, which the replay line writes out.)

    ``examples`` pins cases that are always checked first, before anything is drawn (a known
    regression, a case from a bug report): each is concrete inputs, as a helper takes them, and is
    run for :data:`PINNED_EXAMPLES` examples, with seeds and directions drawn afresh each time.

    A seeded check, like ``@hypothesis.seed``, leaves the example database alone. With
    ``database_key`` (bytes; the pytest plugin passes each item's node id) it keys the settings'
    database by it and uses it even when seeded: failures saved by earlier runs, other pytest-xdist
    workers or CI machines are replayed first.

    >>> import torch
    >>> from gradprops import strategies as gst
    >>> report = check(torch.sin, gst.inputs("()"), max_examples=5, seed=0)
    >>> report.ran("seed_linearity")
    5
    """
    selected = _selected(properties)
    strategy = _as_strategy(inputs)
    _check_arguments(max_examples, seed, settings, rtol, atol, reference, database_key)
    base = settings if settings is not None else hypothesis.settings()
    overrides: dict[str, Any] = {
        "deadline": None if base.deadline == HYPOTHESIS_DEFAULT_DEADLINE else base.deadline,
        "suppress_health_check": list(set(base.suppress_health_check) | set(_HEALTH_CHECKS_OFF)),
        "report_multiple_bugs": False,  # one PropertyFailure, not an ExceptionGroup
        # Hypothesis' explain phase varies the shrunk case to say which parts matter; its words
        # never reach the PropertyFailure, and it took 20 of the 21 s to report a wrong sin backward.
        "phases": tuple(p for p in base.phases if p != hypothesis.Phase.explain),
    }
    if max_examples is not None:
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
    given = settings is not None
    pinned_settings = hypothesis.settings(run_settings, max_examples=PINNED_EXAMPLES)
    given_options = _Options(rtol, atol, reference, checked_backends(compile_backends),
                             named(properties) if _requested is None else frozenset(_requested))
    searches = [(_Search(fn, st.just(case), pinned_settings, seed, None, given_options),
                 _Replay(seed, PINNED_EXAMPLES, given_options, settings_given=given, inputs=f"examples[{k}]"))
                for k, case in enumerate(pinned(examples))]
    searches.append((_Search(fn, strategy, run_settings, seed, database_key, given_options),
                     _Replay(seed, run_settings.max_examples, given_options, settings_given=given,
                             inputs=_inputs_source or "inputs")))
    started = time.perf_counter()
    stops_before = _bounded_shrinking.stops
    for search, replay in searches:
        try:
            search.run(selected, report)
        except PropertyFailure as failure:
            if isinstance(failure.__cause__, NoOutputToCheck) and not search.checkable:
                raise UsageError(f"{failure.__cause__} (on every example tried; the smallest: "
                                 f"{failure.case.render()})") from None
            if search.failed_target is not None:
                raise_if_parameters_read_elsewhere(search.failed_target, failure)
            focused = _focused(search, selected, failure, replay)
            if _bounded_shrinking.stops > stops_before:
                focused.case.extras[SHRINKING] = (
                    f"stopped after {SHRINK_SECONDS:g} s (gradprops.checking.SHRINK_SECONDS), so this case may "
                    "not be the smallest; run again with the example database on and shrinking resumes from it")
                focused.with_replay(focused.replay)  # renders the message again
            raise _with_narrowing(focused, search.failed_target).as_raised_to_the_caller() from failure.__cause__
    report.seconds = time.perf_counter() - started
    # (The pytest plugin, which passes _requested, reports such a property as a skipped item itself.)
    for name in sorted(given_options.requested & report.properties.keys()) if _requested is None else ():
        tally = report.properties[name]
        if tally.examples == 0 and tally.skipped:
            warnings.warn(NotChecked(
                f"{name} was asked for but ran on no example: "
                + "; ".join(f"{reason} ({count}×)" for reason, count in tally.skipped.items())), stacklevel=2)
    return report


#: Examples each pinned case (``check(examples=...)``) runs for: the case stays, seeds and
#: directions are drawn afresh on each.
PINNED_EXAMPLES = 10


def pinned(examples: Any) -> list[Any]:
    """``examples`` validated as a list of concrete inputs (a UsageError otherwise)."""
    if not isinstance(examples, (list, tuple)) or any(isinstance(e, st.SearchStrategy) for e in examples):
        raise UsageError(
            f"examples must be a list of concrete inputs (each a tensor, a tuple or a dict of them, as the "
            f"helpers take), got {examples!r}: e.g. examples=[(torch.tensor([0.0, 1e-8], dtype=torch.float64, "
            "requires_grad=True),)]"
        )
    for case in examples:
        _as_strategy(case)  # a UsageError for anything that is not inputs
    return list(examples)


def _selected(properties: Any) -> tuple[Property, ...]:
    if properties is not None and not isinstance(properties, (str, list, tuple)):
        raise UsageError(
            f"properties must be None (every property), a name, a comma-separated string of names or "
            f"a list of names, got {properties!r} ({type(properties).__name__}): e.g. "
            "properties=['seed_linearity']"
        )
    return select(properties)


def _check_arguments(max_examples: Any, seed: Any, settings: Any, rtol: Any, atol: Any, reference: Any,
                     database_key: Any) -> None:
    """Refuse what check() cannot use, before any example runs."""
    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        raise UsageError(f"max_examples must be a positive integer, got {max_examples!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UsageError(
            f"seed must be an integer (or None for a random one that failures print), got {seed!r} "
            f"({type(seed).__name__}): e.g. seed=0"
        )
    if settings is not None and not isinstance(settings, hypothesis.settings):
        raise UsageError(
            f"settings must be a hypothesis.settings, got {settings!r} ({type(settings).__name__}): e.g. "
            "settings=hypothesis.settings(max_examples=200), or hypothesis.settings.get_profile('ci') "
            "for a profile"
        )
    if database_key is not None and not isinstance(database_key, bytes):
        raise UsageError(
            f"database_key must be bytes, got {database_key!r} ({type(database_key).__name__}): e.g. "
            "database_key=b'my-check', or a name's .encode()"
        )
    resolve_tolerance(torch.float64, rtol, atol)  # raises a UsageError for a bad rtol or atol
    if reference is not None and not callable(reference):
        raise UsageError(
            f"reference must be a callable taking the same inputs as fn (a plain PyTorch version of it), got "
            f"{reference!r} ({type(reference).__name__})"
        )


@dataclass(frozen=True)
class _Options:
    """What the caller gave every property of a check: tolerances and a reference function."""

    rtol: float | None = None
    atol: float | None = None
    reference: Callable[..., Any] | None = None
    compile_backends: tuple[str | Callable[..., Any], ...] = BACKENDS
    requested: frozenset[str] = frozenset()  # named by the caller: a property that cannot run is a warning


def _with_narrowing(failure: PropertyFailure, target: Target | None) -> PropertyFailure:
    """``failure`` with its case naming the float64 function's narrower steps, if it has any.

    Looked for once, on the example the search ended with, rather than on every failing example
    Hypothesis tried while shrinking (one more forward and backward each). low_precision's own
    finding about those steps names them already.
    """
    if target is None or PRECISION_LOST in failure.case.extras or "narrower steps" in failure.detail:
        return failure
    said = narrowing_said(target)
    if said is None:
        return failure
    failure.case.narrower_steps = bool(said)
    if said:
        failure.case.extras[PRECISION_LOST] = said
    failure.with_replay(failure.replay)  # renders the message again (its Kind lines depend on it)
    return failure


def _focused(search: _Search, selected: tuple[Property, ...], failure: PropertyFailure,
             replay: _Replay) -> PropertyFailure:
    """Search again with only the failing property, and report that failure when it shows one.

    The properties that pass draw seeds and directions too; while Hypothesis shrinks, their draws
    shift with the shape and stall it (a 6-element case instead of 2). Alone, the failing property
    shrinks cleanly. When that search finds nothing (the case needed the others' draws), the first
    failure stands, and the replay line names every property of the search that found it.
    """
    names = [p.name for p in selected]
    if len(selected) > 1 and not failure.detail.startswith(NONDETERMINISTIC):
        only = tuple(p for p in selected if p.name == failure.property)
        scratch = Report(function="", seed=search.seed, max_examples=0,
                         properties={p.name: PropertyReport(p.name, p.summary) for p in only})
        try:
            search.run(only, scratch)
        except PropertyFailure as focused:
            failure, names = focused, [focused.property]
    return failure.with_replay(replay.render(failure, names))


class _Search:
    """One Hypothesis search over examples of ``fn``, running the given properties on each."""

    def __init__(self, fn: Any, strategy: st.SearchStrategy[Any], settings: hypothesis.settings,
                 seed: int | None, database_key: bytes | None, options: _Options) -> None:
        self.fn, self.strategy, self.settings, self.seed = fn, strategy, settings, seed
        self.nondeterminism: PropertyFailure | None = None  # the first such finding of this search
        # property -> why the function cannot have it (no forward AD, no double backward): found on
        # one example, it holds for every example of a fixed function, so it is not tried again.
        self.unsupported: dict[str, str] = {}
        self.failed_target: Target | None = None  # the last example a property failed on
        self.checkable = 0  # examples whose outputs could be checked (a function may return None on some)
        self.database_key, self.options = database_key, options

    def run(self, selected: tuple[Property, ...], report: Report) -> None:
        fn, strategy = self.fn, self.strategy

        def one_example(data: st.DataObject) -> None:
            started = time.perf_counter()
            under_test = data.draw(fn, label="function") if isinstance(fn, st.SearchStrategy) else fn
            drawn = data.draw(strategy, label="inputs")
            report.generation_seconds += time.perf_counter() - started
            if all(p.name in self.unsupported for p in selected):
                # Nothing selected can run on this function: skip the forward too. The draw is what
                # the skipped properties' shared generator takes, so that replays draw alike.
                data.draw(SEEDS)
                report.examples += 1
                for prop in selected:
                    report.properties[prop.name].skipped[self.unsupported[prop.name]] += 1
                return
            target = Target(under_test, drawn)
            graph = _probe(target, selected[0].name)
            self.checkable += 1

            def timed_draw(s: st.SearchStrategy[Any]) -> Any:
                t0 = time.perf_counter()
                value = data.draw(s)
                report.generation_seconds += time.perf_counter() - t0
                return value

            example = Example(target, graph, timed_draw, rtol=self.options.rtol, atol=self.options.atol,
                              reference=self.options.reference, compile_backends=self.options.compile_backends,
                              requested=self.options.requested, drawn_function=isinstance(fn, st.SearchStrategy))
            # Tallied only once the example completes: Hypothesis may reject it part-way (a
            # filtered draw), and then none of its properties ran on a kept example.
            outcomes: list[tuple[PropertyReport, str | None, list[str], float]] = []
            for prop in selected:
                t0 = time.perf_counter()
                try:
                    if prop.name in self.unsupported:
                        example.shared_generator()  # what the property would draw, so that replays draw alike
                        raise Unsupported(self.unsupported[prop.name])
                    notes, skip = prop.run(example), None
                except Unsupported as exc:
                    notes, skip = [], str(exc)
                    if not isinstance(fn, st.SearchStrategy):  # a drawn function may well support it
                        self.unsupported[prop.name] = skip
                except NotApplicable as exc:
                    notes, skip = [], str(exc)
                except PropertyFailure as failure:
                    self.failed_target = target
                    differs = _forward_differs(target, graph, failure)
                    found = failure if differs is None else differs
                    if found.detail.startswith(NONDETERMINISTIC):
                        self.nondeterminism = found  # a replay that draws less then is this finding
                    if differs is None:
                        raise
                    raise differs from failure
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
        watching = CASES_WATCH_NARROWING.set(False)  # check() adds that line to the final report
        try:
            with _without_local_constants(), _bounded_shrinking():
                test()
        except (FlakyFailure, FlakyStrategyDefinition) as flaky:
            if isinstance(flaky, FlakyStrategyDefinition) and self.nondeterminism is not None:
                # The function's randomness ended a replay early (purity saw it), not the strategy's.
                raise self.nondeterminism from flaky
            explained = _did_not_repeat(flaky)
            if explained is flaky:
                raise
            raise explained from flaky
        finally:
            CASES_WATCH_NARROWING.reset(watching)


def _forward_differs(target: Target, graph: Graph, failure: PropertyFailure) -> PropertyFailure | None:
    """A property failed: the failure that says so if forward, run twice more on the same inputs, differs.

    Every property compares several calls of the function, so a forward that draws random numbers
    fails one of them with a message about grads. Two more calls, not one, so that state that
    alternates between calls shows too. Tolerances are the dtype's defaults, so rounding that varies
    between calls (memory alignment in BLAS) does not count; dropout's does.
    """
    if failure.detail.startswith(NONDETERMINISTIC) or _out_of_memory(failure) is not None:
        return None
    first = tuple(o.detach() for o in graph.outputs)
    tolerance = tolerance_for(graph.variables, first, None, None)
    for call in ("second", "third"):
        try:
            again = tuple(o.detach() for o in Graph(target).outputs)
        except FunctionRaised as exc:
            return _nondeterministic(failure, f"a {call} forward on the same inputs raised {exc}")
        if [o.shape for o in first] != [o.shape for o in again]:
            shapes = lambda outs: ", ".join(str(tuple(o.shape)) for o in outs)  # noqa: E731
            return _nondeterministic(failure, f"a {call} forward on the same inputs returned outputs of "
                                              f"shapes {shapes(again)}, the first {shapes(first)}")
        mismatches = [m for i, (a, b) in enumerate(zip(again, first))
                      if (m := compare(a, b, name=f"output {i}", tolerance=tolerance,
                                       actual_label=f"{call} forward", expected_label="first forward"))]
        if mismatches:
            return _nondeterministic(failure, f"a {call} forward on the same inputs returned other outputs",
                                     mismatches)
    return None


def _did_not_repeat(flaky: FlakyFailure | FlakyStrategyDefinition) -> BaseException:
    """What Hypothesis' Flaky errors mean for a check: an example did not repeat itself.

    A property's failure that did not repeat is the function's nondeterminism; draws that did not
    repeat are the inputs strategy's, or memory that ran out part-way (a 5e7-element input).
    Anything else (a deadline met on the second run) keeps Hypothesis' own message.
    """
    leaves = list(flaky.exceptions) if isinstance(flaky, FlakyFailure) else [flaky]
    memory = next((m for e in leaves if (m := _out_of_memory(e)) is not None), None)
    if memory is not None:
        return UsageError(
            f"the check ran out of memory on an example ({type(memory).__name__}: {str(memory)[:200]}), and "
            "Hypothesis' replay of it went differently: check smaller inputs (the properties hold several "
            "copies, float64 versions and Jacobian rows of them), e.g. a few thousand elements"
        )
    failures = [e for e in leaves if isinstance(e, PropertyFailure)]
    if failures:
        first = failures[0]
        if first.detail.startswith(NONDETERMINISTIC):
            return first
        later = [f for f in failures[1:] if f.property != first.property]
        then = (f"property '{later[0].property}' failed instead ({later[0].detail})" if later
                else "it held" if len(failures) == 1 else "it failed differently")
        return _nondeterministic(first, f"Hypothesis ran this case again with the same draws, and {then}")
    drawn = [e for e in leaves if isinstance(e, FlakyStrategyDefinition)]
    if not drawn:
        return flaky
    what = " ".join(str(drawn[0]).split("\n\n", 1)[-1].split())
    return UsageError(
        f"Hypothesis drew different choices when it replayed an example of this check ({what}): "
        "draw everything random in the inputs "
        "strategy from Hypothesis (not from random, numpy or torch's global generator, the clock or a "
        "counter), and make the function's outputs depend only on its inputs (their shapes decide "
        "the seeds drawn for them)"
    )


def _out_of_memory(exc: BaseException) -> BaseException | None:
    """The out-of-memory error among the exceptions ``exc`` was raised while handling, if any."""
    return _in_chain(exc, lambda e: isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and (
        "can't allocate memory" in str(e) or "out of memory" in str(e))))


def _in_chain(exc: BaseException, wanted: Callable[[BaseException], bool]) -> BaseException | None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if wanted(e):
            return e
        todo += [e.__cause__, e.__context__]
    return None


def _nondeterministic(failure: PropertyFailure, what: str, mismatches: Sequence[Any] = ()) -> PropertyFailure:
    return PropertyFailure(
        failure.property,
        f"{NONDETERMINISTIC}: this case failed ({failure.detail}), then {what}",
        failure.case,
        mismatches,
        extra=(
            "Hint: every property calls the function and its backward several times on one case and "
            "compares. A forward that draws random numbers (torch.rand, dropout or an nn.Module in "
            "training mode) cannot be checked as is: call module.eval() or pass training=False, or draw "
            "the random tensor outside and pass it as an input without requires_grad (held fixed). State "
            "kept between calls (a counter, a cache) does the same; so does a backward built on "
            "nondeterministic kernels (atomic adds on a GPU: torch.use_deterministic_algorithms(True)), "
            "and one that reads memory it never wrote (an output element no loop iteration covers: it "
            "then holds whatever the allocator handed back, different from call to call)."
        ),
    )


class _Replay:
    """How a failure's search is replayed: the line that re-runs exactly that search."""

    def __init__(self, seed: int | None, max_examples: int, options: _Options, *,
                 settings_given: bool, inputs: str = "inputs") -> None:
        self.seed, self.max_examples, self.options = seed, max_examples, options
        self.settings_given, self.inputs = settings_given, inputs

    def render(self, failure: PropertyFailure, names: list[str]) -> str:
        """``names``: the properties of the search that found ``failure`` (the draws depend on them)."""
        args = ["fn", self.inputs] + ([f"seed={self.seed}"] if self.seed is not None else [])
        if names != [p.name for p in select(None)]:
            args.append(f"properties={_selecting(names, self.options.requested)!r}")
        args.append(f"max_examples={self.max_examples}")
        args += [f"{k}={v!r}" for k, v in (("rtol", self.options.rtol), ("atol", self.options.atol)) if v is not None]
        if self.options.reference is not None:
            args.append("reference=reference")
        if self.options.compile_backends != BACKENDS and COMPILED in names:
            args.append(f"compile_backends={backend_names(self.options.compile_backends)}")
        if self.settings_given:
            args.append("settings=settings")
        comments = [c for c, on in (("profile is derandomized", self.seed is None),
                                    ("the settings the check was given", self.settings_given)) if on]
        how = f"gradprops.check({', '.join(args)})" + (f"  # {'; '.join(comments)}" if comments else "")
        return (
            f"replay the search (same draws, same shrinking):\n  {how}\n"
            f"or run the helper on the shrunk case:\n"
            + "\n".join("  " + line for line in failure.case.repro(failure.property).splitlines())
        )


def _selecting(names: list[str], requested: frozenset[str]) -> list[str] | str:
    """A ``properties=`` argument that selects ``names``, naming vmap only if the caller did: named,
    vmap fails where it cannot apply (an old-style Function), else it skips there, so a replay line
    that named it could fail differently. (Every other property behaves alike either way.)

    >>> _selecting(["vmap", "opcheck"], frozenset({"vmap", "opcheck"}))
    ['vmap', 'opcheck']
    >>> _selecting([p.name for p in select("-second_order,-chain_rule")], frozenset())
    '-chain_rule,-second_order'
    """
    default = [p.name for p in select(None)]
    if VMAP in names and VMAP not in requested and set(names) <= set(default):
        return ",".join(f"-{name}" for name in default if name not in names)
    return names


def _as_strategy(inputs: Any) -> st.SearchStrategy[Any]:
    if isinstance(inputs, st.SearchStrategy):
        return inputs
    if isinstance(inputs, Tensor) or (
        isinstance(inputs, (tuple, list)) and all(isinstance(x, Tensor) for x in inputs)) or (
        isinstance(inputs, Mapping)  # tensors and plain keyword arguments: Target says what is wrong
    ):
        return st.just(inputs)
    raise UsageError(
        f"inputs must be a Hypothesis strategy (e.g. gst.inputs('(m,n),(n,p)')), a tensor, a tuple of tensors "
        f"or a dict of them (keyword arguments), got "
        f"{type(inputs).__name__}"
    )


def _probe(target: Target, first_property: str) -> Graph:
    """The example's one shared forward (guarded: purity's first check); a raise is a finding."""
    graph = Graph(target, guarded=True)
    case = lambda: make_case(  # noqa: E731
        target, graph.variables, helper_call="gradprops.assert_purity(fn, inputs)  # runs forward too"
    )
    with findings_as_failures(first_property, case):
        try:
            graph.outputs  # noqa: B018 (runs forward)
        except NoOutputToCheck as exc:  # on these inputs, perhaps only on these: shown with them, and shrunk
            raise PropertyFailure(first_property, f"on this case, {exc}", case()) from exc
    return graph


class _WhileChecking:
    """A process-wide patch of Hypothesis internals, in place while any check runs: the outermost
    check applies it and undoes it, so nested and concurrent checks do so once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0

    def patchable(self) -> bool:
        """Whether this Hypothesis has the internals replaced (tests fail when it stops having them)."""
        raise NotImplementedError

    def _apply(self) -> None:
        raise NotImplementedError

    def _undo(self) -> None:
        raise NotImplementedError

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if not self.patchable():
            yield
            return
        with self._lock:
            if self._depth == 0:
                self._apply()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._undo()


class _LocalConstants(_WhileChecking):
    """Keeps Hypothesis from drawing the literals of the process' own modules in a check.

    Hypothesis collects the number and string literals of every module imported from
    outside site-packages — the user's scripts, conftest, an editable gradprops — and draws them
    now and then instead of fresh values (``providers._get_local_constants``). A check's draws
    would then depend on what else the process imported: the same seed found a bug in one script
    and missed it in the same script with an unused ``x = 123456789`` added. While any check runs,
    Hypothesis sees no local constants and a cache of its own for the global ones (the process'
    cache holds local ones); the count makes nested and concurrent checks restore only once.
    """

    _saved: tuple[Any, Any] = (None, None)

    def patchable(self) -> bool:
        return (_providers is not None and callable(getattr(_providers, "_get_local_constants", None))
                and hasattr(_providers, "CONSTANTS_CACHE"))

    def _apply(self) -> None:
        self._saved = (_providers._get_local_constants, _providers.CONSTANTS_CACHE)
        none = _Constants()
        _providers._get_local_constants = lambda: none
        _providers.CONSTANTS_CACHE = {}

    def _undo(self) -> None:
        _providers._get_local_constants, _providers.CONSTANTS_CACHE = self._saved


_without_local_constants = _LocalConstants()

#: The case line that says shrinking was cut short.
SHRINKING = "shrinking"


class _BoundedShrinking(_WhileChecking):
    """Caps Hypothesis' shrinking at :data:`SHRINK_SECONDS` while checks run, and counts the stops.

    Hypothesis reads ``engine.MAX_SHRINKING_SECONDS`` (which its source leaves monkeypatchable for
    this) when a shrink starts; at the limit it stops and prints a warning about "five minutes",
    which this replaces with a line in the failure's case (Hypothesis prints nothing at verbosity
    quiet, and then the line is missing too). A lower limit the process set is kept.
    """

    _saved: Any = None
    stops = 0

    def patchable(self) -> bool:
        return _engine is not None and isinstance(getattr(_engine, "MAX_SHRINKING_SECONDS", None), (int, float))

    def _apply(self) -> None:
        self._saved = _engine.MAX_SHRINKING_SECONDS
        _engine.MAX_SHRINKING_SECONDS = min(self._saved, SHRINK_SECONDS)

    def _undo(self) -> None:
        _engine.MAX_SHRINKING_SECONDS = self._saved

    @contextmanager
    def __call__(self) -> Iterator[None]:
        outer = current_reporter()

        def reporter(value: object) -> None:
            if isinstance(value, str) and "making very slow progress" in value:
                self.stops += 1
            else:
                outer(value)

        with super().__call__(), with_reporter(reporter):
            yield


_bounded_shrinking = _BoundedShrinking()
