"""What every property shares: building the case, turning findings into PropertyFailure."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import (
    as_seed,
    float64_target,
    float64_variables,
    narrowing_steps,
    outputs_and_vjp,
    parameters_read_elsewhere,
    vjp,
)
from gradprops.compare import Escalation, Mismatch, all_finite, compare, compare_all, max_abs, overflowed
from gradprops.describe import Case, describe_seed, seed_source
from gradprops.errors import NotChecked, PropertyFailure, UsageError, findings_hidden
from gradprops.noise import random_seed_like
from gradprops.precision import LargestIntermediate, SimulatedPrecision
from gradprops.signals import FunctionRaised, Mutated, NotApplicable
from gradprops.strided import wide_dtype
from gradprops.target import Target
from gradprops.tolerances import Tolerance, loosest_dtype, resolve_tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden


class HowChecked(str):
    """A property's note on *how* it checked (e.g. a float32 target differenced on float64 copies), not
    on what it left out: listed in :func:`gradprops.check`'s report, not warned by the helpers — a
    warning the caller can do nothing about fails every correct function under ``-W error``."""


def as_helper(property: str, target: Target, run: Callable[[Target], list[str]], *, seed: Any = None,
              seed_label: str = "seed") -> None:
    """Run a property on ``target`` for an ``assert_*`` helper: what it could not check is said as
    a :class:`~gradprops.errors.NotChecked` warning, never dropped; a failure that only says the
    module differentiates its own parameters behind gradprops' back is a UsageError saying so.
    ``seed``, the caller's seed(s) if any, must not be all zero: backward's part of the check would hold
    for any backward."""
    if seed is not None:
        require_not_all_zero(seed_label, seed)
    try:
        notes = run(target)
    except NotApplicable as exc:
        warnings.warn(NotChecked(f"{property} was not checked: {exc}"), stacklevel=3)
        return
    except PropertyFailure as failure:
        raise_if_parameters_read_elsewhere(target, failure)
        raise failure.as_raised_to_the_caller() from failure.__cause__
    for note in notes:
        if not isinstance(note, HowChecked):
            warnings.warn(NotChecked(f"{property}: {note}"), stacklevel=3)


def make_case(
    target: Target,
    variables: Sequence[Tensor],
    *,
    seeds: dict[str, Sequence[Tensor]] | None = None,
    extras: dict[str, object] | None = None,
    helper_call: str = "",
    per_variable: dict[str, Sequence[Tensor]] | None = None,
    watch_narrowing: bool = True,
) -> Case:
    """Describe the example the property is about to run, for its failure message.

    ``per_variable`` holds tensors shaped like the variables (directions, second-order seeds): each
    is listed as ``"<label> (<variable name>)"`` and written out under ``label`` in the repro.
    With ``watch_narrowing`` (and :data:`CASES_WATCH_NARROWING`), a float64 function that computes
    a step in a narrower dtype gets a :data:`PRECISION_LOST` line (:func:`narrowing_said`).
    """
    seeds = seeds or {}
    described_seeds = [row for label, s in seeds.items() for row in describe_seed(label, s)]
    literals = {label: seed_source(s) for label, s in seeds.items()}
    for label, tensors in (per_variable or {}).items():
        if tensors:
            described_seeds += [(f"{label} ({v.name})", t) for v, t in zip(target.variables, tensors)]
            literals[label] = seed_source(tensors)
    diff = {id(v.value) for v in target.variables}
    extras = dict(extras or {})
    narrower: bool | None = None
    if watch_narrowing and CASES_WATCH_NARROWING.get():
        said = narrowing_said(target)
        narrower = None if said is None else bool(said)
        if said:
            extras[PRECISION_LOST] = said
    return Case(
        narrower_steps=narrower,
        function=target.name,
        variables=[(v.name, t) for v, t in zip(target.variables, variables)],
        fixed_inputs=[(name, x) for name, x in zip(target.input_names, target.inputs) if id(x) not in diff],
        seeds=described_seeds,
        extras=extras,
        inputs_source=list(zip(target.keywords or range(len(target.inputs)), target.inputs)),
        arguments=dict(target.arguments),
        helper_call=helper_call,
        seed_literals=literals,
    )


#: The Case line that names a float64 function's narrower steps.
PRECISION_LOST = "precision lost"

#: Whether :func:`make_case` looks for narrower steps (one more forward and backward, under a
#: dispatch mode). ``check()`` turns it off while Hypothesis shrinks, where every failing step
#: builds a case, and adds the line to the final report only.
CASES_WATCH_NARROWING: ContextVar[bool] = ContextVar("gradprops_cases_watch_narrowing", default=True)


def narrowing_said(target: Target) -> str | None:
    """What a float64 ``target``'s narrower steps (``.float()``, ``.half()``) cost it, ``""`` when its
    forward and backward of ones take none, ``None`` when nothing can be known (a narrower target, or
    one that raised)."""
    narrowing = narrowing_steps(target)
    if not narrowing:
        return narrowing if narrowing is None else ""
    steps = "; ".join(f"{stage}: " + ", ".join(f"{step} ({n}×)" for step, n in found.items())
                      for stage, found in narrowing.items())
    return (f"the float64 path computes in a narrower dtype ({steps}). From that step on it carries "
            f"float32's rounding (6e-8 relative) or worse, which float64's tolerances and finite differences "
            "(whose step is sized for float64 noise) take for a wrong formula: compute that step in float64, "
            "or check the function in float32, where its rounding is allowed for.")


@contextmanager
def findings_as_failures(property: str, case: Callable[[], Case]) -> Iterator[None]:
    """Report what the function under test did wrong as a PropertyFailure of ``property``."""
    try:
        yield
    except FunctionRaised as exc:
        original = exc.original
        raise PropertyFailure(
            property,
            f"the function under test raised during {exc.stage}: "
            f"{type(original).__name__}: {original}",
            case(),
        ) from original
    except Mutated as exc:
        raise PropertyFailure(property, exc.detail, case(), [exc.mismatch]) from None


def fail_on(
    property: str, detail: str, mismatches: list[Mismatch], case: Callable[[], Case],
    extra: str | Callable[[], str] = "",
) -> None:
    """Raise the property's failure if there are mismatches; the case is only described then."""
    if mismatches:
        raise PropertyFailure(property, detail, case(), mismatches, extra=extra() if callable(extra) else extra)


def tolerance_for(
    variables: Sequence[Tensor], outputs: Sequence[Tensor], rtol: float | None, atol: float | None,
    kind: str = "two_paths",
) -> Tolerance:
    dtypes = [t.dtype for t in (*variables, *outputs)]
    return resolve_tolerance(loosest_dtype(dtypes), rtol, atol, kind)


def check_coefficients(coefficients: Any) -> tuple[float, float]:
    """Validate a pair ``(a, b)`` of finite real coefficients (of a combination of two seeds)."""
    if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 2:
        raise UsageError(f"coefficients must be a pair (a, b) of finite numbers, got {coefficients!r}")
    return _coefficient("a", coefficients[0]), _coefficient("b", coefficients[1])


def _coefficient(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise UsageError(
            f"coefficient {name} must be a finite real number, got {value!r}: pass e.g. "
            "coefficients=(2.0, -0.5)"
        )
    return float(value)


def seed_or_random(
    seed: Tensor | Sequence[Tensor] | None, outputs: Sequence[Tensor], generator: torch.Generator, label: str = "v"
) -> tuple[Tensor, ...]:
    """The caller's seed, validated against the outputs, or a signed random one when there is none."""
    return as_seed(seed, outputs, label) if seed is not None else random_seed_like(outputs, generator)


def seed_pair(seeds: Any, outputs: Sequence[Tensor]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The caller's pair of seeds ``(u, v)``, validated, or two signed random ones (generator seeded 0)."""
    if seeds is None:
        gen = torch.Generator().manual_seed(0)
        return random_seed_like(outputs, gen), random_seed_like(outputs, gen)
    if not isinstance(seeds, (tuple, list)) or len(seeds) != 2:
        raise UsageError("seeds must be a pair (u, v): two seeds, each shaped like the outputs")
    return as_seed(seeds[0], outputs, "u"), as_seed(seeds[1], outputs, "v")


def as_per_variable(
    given: Tensor | Sequence[Tensor], variables: Sequence[Tensor], label: str
) -> tuple[Tensor, ...]:
    """Validate tensors the caller gives one per variable (directions, second-order seeds)."""
    tensors = (given,) if isinstance(given, Tensor) else given
    if not isinstance(tensors, (tuple, list)) or not all(isinstance(t, Tensor) for t in tensors):
        raise UsageError(
            f"{label} must be a tensor, or a tuple with one tensor per differentiated input (then per "
            f"trainable parameter), got {type(given).__name__}"
        )
    if len(tensors) != len(variables):
        raise UsageError(
            f"{label} has {len(tensors)} tensor(s) but there are {len(variables)} differentiated "
            "variables (inputs with requires_grad, then module parameters): pass one per variable"
        )
    for i, (t, v) in enumerate(zip(tensors, variables)):
        if t.shape != v.shape:
            raise UsageError(
                f"{label} {i} has shape {tuple(t.shape)} but its variable has shape {tuple(v.shape)}"
            )
        if not all_finite([t]):
            raise UsageError(f"{label} {i} has NaN or inf values: pass finite ones")
    if tensors and all(not bool(t.any()) for t in tensors):
        raise UsageError(f"{label} are all zero, so they check nothing: pass e.g. torch.randn_like of each variable")
    return tuple(t.detach() for t in tensors)


def all_zero(tensors: Sequence[Tensor]) -> bool:
    """Whether seeds hold elements and every one is 0: backward's part of a comparison then holds
    for any linear backward.

    >>> all_zero([torch.zeros(2), torch.zeros(0)]), all_zero([torch.zeros(0)]), all_zero([torch.eye(2)])
    (True, False, False)
    """
    return any(t.numel() for t in tensors) and not any(bool(t.any()) for t in tensors)


def require_not_all_zero(label: str, seeds: Any) -> None:
    """A helper's seed(s) that are all zero (every one of them) check nothing: a UsageError.

    >>> require_not_all_zero("seed", torch.zeros(3))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    gradprops.errors.UsageError: seed is all zero, so backward's part of the check holds for any backward: ...
    """
    if not isinstance(seeds, (Tensor, tuple, list)):
        return  # as_seed / seed_pair say what is wrong with its type
    flat = [t for s in ((seeds,) if isinstance(seeds, Tensor) else seeds)
            for t in ((s,) if isinstance(s, Tensor) else s if isinstance(s, (tuple, list)) else ())]
    if all(isinstance(t, Tensor) for t in flat) and all_zero(flat):
        raise UsageError(f"{label} {'is' if isinstance(seeds, Tensor) else 'are'} all zero, so backward's part of "
                         "the check holds for any backward: pass e.g. torch.randn_like of the outputs, or leave "
                         "it out for a random one")


def scalar_mismatch(
    name: str,
    actual: float,
    expected: float,
    tolerance: Tolerance,
    allowed: float,
    actual_label: str,
    expected_label: str,
) -> Mismatch:
    """A :class:`Mismatch` for two scalars (inner products) whose allowed difference is ``allowed``.

    The comparison engine's ``atol × magnitude`` carries everything beyond ``rtol·|expected|``.
    """
    rest = max(allowed - tolerance.rtol * abs(expected), 0.0)
    effective = tolerance if tolerance.atol > 0 or rest == 0 else Tolerance(
        tolerance.rtol, 1.0, f"{tolerance.source}; atol=0 was given, so beyond rtol only the rounding floor is "
                             "allowed: atol=1 × magnitude here is that floor")
    m = compare(
        torch.tensor(actual, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
        name=name, tolerance=effective, magnitude=rest / effective.atol if effective.atol else 0.0,
        actual_label=actual_label, expected_label=expected_label,
    )
    if m is None:  # on the boundary: the caller already decided these disagree
        m = compare(torch.tensor(actual, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                    name=name, tolerance=Tolerance(0.0, 0.0, effective.source), magnitude=0.0,
                    actual_label=actual_label, expected_label=expected_label)
    assert m is not None
    return m


def overflow_note(actual: Sequence[Tensor], expected: Sequence[Tensor], tolerance: Tolerance) -> list[str]:
    """A note for the report when some elements overflowed on both sides
    (:func:`~gradprops.compare.overflowed`), so were not compared; :class:`NotApplicable` when that
    was every element.

    >>> overflow_note([torch.tensor([float("inf"), 1.0])], [torch.tensor([float("nan"), 1.0])],
    ...               resolve_tolerance(torch.float32, None, None))
    ['1 of 2 grad element(s) overflowed on both sides (NaN or inf, or past the dtype’s range) and were not compared']
    """
    # Nothing overflowed without an inf or NaN on one side: the usual case takes a sum per tensor.
    left_out = sum(int(overflowed(a, e, tolerance.rtol).sum()) for a, e in zip(actual, expected)
                   if (a.is_floating_point() or a.is_complex()) and not all_finite([a, e]))
    if not left_out:
        return []
    total = sum(a.numel() for a in actual)
    said = (f"{left_out} of {total} grad element(s) overflowed on both sides (NaN or inf, or past the "
            "dtype’s range) and were not compared")
    if left_out == total:
        raise NotApplicable(f"nothing could be compared: {said}")
    return [said]


def noise_floor(
    seed: Sequence[Tensor], outputs: Sequence[Tensor], per: str = "element", jacobian_scale: float = 0.0
) -> float:
    """The smallest difference between two grads that is not rounding: ``64·eps·max|v|·max(|y|, |J|)``.

    Where grads cancel to far below the terms that produced them (softmax at saturation, a ones
    seed through a normalisation), both sides of a comparison are rounding noise of terms of size
    ~|v|·|y| or ~|v|·|J| (|J| from :func:`jacobian_scale`), and a tolerance relative to their own
    tiny size is a false alarm. ``per="sum"`` gives the floor for an inner product with a
    direction instead: ``64·eps·Σ|v||y|`` (times ``max|d|`` by the caller).
    """
    if not seed or not outputs:
        return 0.0
    eps = max(float(torch.finfo(o.real.dtype if o.is_complex() else o.dtype).eps)
              for o in outputs if o.is_floating_point() or o.is_complex())
    if per == "sum":
        total = sum(float((_abs64(s) * _abs64(o)).sum()) for s, o in zip(seed, outputs))
        return 64 * eps * total
    return 64 * eps * max_abs(seed) * max(max_abs(outputs), jacobian_scale)


def jacobian_scale(outputs: Sequence[Tensor], variables: Sequence[Tensor], names: Sequence[str]) -> float:
    """``max|VJP(r)| · sqrt(numel)`` for a random seed ``r``: the size of J's terms, one extra backward.

    Only called once a comparison has failed, to tell rounding noise from a finding.
    """
    gen = torch.Generator().manual_seed(20240601)
    r = random_seed_like(outputs, gen)
    try:
        grads = vjp(outputs, variables, r, names=names)
    except (FunctionRaised, Mutated):
        return 0.0  # the property that owns the seed reports those
    numel = sum(o.numel() for o in outputs)
    return max_abs(grads) / max(max_abs(r), 1e-300) * math.sqrt(max(numel, 1))


def floored_magnitude(
    tolerance: Tolerance, magnitude: float, seed: Sequence[Tensor], outputs: Sequence[Tensor]
) -> float:
    """``magnitude``, raised so that ``atol × magnitude`` is at least :func:`noise_floor`."""
    if tolerance.atol <= 0:
        return magnitude
    return max(magnitude, noise_floor(seed, outputs) / tolerance.atol)


def beyond_noise(
    compare_at: Callable[[float], list[Mismatch]],
    magnitude: float,
    tolerance: Tolerance,
    seed: Sequence[Tensor],
    outputs: Sequence[Tensor],
    variables: Sequence[Tensor],
    names: Sequence[str],
    *,
    compared_at: Callable[[Sequence[Tensor]], Sequence[Tensor]] | None = None,
    compared: Sequence[Tensor] = (),
) -> list[Mismatch]:
    """Mismatches at ``magnitude``; if any, again with the magnitude raised to the noise floor, and
    if still any, to the rounding noise measured by :func:`rounding_noise`.

    ``compare_at(magnitude)`` runs the property's comparison. ``compared_at(values)`` recomputes
    the tensors it compares (``compared``, both sides) at given variable values. The second pass
    costs one backward (:func:`jacobian_scale`), the third what ``compared_at`` costs; each is
    only taken when the one before found something.
    """
    found = compare_at(floored_magnitude(tolerance, magnitude, seed, outputs))
    if not found or tolerance.atol <= 0:
        return found
    floor = noise_floor(seed, outputs, jacobian_scale=jacobian_scale(outputs, variables, names))
    magnitude = max(magnitude, floor / tolerance.atol)
    found = compare_at(magnitude)
    if not found or compared_at is None:
        return found
    recompute = compared_at

    def judge(runs: int) -> list[Mismatch]:
        nonlocal found
        wobble = rounding_noise(recompute, variables, compared, runs=runs)
        # Each side carries its own noise: a difference up to twice the wobble is rounding.
        found = compare_at(max(magnitude, 4 * wobble / tolerance.atol))
        return found

    try:
        return NOISE_RUNS.verdict(judge)
    except (FunctionRaised, Mutated):
        return found  # the function fails near x: its own property reports that, not this one


def against_eager(
    target: Target, variables: Sequence[Tensor], names: Sequence[str], seed: Sequence[Tensor],
    eager: tuple[Sequence[Tensor], Sequence[Tensor]], got: Sequence[Tensor], tolerance: Tolerance, label: str,
) -> list[Mismatch]:
    """Where ``got`` — outputs then grads of another implementation of the same computation (compiled,
    on another device) at the variables and ``seed`` — differs from ``eager`` (outputs, grads) by more
    than rounding explains: the tolerance, then the noise floor, then twice the rounding noise of
    the eager computation measured under Monte Carlo arithmetic on each side (another kernel rounds
    differently, as correctly)."""
    outputs, grads = eager
    want = [*outputs, *grads]
    labels = [*(f"output {k}" for k in range(len(outputs))), *(f"grad of {n}" for n in names)]

    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        outs, gs = outputs_and_vjp(target, values, seed, names)
        return [*outs, *gs]

    return beyond_noise(
        lambda m: compare_all(got, want, labels, tolerance, m, actual_label=label, expected_label="eager",
                              label_prefix=""),
        max_abs(want), tolerance, seed, outputs, variables, names, compared_at=compared_at, compared=want)


#: Runs of the measured noise a verdict rests on: 2, and 16 when the difference is within 4 noise
#: allowances of it — a long accumulation's rounding adds up like a Gaussian and two runs see its
#: tail now and then (1.0006× the allowance, float16 atan2 onto a 0-d input of 13,240 terms).
NOISE_RUNS = Escalation(runs=(2, 16), within=(4.0,))


def rounding_noise(
    at: Callable[[Sequence[Tensor]], Sequence[Tensor]], variables: Sequence[Tensor], here: Sequence[Tensor],
    runs: int = 2,
) -> float:
    """How far ``at(x)`` — ``x`` the variables' values, ``here`` what it gave there — lands from
    itself when it runs under Monte Carlo arithmetic in the variables' own dtype: every op's inputs
    moved by one unit roundoff, fused ops stepped through
    (:class:`~gradprops.precision.SimulatedPrecision`); the largest of ``runs`` runs.

    That is the rounding noise of the compared values, measured where no a-priori scale predicts
    it: terms of size 1/σ that cancel to a Jacobian of ~0 under a normalisation of a nearly
    constant row, a loss whose grad is a difference of probabilities. The true value of what is
    compared does not move — x stays where it is — so a real disagreement is not absorbed.

    A deterministic function gives ``here`` again, bit for bit, before and after the measurement;
    one that does not (a backward wrong on some calls only, state kept between calls) gets no
    allowance at all (0.0): its change between calls is not rounding. Only taken once a
    comparison has failed.

    >>> rounding_noise(lambda xs: [xs[0] * 0], [torch.ones(2, dtype=torch.float64)], [torch.zeros(2)])
    0.0
    """
    dtype = least_precise_dtype(variables)
    gen = torch.Generator().manual_seed(0x5EED)
    values = [v.detach() for v in variables]
    if not _reproduces(at(values), here):
        return 0.0
    worst = 0.0
    for _ in range(runs):
        with SimulatedPrecision(dtype, gen, stochastic_rounding=True):
            there = at(values)
        worst = max(worst, max_abs([(a.detach() - b.detach()).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
                                    for a, b in zip(there, here)]))
    return worst if _reproduces(at(values), here) else 0.0


def _reproduces(again: Sequence[Tensor], here: Sequence[Tensor]) -> bool:
    exact = Tolerance(0.0, 0.0, "must repeat exactly")
    return all(a.shape == b.shape and compare(a, b, name="", tolerance=exact, magnitude=0.0) is None
               for a, b in zip(again, here))


def least_precise_dtype(variables: Sequence[Tensor]) -> torch.dtype:
    """The least precise real floating dtype among the variables (float64 when there is none)."""
    dtypes = [(v.real if v.is_complex() else v).dtype for v in variables if v.is_floating_point() or v.is_complex()]
    return max(dtypes, key=lambda d: float(torch.finfo(d).eps), default=torch.float64)


def _abs64(t: Tensor) -> Tensor:
    a = t.detach().abs().to(torch.float64)
    return a if all_finite([a]) else torch.where(a.isfinite(), a, torch.zeros_like(a))


def overflows_inside(target: Target, seed: Sequence[Tensor], names: Sequence[str]) -> bool:
    """Whether forward and ``backward(seed)``, computed in float64 on the same values, pass through
    a value past the range of the target's narrowest floating dtype.

    Then that dtype's computation legitimately ends in inf although the result it stands for fits
    (a cumprod's backward sums products past 3.4e38 and divides them back below it): an inf there on
    one side of a comparison is that dtype's overflow, not a finding. False for float64 targets, and
    when the function cannot run in float64.
    """
    narrow = least_precise_dtype([x.value for x in target.variables])
    if narrow is torch.float64:
        return False
    wide = float64_target(target)
    base = float64_variables(target)
    try:
        with LargestIntermediate() as watch:
            outputs_and_vjp(wide, base, [s.to(wide_dtype(s.dtype)) for s in seed], names)
    except (FunctionRaised, RuntimeError):
        return False
    return watch.largest > float(torch.finfo(narrow).max)


def raise_if_parameters_read_elsewhere(target: Target, failure: PropertyFailure) -> None:
    """A :class:`UsageError` instead of ``failure`` when ``target`` is a module whose parameters get
    other grads called as is than with the copies gradprops substitutes (:func:`parameters_read_elsewhere`)."""
    names = parameters_read_elsewhere(target)
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise UsageError(
            f"{failure.property} failed on this module, but its parameter(s) {listed} get other grads when it runs "
            "with its own parameters than with the copies gradprops substitutes for them "
            "(torch.func.functional_call): the module, or a library it calls (an ODE solver's adjoint method), "
            "differentiates module.parameters() itself, outside the forward call, so those grads never reach "
            "gradprops. That is no verdict on the formula. Check the input grads with the parameters frozen "
            "(p.requires_grad_(False)), and the parameter grads through a function that takes them as inputs"
        ) from failure

