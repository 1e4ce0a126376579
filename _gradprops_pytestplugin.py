"""pytest plugin for gradprops: options, header, one item per property, a fixture, a summary.

Kept outside the package (registered through the ``pytest11`` entry point), like Hypothesis'
``_hypothesis_pytestplugin``: loading it imports neither torch nor ``gradprops``. They are imported
only once a gradprops test is collected (its module imported them already) or the ``gradprops``
fixture is used, so a project that merely has gradprops installed pays nothing for it.

What it adds:

* ``test_x = gradprops.autograd_test(fn, inputs=...)`` in a test module is collected as one item
  per property (and dtype and device): ``test_x[seed_linearity-float64]``. Recognised by the
  ``__gradprops_test__`` marker attribute, so this module need not import gradprops to see it.
* the ``gradprops`` fixture: :func:`gradprops.check` and the helpers bound to the session settings.
* ``--gradprops-seed``, ``--gradprops-max-examples``, ``--gradprops-properties``,
  ``--gradprops-dtypes``, ``--gradprops-devices``, each with an ini twin (``gradprops_seed``, ...).
  A bad value, an unknown property name included, is a usage error at session start.
* a header line (versions, seed, budget) and a terminal summary of examples run per property: a
  property fails in a test only by its own PropertyFailure, and passes only if it ran on an example.
* Hypothesis' options reach gradprops tests: ``--hypothesis-seed`` sets the session seed, and each
  search's statistics go to Hypothesis' plugin for ``--hypothesis-show-statistics``.
* items are parametrized items (a callspec), so ``--lf``/``--ff``/``--sw`` select them on pytest 8
  and 9; an exception the function under test raises is reported in full once per test.
* under pytest-xdist, every worker uses the controller's seed; every item derives its own seed
  from it and its node id, so which worker runs an item does not change what it finds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pytest

MARKER_ATTRIBUTE = "__gradprops_test__"
"""Class attribute that marks an object built by ``gradprops.autograd_test`` (duck-typed)."""


_DEVICE = re.compile(r"^(auto|cpu|cuda|mps|xpu|hpu|npu|privateuseone|meta)(:\d+)?$")
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_SESSION_SEED_BITS = 32


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class Options:
    """The session's gradprops settings, parsed and validated once in ``pytest_configure``.

    ``None`` means "not set": the test's own arguments, then the Hypothesis profile, decide.
    ``given`` holds the command-line spelling of each option set on the command line, so that a
    replay command can repeat them.
    """

    seed: int
    seed_given: bool = False
    max_examples: int | None = None
    properties: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    given: tuple[str, ...] = field(default=())

    def item_seed(self, nodeid: str) -> int:
        """The seed of one test: derived from the session seed and its node id, nothing else.

        >>> Options(seed=1).item_seed("t.py::a") == Options(seed=1).item_seed("t.py::a")
        True
        >>> Options(seed=1).item_seed("t.py::a") != Options(seed=1).item_seed("t.py::b")
        True
        """
        digest = hashlib.sha256(f"{self.seed}\0{nodeid}".encode()).digest()
        return int.from_bytes(digest[:4], "big")


def _parse_seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {text!r}")
    return value


def _seed_from_hypothesis(text: str) -> int:
    """The session seed that ``--hypothesis-seed=text`` decides: the number, or a hash of the text.

    Hypothesis takes any text as a seed (a non-integer seeds ``random.Random`` as a string); the
    session seed is a non-negative integer that the replay command can repeat.

    >>> _seed_from_hypothesis("42"), _seed_from_hypothesis("abc") == _seed_from_hypothesis("abc")
    (42, True)
    """
    try:
        return _parse_seed(text)
    except ValueError:
        digest = hashlib.sha256(text.encode()).digest()
        return int.from_bytes(digest[:4], "big")


def _parse_max_examples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def _parse_properties(text: str) -> tuple[str, ...]:
    names = _split(text)
    bad = [n for n in names if not _PROPERTY.match(n)]
    if bad or not names:
        raise ValueError(
            f"expected comma-separated property names (e.g. seed_linearity,vjp_matches_jacobian), "
            f"got {text!r}"
        )
    return tuple(dict.fromkeys(names))


def _parse_dtypes(text: str) -> tuple[str, ...]:
    from gradprops import dtype_names  # torch-free, as `import gradprops` alone is

    return dtype_names.parse(text)


def _parse_devices(text: str) -> tuple[str, ...]:
    names = _split(text)
    bad = [n for n in names if not _DEVICE.match(n)]
    if bad or not names:
        raise ValueError(
            f"unknown device {', '.join(map(repr, bad)) or repr(text)}: expected cpu, cuda, cuda:N, "
            "mps, ... or auto (cpu, plus cuda when available), comma-separated"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class _Option:
    flag: str
    parse: Callable[[str], Any]
    metavar: str
    help: str

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


_OPTIONS = (
    _Option("--gradprops-seed", _parse_seed, "N",
            "Session seed; every gradprops test derives its own from it and its node id "
            "(default: --hypothesis-seed when given, else random; printed in the header)."),
    _Option("--gradprops-max-examples", _parse_max_examples, "N",
            "Examples per gradprops test, for tests that do not set max_examples= themselves "
            "(default: the Hypothesis profile's max_examples)."),
    _Option("--gradprops-properties", _parse_properties, "NAMES",
            "Comma-separated properties to collect for tests that do not name their own "
            "(default: every property in the registry)."),
    _Option("--gradprops-dtypes", _parse_dtypes, "DTYPES",
            "Comma-separated dtypes for tests whose inputs take a dtype and that do not name their "
            "own (default: float64)."),
    _Option("--gradprops-devices", _parse_devices, "DEVICES",
            "Comma-separated devices for tests whose inputs take a device and that do not name "
            "their own; 'auto' is cpu plus cuda when available (default: auto)."),
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradprops", "gradprops: property-based tests of autograd backwards")
    for option in _OPTIONS:
        group.addoption(option.flag, dest=option.dest, metavar=option.metavar, default=None,
                        help=option.help)
        # "args": a TOML string, number or list, or an ini string; never a type warning.
        parser.addini(option.dest, f"Default for {option.flag}: {option.help}", type="args", default=[])


def _read_options(config: pytest.Config) -> Options:
    values: dict[str, Any] = {}
    given: list[str] = []
    for option in _OPTIONS:
        raw = config.getoption(option.dest)
        source = option.flag
        if raw is not None:
            given.append(f"{option.flag}={raw}")
        else:
            raw = ",".join(map(str, config.getini(option.dest)))
            source = f"ini option {option.dest}"
            if not raw.strip():
                continue
        try:
            values[option.dest.removeprefix("gradprops_")] = option.parse(str(raw))
        except ValueError as exc:
            raise pytest.UsageError(f"gradprops: {source}: {exc}") from None
        if option.dest == "gradprops_properties" and not _is_worker(config):
            _check_property_names(values["properties"], source)
    seed = values.pop("seed", None)
    hypothesis_seed = config.getoption("hypothesis_seed", None)
    if hypothesis_seed is not None:
        from_hypothesis = _seed_from_hypothesis(str(hypothesis_seed))
        if seed is not None and seed != from_hypothesis:
            raise pytest.UsageError(
                f"gradprops: --gradprops-seed={seed} and --hypothesis-seed={hypothesis_seed} disagree: "
                "give one of them (gradprops derives its tests' seeds from either)"
            )
        seed = from_hypothesis
    seed_given = seed is not None
    if seed is None:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and "gradprops_seed" in workerinput:
            seed = workerinput["gradprops_seed"]  # pytest-xdist: the controller's seed
        else:
            seed = random.SystemRandom().getrandbits(_SESSION_SEED_BITS)
    given = [g for g in given if not g.startswith("--gradprops-seed=")]
    return Options(seed=seed, seed_given=seed_given, given=tuple(given), **values)


def _check_property_names(names: tuple[str, ...], source: str) -> None:
    """A UsageError now, at session start, for a name that is no property in the registry.

    Every test that names its own ``properties=`` ignores the option, so waiting for a test that
    takes it would let a typo pass silently. This is the one place the plugin imports gradprops'
    registry (and so torch) before a gradprops test is collected: only when the option is set, and
    only on the controller (pytest-xdist workers get the same, already checked, option).
    """
    from gradprops.errors import UsageError
    from gradprops.properties import registry

    try:
        registry.select(names)  # its message offers the close names
    except UsageError as exc:
        raise pytest.UsageError(f"gradprops: {source}: {exc}") from None


_OPTIONS_KEY = pytest.StashKey[Options]()


def options(config: pytest.Config) -> Options:
    """The session's :class:`Options` (for gradprops.pytest_support)."""
    return config.stash[_OPTIONS_KEY]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_OPTIONS_KEY] = _read_options(config)
    if not _is_worker(config):
        config.pluginmanager.register(SameCause(), "gradprops-same-cause")
    config.addinivalue_line(
        "markers", "gradprops: a gradprops property test (added to every item autograd_test makes)"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand the controller's seed to each worker, as pytest-randomly does."""
    node.workerinput["gradprops_seed"] = options(node.config).seed


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def pytest_report_header(config: pytest.Config) -> str:
    opts = options(config)
    torch = sys.modules.get("torch")
    torch_version = getattr(torch, "__version__", None) or _version("torch")
    if opts.max_examples is not None:
        budget = f"{opts.max_examples} examples per test"
    elif "hypothesis" in sys.modules:
        from hypothesis import settings

        budget = (f"{settings.default.max_examples} examples per test "
                  f"(Hypothesis profile {settings.get_current_profile_name()!r})")
    else:
        budget = "examples per test from the Hypothesis profile"
    extras = [f"{name}={','.join(v)}" for name, v in
              (("properties", opts.properties), ("dtypes", opts.dtypes), ("devices", opts.devices)) if v]
    origin = " (from --hypothesis-seed)" if config.getoption("hypothesis_seed", None) is not None else ""
    return (f"gradprops {_version('gradprops')}, torch {torch_version}: --gradprops-seed={opts.seed}{origin}, "
            f"{budget}" + "".join(f", {e}" for e in extras))


# --------------------------------------------------------------------------------------------
# Collection: autograd_test objects become one item per (property, dtype, device)


def _is_gradprops_test(obj: object) -> bool:
    # Look on the type, not the instance: a Mock answers every attribute.
    return getattr(type(obj), MARKER_ATTRIBUTE, None) is True


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> Any:
    if not _is_gradprops_test(obj) or not collector.funcnamefilter(name):
        return None
    from gradprops import pytest_support  # the test module imported gradprops already

    try:
        specs = pytest_support.item_specs(obj, options(collector.config))  # type: ignore[arg-type]
    except pytest_support.UsageError as exc:
        raise collector.CollectError(f"gradprops: {exc}") from None
    return [GradpropsItem.from_parent(collector, name=f"{name}[{spec.id}]", originalname=name,
                                      callspec=_callspec(spec.id), keywords={spec.id: True},
                                      test=obj, spec=spec) for spec in specs]


def _callspec(item_id: str) -> Any:
    """What pytest's parametrize gives each item: a callspec whose id is the part in brackets.

    pytest 9.2 builds a test's structured node id (path, names, params) from its original name and
    its callspec's id, and ``--lf``/``--ff``/``--sw`` compare that with the ids they read back from
    the cache as strings: an item named ``test_x[p]`` without a callspec has the name ``test_x[p]``
    and no params, and never matches. :class:`pytest.Function` takes ``callspec=`` and
    ``originalname=`` for exactly this; pytest exports no way to build a callspec but its own class
    (``CallSpec`` from pytest 9, ``CallSpec2`` before), so it is used with no parameters and one id.
    """
    from _pytest import python

    callspec_class = getattr(python, "CallSpec", None) or python.CallSpec2
    return callspec_class(_idlist=[item_id])


def _callobj() -> Callable[[], None]:
    def gradprops_property_test() -> None:
        """Stands in for a test function: pytest reads marks and fixtures from it."""

    return gradprops_property_test


class GradpropsItem(pytest.Function):
    """One property (on one dtype and device) of one ``autograd_test``.

    A :class:`pytest.Function` so that autouse fixtures, marks, ``-k``, ``--durations``, junit XML
    and xdist treat it like any other test; ``runtest`` runs :func:`gradprops.check`.
    """

    def __init__(self, *, test: Any, spec: Any, **kwargs: Any) -> None:
        callobj = _callobj()
        callobj.pytestmark = [*test.marks, pytest.mark.gradprops]  # type: ignore[attr-defined]
        super().__init__(callobj=callobj, **kwargs)
        self.test = test
        self.spec = spec
        self.user_properties.append(("gradprops_property", spec.property))

    def setup(self) -> None:
        super().setup()
        if self.spec.skip:
            pytest.skip(self.spec.skip)

    def runtest(self) -> None:
        from gradprops import pytest_support

        opts = options(self.config)
        with hypothesis_statistics(self), one_torch_thread():
            result = pytest_support.run_item(self.test, self.spec, opts, seed=opts.item_seed(self.nodeid),
                                             nodeid=self.nodeid, replay=replay_command(self))
        record(self, result.property, result.examples, result.skipped)
        if result.skip_reason:
            pytest.skip(result.skip_reason)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        path, lineno = self.test.location
        return path, lineno, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        text = short_failure(self, excinfo)
        return text if text is not None else super().repr_failure(excinfo)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    failed_property = _failed_property(report, call)
    if failed_property is not None:
        report.gradprops_failed_property = failed_property  # for the summary; travels to the controller
    if not isinstance(item, GradpropsItem):
        return report
    if report.skipped and isinstance(report.longrepr, tuple):
        # Point "SKIPPED [1] file:line: reason" at the test's line, not at this plugin.
        path, lineno, _ = item.reportinfo()
        report.longrepr = (str(path), (lineno or 0) + 1, report.longrepr[2])
    elif report.failed and call.excinfo is not None:
        cause = raised_by_function(item, call.excinfo.value)
        if cause is not None:
            report.gradprops_cause = cause  # travels with the report to the xdist controller
    return report


def _failed_property(report: pytest.TestReport, call: pytest.CallInfo[None]) -> str | None:
    """The property whose PropertyFailure failed the test (an item or a fixture test), else ``None``.

    Only that property failed there: anything else that fails a test (an error in the test's own
    body after ``gradprops.check`` passed, a usage error) is no property's failure.
    """
    errors = sys.modules.get("gradprops.errors")
    if errors is None or not report.failed or call.excinfo is None:
        return None
    exc = call.excinfo.value
    return str(exc.property) if isinstance(exc, errors.PropertyFailure) else None


def raised_by_function(item: GradpropsItem, exc: BaseException) -> dict[str, str] | None:
    """For a failure that is an exception raised by the function under test: what identifies it.

    ``key`` is the exception's type, message and the line that raised it; ``brief`` is the short
    report an item with the same cause as an earlier one gets (see :class:`SameCause`).
    """
    errors = sys.modules.get("gradprops.errors")
    cause = exc.__cause__
    if errors is None or not isinstance(exc, errors.PropertyFailure) or cause is None:
        return None
    tb = cause.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    headline = str(exc).splitlines()[0]
    return {
        "test": f"{item.parent.nodeid}::{item.originalname}" if item.parent else item.originalname,
        "key": f"{type(cause).__module__}.{type(cause).__qualname__}: {cause} at {where}",
        "brief": f"{headline}\n  or replay just this test:\n    {replay_command(item)}",
    }


class SameCause:
    """Report an exception the function under test raised once per test, not once per property.

    When forward raises on the drawn cases, every property item of the test fails with it. The
    first of them to report keeps its full report (case, repro, traceback); each later one with
    the same exception type, message and raising line says so briefly and names that item. It
    runs where every report arrives, the terminal and junit XML see its result: in a serial run,
    and on pytest-xdist's controller (workers share no memory, the controller sees all reports).
    """

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], str] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cause = getattr(report, "gradprops_cause", None)
        if cause is None or report.when != "call" or not report.failed:
            return
        first = self.first.setdefault((cause["test"], cause["key"]), report.nodeid)
        if first != report.nodeid:
            headline, _, replay = cause["brief"].partition("\n")
            report.longrepr = (f"{headline}\nthe same exception, from the same line, as {first}: its "
                               f"report shows the case, the repro and the traceback\n{replay}")


def short_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    """The failure text for a PropertyFailure or a gradprops UsageError: the message is the report.

    ``None`` for anything else (a bug in gradprops, an error in a fixture): keep the traceback.
    """
    errors = sys.modules.get("gradprops.errors")
    if errors is None or not isinstance(excinfo.value, (errors.PropertyFailure, errors.UsageError)):
        return None
    text = str(excinfo.value)
    cause = excinfo.value.__cause__
    if isinstance(excinfo.value, errors.PropertyFailure) and cause is not None:
        where = pytest.ExceptionInfo.from_exception(cause).getrepr(style="short", chain=False)
        text += f"\n\nraised by the function under test:\n{where}"
    return text


def replay_command(item: pytest.Item) -> str:
    """The shell command that reruns just ``item`` with this session's seed and options."""
    opts = options(item.config)
    args = ["pytest", item.nodeid, f"--gradprops-seed={opts.seed}", *opts.given]
    profile = item.config.getoption("hypothesis_profile", None)
    if profile:
        args.append(f"--hypothesis-profile={profile}")
    command = shlex.join(args)
    if item.config.invocation_params.dir != item.config.rootpath:
        command = f"cd {shlex.quote(str(item.config.rootpath))} && {command}"
    return command


@contextlib.contextmanager
def hypothesis_statistics(item: pytest.Item) -> Iterator[None]:
    """Collect the statistics of the Hypothesis searches run inside, for Hypothesis' own plugin.

    Hypothesis' plugin collects them only around tests it recognises as ``@given`` tests, and
    prints each item's ``hypothesis_statistics`` under ``--hypothesis-show-statistics`` (and puts
    them in junit XML), as it does for its own tests, so gradprops tests hand theirs over the
    same way: one description per search that ran (the fixture may run several).
    """
    from hypothesis.statistics import collector, describe_statistics

    described: list[str] = []

    def note(stats: Any) -> None:
        stats["nodeid"] = item.nodeid
        described.append(describe_statistics(stats))

    try:
        with collector.with_value(note):
            yield
    finally:
        if described:
            item.hypothesis_statistics = "\n\n".join(described)  # type: ignore[attr-defined]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread while a gradprops test runs, serially and under pytest-xdist alike,
    then the number there was before.

    A float32 sum's rounding depends on how many threads split it, so the same seed must not give a
    serial run and an ``-n 2`` run (or two machines) different verdicts on a borderline case; and
    serial runs on a busy CI machine ran 3-7x slower on torch's default threads (a user trial).
    Entered only when a gradprops test runs: a session without one never imports torch.
    ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the environment win.
    """
    if any(os.environ.get(name) for name in _THREAD_ENV):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def record(item: pytest.Item, prop: str, examples: int, skipped: int) -> None:
    """Note on ``item.user_properties`` what ran; it travels to the controller with the report."""
    item.user_properties.append((f"gradprops_examples:{prop}", examples))
    if skipped:
        item.user_properties.append((f"gradprops_skipped:{prop}", skipped))


# --------------------------------------------------------------------------------------------
# The fixture


@pytest.fixture
def gradprops(request: pytest.FixtureRequest) -> Iterator[Any]:
    """gradprops bound to this session's settings: ``gradprops.check(fn, inputs)`` and the helpers.

    ``check`` uses the test's own seed (derived from ``--gradprops-seed`` and the node id), the
    session's ``--gradprops-max-examples`` and ``--gradprops-properties``; keyword arguments
    override them. Every other attribute is the ``gradprops`` module's (``assert_seed_linearity``,
    ``strategies``, ``PropertyFailure``, ...), plus ``seed``, ``max_examples``, ``properties``,
    ``dtypes`` and ``devices``::

        def test_my_sin(gradprops):
            gradprops.check(MySin.apply, gradprops.strategies.inputs("()"))
    """
    from gradprops import pytest_support

    opts = options(request.config)
    node = request.node
    with hypothesis_statistics(node), one_torch_thread():
        yield pytest_support.GradpropsFixture(
            opts, seed=opts.item_seed(node.nodeid), replay=replay_command(node),
            record=lambda prop, examples, skipped: record(node, prop, examples, skipped),
        )


# --------------------------------------------------------------------------------------------
# Reporting


@dataclass
class _Tally:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    examples: int = 0
    skipped_examples: int = 0


@dataclass
class _Summary:
    properties: dict[str, _Tally] = field(default_factory=dict)
    other_failures: int = 0  # tests that recorded properties and failed, but not with a PropertyFailure


LEGEND = ("passed: held on at least one example; failed: a gradprops PropertyFailure of that property; "
          "skipped: skipped, or ran on no example")


def _gradprops_reports(terminalreporter: Any) -> Iterator[Any]:
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = getattr(report, "user_properties", None)
            when = getattr(report, "when", None)
            if props and (when == "call" or (when == "setup" and report.skipped)):
                yield report


def _recorded(report: Any) -> dict[str, tuple[int, int]]:
    """property -> (examples, skipped examples) that one test's report recorded, in order."""
    recorded: dict[str, tuple[int, int]] = {}
    for key, value in report.user_properties:
        kind, _, prop = str(key).partition(":")
        if kind == "gradprops_property":
            recorded.setdefault(str(value), (0, 0))
        elif kind in ("gradprops_examples", "gradprops_skipped"):
            examples, skipped = recorded.get(prop, (0, 0))
            if kind == "gradprops_examples":
                examples += int(value)
            else:
                skipped += int(value)
            recorded[prop] = (examples, skipped)
    return recorded


def _tallies(terminalreporter: Any) -> _Summary:
    """Each test counts once under each property it recorded: failed only when a PropertyFailure of
    that very property failed it; skipped when it was skipped or the property ran on no example of
    it (a pass needs one); passed otherwise. A test that failed with anything else counts once, on
    its own line, under no property (the properties it ran held)."""
    summary = _Summary()
    for report in _gradprops_reports(terminalreporter):
        recorded = _recorded(report)
        failed = getattr(report, "gradprops_failed_property", None) if report.failed else None
        if report.failed and failed not in recorded:
            summary.other_failures += 1
        for prop, (examples, skipped) in recorded.items():
            tally = summary.properties.setdefault(prop, _Tally())
            tally.tests += 1
            if prop == failed:
                tally.failed += 1
            elif report.skipped or not examples:
                tally.skipped += 1
            else:
                tally.passed += 1
            tally.examples += examples
            tally.skipped_examples += skipped
    return summary


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    summary = _tallies(terminalreporter)
    tallies = summary.properties
    if not tallies:
        return
    opts = options(config)
    terminalreporter.section(f"gradprops: examples run per property (--gradprops-seed={opts.seed})")
    width = max(24, *(len(p) for p in tallies))
    terminalreporter.write_line(
        f"{'property':<{width}} {'tests':>6} {'passed':>7} {'failed':>7} {'skipped':>8} "
        f"{'examples':>9} {'skipped examples':>17}"
    )
    for prop, t in sorted(tallies.items()):
        terminalreporter.write_line(
            f"{prop:<{width}} {t.tests:>6} {t.passed:>7} {t.failed:>7} {t.skipped:>8} "
            f"{t.examples:>9} {t.skipped_examples:>17}"
        )
    terminalreporter.write_line(LEGEND)
    if summary.other_failures:
        n = summary.other_failures
        terminalreporter.write_line(
            f"other failures: {n} test{'s' if n > 1 else ''} failed outside the properties tallied above (an "
            "error in the test's own code, or a helper's property failure in a fixture test): counted here, "
            "not under any property"
        )
