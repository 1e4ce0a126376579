"""Declarative gradprops tests for pytest: ``test_x = autograd_test(fn, inputs=...)``.

The pytest side (collection, options, reporting) lives in the top-level ``_gradprops_pytestplugin``
module, which imports neither torch nor gradprops; this module is the gradprops side it calls into
once a gradprops test exists. It does not import pytest: an :class:`AutogradTest` can also be run
by calling it.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import hypothesis
import hypothesis.errors
import torch
from hypothesis import strategies as st

from gradprops import dtype_names
from gradprops.checking import _as_strategy, check, pinned
from gradprops.errors import PropertyFailure, UsageError
from gradprops.properties import registry
from gradprops.properties.compiled import BACKENDS, checked_backends
from gradprops.report import Report

DEFAULT_DTYPES = ("float64",)
DEFAULT_DEVICES = ("auto",)

InputsFactory = Callable[..., st.SearchStrategy[Any]]


class SessionOptions(Protocol):
    """What the plugin's session options look like from here (see ``_gradprops_pytestplugin``)."""

    seed: int
    seed_given: bool
    max_examples: int | None
    properties: tuple[str, ...] | None
    dtypes: tuple[str, ...] | None
    devices: tuple[str, ...] | None


@dataclass(frozen=True)
class ItemSpec:
    """One pytest item of an :class:`AutogradTest`: a property on one dtype and one device.

    ``dtype``/``device`` are ``None`` when the test's inputs do not take them. ``skip`` is a reason
    to skip without running (a device this machine lacks).
    """

    property: str
    dtype: str | None = None
    device: str | None = None
    skip: str | None = None

    @builtins.property  # the field above is named `property`
    def id(self) -> str:
        """The item's parameter id: ``seed_linearity``, ``seed_linearity-float32-cuda`` (cpu is implicit)."""
        parts = [self.property]
        if self.dtype is not None:
            parts.append(self.dtype)
        if self.device is not None and self.device != "cpu":
            parts.append(self.device)
        return "-".join(parts)


@dataclass(frozen=True)
class ItemResult:
    """What one item's check did: examples on which the property ran, and skipped ones (with why)."""

    property: str
    examples: int
    skipped: int
    skip_reason: str | None  # set when the property applied to no example at all


@dataclass(frozen=True, eq=False)
class AutogradTest:
    """A declarative gradprops test; build it with :func:`autograd_test`."""

    __gradprops_test__: ClassVar[bool] = True  # the plugin's duck-typed marker

    fn: Callable[..., Any]
    inputs: st.SearchStrategy[Any] | InputsFactory | Any
    takes_dtype: bool
    takes_device: bool
    properties: tuple[str, ...] | None = None
    requested: frozenset[str] = frozenset()  # the properties the user named (not the items' own selection)
    dtypes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    max_examples: int | None = None
    settings: hypothesis.settings | None = None
    rtol: float | None = None
    atol: float | None = None
    reference: Callable[..., Any] | None = None
    compile_backends: tuple[Any, ...] = BACKENDS
    marks: tuple[Any, ...] = ()
    examples: tuple[Any, ...] = ()  # pinned cases every item checks first
    location: tuple[str, int] = field(default=("<unknown>", 0))

    def strategy(self, dtype: str | None, device: str | None) -> Any:
        """The inputs for one item: the strategy itself, or the factory called with dtype/device."""
        if not (self.takes_dtype or self.takes_device):
            return self.inputs
        kwargs = self._item_keywords(dtype, device)
        assert not isinstance(self.inputs, st.SearchStrategy)  # _inputs says a strategy takes neither
        strategy = self.inputs(**kwargs)
        if not isinstance(strategy, st.SearchStrategy):
            raise UsageError(
                f"inputs({', '.join(f'{k}={v}' for k, v in kwargs.items())}) returned "
                f"{type(strategy).__name__}, not a Hypothesis strategy"
            )
        return strategy

    def _item_keywords(self, dtype: str | None, device: str | None) -> dict[str, Any]:
        """What an item's dtype and device add to the call of the inputs factory."""
        kwargs: dict[str, Any] = {}
        if self.takes_dtype and dtype is not None:
            kwargs["dtype"] = getattr(torch, dtype)
        if self.takes_device and device is not None:
            kwargs["device"] = torch.device(device)
        return kwargs

    def written_at(self) -> str:
        """Where the test was declared, as an editor opens it: ``tests/test_x.py:12`` (1-based line, the
        path relative to the working directory when under it)."""
        file, line = self.location
        relative = os.path.relpath(file) if os.path.isabs(file) and file.startswith(os.getcwd() + os.sep) else file
        return f"{relative}:{line + 1}"

    def inputs_source(self, dtype: str | None, device: str | None) -> str | None:
        """The expression that makes one item's inputs, when it can be written out (a signature string,
        or a ``functools.partial`` of ``gst.inputs``), for the replay line; ``None`` otherwise.

        >>> autograd_test(torch.sin, inputs="(n)").inputs_source("float32", None)
        "gst.inputs('(n)', dtype=torch.float32)"
        """
        from gradprops import strategies as gst

        factory = self.inputs
        if not isinstance(factory, functools.partial) or factory.func is not gst.inputs:
            return None
        keywords = {**factory.keywords, **self._item_keywords(dtype, device)}  # the item's win, as in strategy()
        written = [*map(_source, factory.args), *(f"{k}={_source(v)}" for k, v in keywords.items())]
        return f"gst.inputs({', '.join(written)})"

    def __call__(self, *, seed: int | None = None, max_examples: int | None = None) -> list[Report]:
        """Run every item now, without pytest (e.g. in a notebook); raise the first failure.

        >>> from gradprops import strategies as gst
        >>> reports = autograd_test(torch.sin, inputs=gst.inputs("()"))(seed=0, max_examples=3)
        >>> all(r.examples == 3 for r in reports)  # one report per item: one per property
        True
        """
        return [self.check_item(spec, seed=seed, max_examples=max_examples or self.max_examples)
                for spec in item_specs(self, None) if not spec.skip]

    def check_item(self, spec: ItemSpec, *, seed: int | None, max_examples: int | None,
                   database_key: bytes | None = None, requested: frozenset[str] = frozenset()) -> Report:
        """:func:`gradprops.check` of one item: its property, on inputs of its dtype and device, with
        everything the test was declared with; ``requested``: properties the session named too."""
        return check(
            self.fn, self.strategy(spec.dtype, spec.device), properties=[spec.property],
            max_examples=max_examples, seed=seed, settings=self.settings, rtol=self.rtol, atol=self.atol,
            reference=self.reference, compile_backends=self.compile_backends, database_key=database_key,
            examples=self.examples, _requested=self.requested | requested,
            _inputs_source=self.inputs_source(spec.dtype, spec.device),
        )


def _source(value: Any) -> str:
    """``value`` as Python source: repr, except for a torch device, written by its name (``'cpu'``, as
    gst.inputs takes it) where its repr, ``device(type='cpu')``, is no Python."""
    return repr(str(value)) if isinstance(value, torch.device) else repr(value)


def autograd_test(
    fn: Callable[..., Any] | None = None,
    inputs: Any = None,
    *,
    properties: Sequence[str] | str | None = None,
    dtypes: Sequence[str | torch.dtype] | None = None,
    devices: Sequence[str | torch.device] | None = None,
    max_examples: int | None = None,
    settings: hypothesis.settings | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    reference: Callable[..., Any] | None = None,
    compile_backends: Sequence[str | Callable[..., Any]] = BACKENDS,
    marks: Sequence[Any] = (),
    examples: Sequence[Any] = (),
) -> Any:
    """A pytest test of ``fn``'s backward, collected as one item per property (and dtype, device).

    Assign it to a ``test_*`` name in a test module; the gradprops pytest plugin (installed with
    gradprops) collects ``test_my_sin[seed_linearity]``, ``test_my_sin[ones_seed_matches_sum]``, ...
    Each item runs :func:`gradprops.check` for its one property with the session's settings and a
    seed derived from ``--gradprops-seed`` and its node id. A property that applies to no example
    (e.g. the Jacobian on complex dtypes) is reported as skipped, with the reason.

    ``inputs`` is one of:

    * a Hypothesis strategy (``gst.inputs("(m,n),(n,p)")``): used as is; no dtype parametrisation;
    * a gufunc signature string (``"(m,n),(n,p)"``): ``gst.inputs(signature, dtype=...)`` for each
      dtype in ``dtypes``;
    * a callable taking ``dtype=`` (and optionally ``device=``) keywords and returning a strategy,
      e.g. ``functools.partial(gst.inputs, "(m,n)", min_side=1)`` or
      ``lambda dtype: gst.tensors(dtype=dtype)``: called for each dtype (and device);
    * concrete inputs (a tensor, a tuple of tensors or a dict of them), as :func:`gradprops.check`
      takes them: only seeds and the like vary.

    Anything else is a :class:`~gradprops.UsageError` here, at import: one collection error.

    ``dtypes`` defaults to ``--gradprops-dtypes``, else float64; ``devices`` to
    ``--gradprops-devices``, else ``auto`` (cpu, plus cuda when available); devices apply only when
    ``inputs`` takes ``device`` (a signature string does: ``gst.inputs(signature, device=...)``).
    ``properties`` defaults to ``--gradprops-properties``, else every
    property in the registry. ``max_examples``, ``settings`` (a ``hypothesis.settings``),
    ``rtol``, ``atol``, ``reference`` and ``compile_backends`` (for the opt-in
    ``compiled_matches_eager``) go to :func:`gradprops.check`; ``--gradprops-max-examples`` wins over
    the profile but not over ``max_examples`` here. ``marks`` are pytest marks for every item.
    ``examples`` pins concrete cases (a known regression) that every item checks first, whatever
    its dtype (see :func:`gradprops.check`'s ``examples``).

    Without ``fn`` it is a decorator, and the decorated function is the function under test::

        test_my_sin = autograd_test(MySin.apply, inputs=gst.inputs("()"))
        test_my_mm = autograd_test(MyMatmul.apply, inputs="(m,n),(n,p)", dtypes=["float32", "float64"])

        @autograd_test(inputs=gst.inputs("(n)"))
        def test_softplus_then_scale(x):
            return MySoftplus.apply(x) * 3

    >>> from gradprops import strategies as gst
    >>> t = autograd_test(torch.sin, inputs=gst.inputs("()"), properties=["seed_linearity"])
    >>> [spec.id for spec in item_specs(t, None)]
    ['seed_linearity']
    """
    __tracebackhide__ = True  # a mistake here is reported at the test module's line, not inside gradprops
    caller = sys._getframe(1)
    location = (caller.f_code.co_filename, caller.f_lineno - 1)  # 0-based, as pytest reports it
    arguments: dict[str, Any] = dict(properties=properties, dtypes=dtypes, devices=devices,
                                     max_examples=max_examples, settings=settings, rtol=rtol, atol=atol,
                                     reference=reference, compile_backends=compile_backends, marks=marks,
                                     examples=examples)
    if fn is None:
        def decorate(function: Callable[..., Any]) -> AutogradTest:
            __tracebackhide__ = True
            return _build(function, inputs, location=location, **arguments)
        return decorate
    return _build(fn, inputs, location=location, **arguments)


def _build(
    fn: Any,
    inputs: Any,
    *,
    properties: Sequence[str] | str | None,
    dtypes: Sequence[str | torch.dtype] | None,
    devices: Sequence[str | torch.device] | None,
    max_examples: int | None,
    settings: hypothesis.settings | None,
    rtol: float | None,
    atol: float | None,
    reference: Callable[..., Any] | None,
    compile_backends: Sequence[str | Callable[..., Any]],
    marks: Sequence[Any],
    examples: Sequence[Any],
    location: tuple[str, int],
) -> AutogradTest:
    __tracebackhide__ = True
    if not callable(fn):
        raise UsageError(f"autograd_test: fn must be callable, got {type(fn).__name__}")
    inputs, takes_dtype, takes_device = _inputs(inputs)
    if dtypes is not None and not takes_dtype:
        raise UsageError(
            "autograd_test: dtypes= needs inputs that take a dtype: a gufunc signature string, or a "
            "callable dtype -> strategy such as functools.partial(gst.inputs, '(m,n)'); a strategy "
            "has its dtype fixed already"
        )
    if devices is not None and not takes_device:
        raise UsageError(
            "autograd_test: devices= needs inputs that take a device: a signature string ('(n)'), or a "
            "callable accepting device=, e.g. lambda dtype, device: gst.inputs('(n)', dtype=dtype, "
            "device=device); a strategy has its device fixed already"
        )
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
        raise UsageError(f"autograd_test: max_examples must be a positive integer, got {max_examples!r}")
    if settings is not None and not isinstance(settings, hypothesis.settings):
        raise UsageError(f"autograd_test: settings must be a hypothesis.settings, got {type(settings).__name__}")
    if reference is not None and not callable(reference):
        raise UsageError(
            f"autograd_test: reference must be a callable taking fn's inputs, got {type(reference).__name__}")
    try:
        backends = checked_backends(compile_backends)
    except UsageError as exc:
        raise UsageError(f"autograd_test: {exc}") from None
    names = None if properties is None else tuple(p.name for p in registry.select(properties))
    test = AutogradTest(
        fn=fn, inputs=inputs, takes_dtype=takes_dtype, takes_device=takes_device, properties=names,
        requested=registry.named(properties),
        dtypes=None if dtypes is None else _dtype_names(dtypes, "dtypes"),
        devices=None if devices is None else _device_names(devices),
        max_examples=max_examples, settings=settings, rtol=rtol, atol=atol, reference=reference,
        compile_backends=backends, marks=tuple(marks),
        examples=tuple(pinned(examples)), location=location,
    )
    return test


def _inputs(inputs: Any) -> tuple[Any, bool, bool]:
    """Normalise ``inputs``; say whether it takes a dtype and a device."""
    __tracebackhide__ = True
    if inputs is None:
        raise UsageError("autograd_test: inputs is required, e.g. inputs=gst.inputs('(m,n)') or inputs='(m,n)'")
    if isinstance(inputs, str):
        from gradprops import strategies as gst

        try:
            gst.inputs(inputs)  # reads the signature now: a typo is one error here, not one per item
        except hypothesis.errors.InvalidArgument as exc:
            raise UsageError(f"autograd_test: {exc}") from None
        inputs = functools.partial(gst.inputs, inputs)
    if isinstance(inputs, st.SearchStrategy):
        return inputs, False, False
    if not callable(inputs):
        try:
            _as_strategy(inputs)  # concrete inputs, as check() takes them; anything else is one error here
        except UsageError:
            raise UsageError(
                f"autograd_test: inputs={inputs!r:.80} ({type(inputs).__name__}) is not something to draw "
                "inputs from: pass a Hypothesis strategy (gst.inputs('(m,n)')), a gufunc signature string "
                "('(m,n),(n,p)'), a callable taking dtype= (and optionally device=) that returns a strategy, "
                "or concrete inputs (a tensor, a tuple of tensors or a dict of them)"
            ) from None
        return inputs, False, False
    try:
        parameters = inspect.signature(inputs).parameters
    except (TypeError, ValueError):
        raise UsageError(f"autograd_test: cannot read the parameters of inputs={inputs!r}") from None
    takes = {name for name, p in parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if "dtype" not in takes and not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        raise UsageError(
            f"autograd_test: inputs={inputs!r} is a callable without a dtype parameter; pass a "
            "strategy, a gufunc signature string, or a callable taking dtype= (and optionally device=)"
        )
    return inputs, True, "device" in takes


def _dtype_names(dtypes: Sequence[str | torch.dtype], what: str) -> tuple[str, ...]:
    if isinstance(dtypes, (str, torch.dtype)):
        dtypes = [dtypes]
    try:
        names = [dtype_names.canonical(str(d)) for d in dtypes]
    except ValueError as e:
        raise UsageError(f"{what}: {e} (a name such as 'float32', or a torch.dtype such as torch.float64)") from None
    if not names:
        raise UsageError(f"{what} is empty: name at least one dtype, or leave it out for the default")
    return tuple(dict.fromkeys(names))


def _device_names(devices: Sequence[str | torch.device]) -> tuple[str, ...]:
    if isinstance(devices, (str, torch.device)):
        devices = [devices]
    names = []
    for d in devices:
        if str(d) == "auto":
            names.append("auto")
            continue
        try:
            names.append(str(torch.device(d)))
        except (RuntimeError, TypeError):
            raise UsageError(f"devices: {d!r} is not a torch device (e.g. 'cpu', 'cuda:0', 'auto')") from None
    if not names:
        raise UsageError("devices is empty: name at least one device, or leave it out for the default")
    return tuple(dict.fromkeys(names))


def _resolve_devices(names: Sequence[str]) -> list[tuple[str, str | None]]:
    """(device, reason to skip or None); ``auto`` is cpu plus cuda when available."""
    out: list[tuple[str, str | None]] = []
    for name in names:
        if name == "auto":
            out.append(("cpu", None))
            if torch.cuda.is_available():
                out.append(("cuda", None))
        else:
            out.append((name, _unavailable(name)))
    return list(dict.fromkeys(out))


def _unavailable(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError, AttributeError) as exc:
        return f"device {device} is not available here ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    return None


def item_specs(test: AutogradTest, options: SessionOptions | None) -> list[ItemSpec]:
    """The items of ``test`` under the session options, in a deterministic order.

    Properties come from ``registry.PROPERTIES`` now (at collection), so newly registered ones are
    collected without any change here.
    """
    if test.properties is not None:
        props = test.properties
    else:
        option = None if options is None else options.properties
        try:
            props = tuple(p.name for p in registry.select(option))
        except UsageError as exc:
            raise UsageError(f"--gradprops-properties: {exc}") from None
    dtypes: Sequence[str | None] = [None]
    if test.takes_dtype:
        dtypes = test.dtypes or (options.dtypes if options and options.dtypes else None) or DEFAULT_DTYPES
    devices: list[tuple[str | None, str | None]] = [(None, None)]
    if test.takes_device:
        names = test.devices or (options.devices if options and options.devices else None) or DEFAULT_DEVICES
        devices = list(_resolve_devices(names))
    return [ItemSpec(prop, dtype, device, skip)
            for prop in props for dtype in dtypes for device, skip in devices]


def item_seed(options: SessionOptions, derived: int, settings: hypothesis.settings | None) -> int | None:
    """The seed to hand check(): the derived one, unless the profile derandomizes and no seed was given."""
    if options.seed_given:
        return derived
    active = settings if settings is not None else hypothesis.settings()
    return None if active.derandomize else derived


def run_item(
    test: AutogradTest, spec: ItemSpec, options: SessionOptions, *, seed: int, nodeid: str, replay: str
) -> ItemResult:
    """Run one item's check; on a failure, add ``replay`` (the pytest command) to its message.

    The example database is keyed by ``nodeid`` (as Hypothesis' plugin keys parametrized tests) and
    stays on although the run is seeded: failures that earlier runs, other xdist workers or other
    CI machines saved are replayed first.
    """
    try:
        report = test.check_item(
            spec, seed=item_seed(options, seed, test.settings), max_examples=test.max_examples or options.max_examples,
            database_key=f"gradprops:{nodeid}".encode(),
            requested=registry.named(options.properties if test.properties is None else None),
        )
    except PropertyFailure as failure:
        raise add_replay(failure, replay, f"fn, and the replay line's inputs: as given to autograd_test at "
                                          f"{test.written_at()}") from failure.__cause__
    tally = report.properties[spec.property]
    skipped = sum(tally.skipped.values())
    reason = None
    if not tally.examples:
        reasons = "; ".join(f"{why} ({n} examples)" for why, n in tally.skipped.most_common())
        if not reasons:
            reason = f"{spec.property}: no example ran"
        else:
            reason = reasons if reasons.startswith(spec.property) else f"{spec.property} skipped: {reasons}"
    return ItemResult(spec.property, tally.examples, skipped, reason)


def add_replay(failure: PropertyFailure, command: str, where: str = "") -> PropertyFailure:
    """Append the pytest command that replays just this test to the failure's 'How to reproduce',
    and ``where`` the replay line's names come from."""
    if command and command not in failure.replay:
        said = f"{failure.replay}\n({where})" if where and failure.replay else failure.replay
        failure.with_replay(f"{said}\nor replay just this test:\n  {command}".lstrip("\n"))
    return failure


class GradpropsFixture:
    """What the ``gradprops`` pytest fixture gives a test: check() bound to the session settings.

    ``check(fn, inputs, **kwargs)`` is :func:`gradprops.check` with this test's seed and the
    session's ``max_examples`` and ``properties`` (keyword arguments override them); on failure
    the message ends with the pytest command that replays the test. Every other attribute is the
    ``gradprops`` module's: ``assert_seed_linearity``, ``strategies``, ``PropertyFailure``...

    >>> class Options:
    ...     seed, seed_given, max_examples, properties, dtypes, devices = 7, True, 3, None, None, None
    >>> gp = GradpropsFixture(Options(), seed=123)
    >>> gp.check(torch.sin, gp.strategies.inputs("()")).examples
    3
    """

    def __init__(
        self,
        options: SessionOptions,
        *,
        seed: int,
        replay: str = "",
        record: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.options = options
        self.seed = seed
        self.replay = replay
        self._record = record

    @property
    def max_examples(self) -> int | None:
        return self.options.max_examples

    @property
    def properties(self) -> tuple[str, ...] | None:
        return self.options.properties

    @property
    def dtypes(self) -> tuple[torch.dtype, ...]:
        """``--gradprops-dtypes`` as torch dtypes (float64 by default), to parametrise your own tests."""
        return tuple(getattr(torch, n) for n in (self.options.dtypes or DEFAULT_DTYPES))

    @property
    def devices(self) -> tuple[torch.device, ...]:
        """``--gradprops-devices`` as available torch devices (``auto``: cpu, plus cuda if present)."""
        names = self.options.devices or DEFAULT_DEVICES
        return tuple(torch.device(d) for d, skip in _resolve_devices(names) if skip is None)

    def check(self, fn: Callable[..., Any], inputs: Any, **kwargs: Any) -> Report:
        """:func:`gradprops.check` with this test's seed and the session's budget and properties."""
        __tracebackhide__ = True
        kwargs.setdefault("properties", self.options.properties)
        kwargs.setdefault("max_examples", self.options.max_examples)
        kwargs.setdefault("seed", item_seed(self.options, self.seed, kwargs.get("settings")))
        try:
            report = check(fn, inputs, **kwargs)
        except PropertyFailure as failure:
            if self._record is not None:
                self._record(failure.property, 0, 0)
            # A fresh traceback and no Hypothesis notes (its draws): the message is the report.
            if hasattr(failure, "__notes__"):
                del failure.__notes__
            raise add_replay(failure, self.replay).with_traceback(None) from failure.__cause__
        if self._record is not None:
            for tally in report.properties.values():
                self._record(tally.name, tally.examples, sum(tally.skipped.values()))
        return report

    def __getattr__(self, name: str) -> Any:
        import gradprops

        try:
            return getattr(gradprops, name)  # gradprops.strategies included
        except AttributeError:
            raise AttributeError(f"the gradprops fixture has no attribute {name!r}") from None

    def __repr__(self) -> str:
        return (f"<gradprops fixture: seed={self.seed}, max_examples={self.max_examples}, "
                f"properties={self.properties}>")
