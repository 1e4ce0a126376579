"""Low precision: float16/bfloat16/float32 outputs and grads are as close to float64 as rounding allows.

Every other property compares backward with itself or with finite differences of the function in
float64, so a float16 or bfloat16 path with its own formula (a Triton/CUDA kernel, a
``if x.dtype == torch.half`` branch) can be wrong by a few percent, or lose precision by
accumulating in the narrow dtype, and pass them all. This property is the ground truth for that:

1. forward and ``backward(v)`` run in the target's dtype ``D``;
2. the same function (or the ``reference`` given) runs in float64 on the same values, exactly;
3. the error model: the float64 path runs three more times under
   :class:`~gradprops.precision.SimulatedPrecision` — every op rounded to ``D``, fused ops stepped
   through, inputs of each op moved by a unit roundoff — which is how far a *correct* computation
   in ``D`` lands from float64. With a ``reference``, the reference's own run in ``D`` counts too.
   Where a comparison fails on those, 16 and then 64 runs are drawn before the verdict
   (:data:`SAMPLE_ROUNDS`): a long reduction's rounding errors add up like a Gaussian, and a correct
   one lands beyond twice the worst of 3 runs 7% of the time, beyond twice the worst of 64, 0.0015%.

An output or grad fails when its largest error against float64 exceeds
``C × (largest simulated error + u·max|float64 value| + subnormal spacing)``, ``u`` the unit
roundoff of ``D``. ``C`` = 2 for float16/bfloat16, the multiple FlashAttention's tests allow a
kernel over the PyTorch composite in the same dtype (PyTorch's CPU kernels compute these in
float32 and round once per op, as the simulation does); 8 for float32, whose kernels evaluate
exp, erf and friends by vectorised approximations a few ulps off where the simulation rounds an
exact value once.

A float64 target has nothing wider to be compared with, but it can lose precision on the way: a
``.float()`` step in its backward carries float32's rounding (6e-8 relative) into float64 grads,
which the other properties take for a wrong formula, or miss. For it the property runs forward and
backward once more with every narrowing conversion kept in float64
(:class:`~gradprops.precision.Narrowing`). Without narrower steps that is the same computation and
nothing is compared; with them, outputs and grads as written must stay within the error model above,
``D`` = float64, of the run that keeps them in float64.

Cost per example: in ``D`` nothing beyond the shared forward and backward; four forwards and
backwards in float64. For a float64 target, one forward and backward (under a dispatch mode), and
three more where it has narrower steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, float64_target, float64_variables, outputs_and_vjp, outputs_at
from gradprops.compare import Escalation, Mismatch, compare, max_abs
from gradprops.errors import PropertyFailure, UsageError, findings_hidden
from gradprops.precision import Narrowing, SimulatedPrecision, unit_roundoff
from gradprops.properties._common import as_helper, findings_as_failures, least_precise_dtype, make_case, seed_or_random
from gradprops.signals import FunctionRaised, NotApplicable
from gradprops.strided import wide_dtype
from gradprops.target import Inputs, Seed, Target, function_name
from gradprops.tolerances import Tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "low_precision"

#: The multiple of the simulated error a target's error may reach, by the target's dtype.
ALLOWED_MULTIPLE = {torch.float16: 2.0, torch.bfloat16: 2.0, torch.float32: 8.0, torch.float64: 8.0}


def check_low_precision(
    target: Target,
    seed: Seed | None = None,
    *,
    reference: Callable[..., Any] | None = None,
    generator: torch.Generator | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    gen = generator or torch.Generator().manual_seed(0)
    graph = graph or Graph(target)
    variables = graph.variables
    names = [x.name for x in target.variables]
    narrow = _narrow_dtype(target, variables, reference)
    v: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"v": v}, watch_narrowing=narrow is not torch.float64,  # then its own headline
        extras={"reference": function_name(reference)} if reference is not None else None,
        helper_call="gradprops.assert_low_precision(fn, inputs, seed=v"
                    + (", reference=reference)" if reference is not None else ")"),
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        v = seed_or_random(seed, outputs, gen)
        grads = graph.vjp(v)
    if narrow is torch.float64:
        return _check_narrower_steps(target, [*outputs, *grads], v, names, gen, case)
    wide = float64_target(target.rebuilt(fn=reference) if reference is not None else target)
    base = float64_variables(target)
    seed64 = tuple(s.to(wide_dtype(s.dtype)) for s in v)
    if reference is not None:
        _require_shapes(wide, base, outputs)
    exact = _in_float64(wide, base, seed64, names, reference)
    initial = []
    if reference is not None:  # the reference's own run in the narrow dtype is a sample too
        with findings_as_failures(NAME, case):
            outs, gs = outputs_and_vjp(target.rebuilt(fn=reference), [x.value for x in target.variables], v, names)
        initial.append([*outs, *gs])

    def simulate() -> list[Tensor]:
        with SimulatedPrecision(narrow, gen):
            outs, gs = _in_float64(wide, base, seed64, names, reference)
        return [*outs, *gs]

    labels = [*(f"output {i}" for i in range(len(outputs))), *(f"grad of {n}" for n in names)]
    mismatches, notes = _judge(labels, [*outputs, *grads], [*exact[0], *exact[1]], simulate, initial, narrow,
                               f"in {narrow}", "in float64")
    u = unit_roundoff(narrow)
    if mismatches:
        raise PropertyFailure(
            NAME, f"in {narrow}, outputs or grads are further from float64 than rounding in {narrow} explains",
            case(), mismatches, extra=_diagnosis(mismatches, narrow, u),
        )
    return notes


def assert_low_precision(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    *,
    reference: Callable[..., Any] | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Assert that ``fn``'s outputs and ``backward(seed)`` in a low-precision dtype are as close to
    float64 as rounding in that dtype allows.

    ``inputs`` are float16, bfloat16 or float32 tensors. The float64 answer comes from ``fn`` itself
    on float64 copies of them, or from ``reference`` — a plain PyTorch version of a fast kernel —
    when given; the bound is a small multiple of how far the same computation lands from float64
    when every op rounds to the inputs' dtype (see :mod:`gradprops.properties.low_precision`).

    >>> x = torch.randn(8, dtype=torch.bfloat16, requires_grad=True)
    >>> assert_low_precision(torch.tanh, (x,), seed=torch.randn(8, dtype=torch.bfloat16))
    """
    if reference is not None and not callable(reference):
        raise UsageError(f"reference must be a callable taking the same inputs as fn, got {type(reference).__name__}")
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_low_precision(target, seed, reference=reference, generator=generator))


def _narrow_dtype(target: Target, variables: Sequence[Tensor], reference: Callable[..., Any] | None) -> torch.dtype:
    tensors = [*variables, *(x for x in target.inputs if x.is_floating_point() or x.is_complex())]
    if any(t.is_complex() for t in tensors):
        raise NotApplicable("complex inputs: the low-precision oracle compares real dtypes only")
    narrow = least_precise_dtype(tensors)
    if narrow is torch.float64 and reference is not None:
        raise NotApplicable("the inputs are float64: a reference has no wider dtype to be compared in")
    return narrow


def _check_narrower_steps(
    target: Target, got: Sequence[Tensor], v: Sequence[Tensor], names: Sequence[str], gen: torch.Generator,
    case: Callable[[], Any],
) -> list[str]:
    """A float64 target: run it again with its narrower steps (``.float()``, ``.half()``) kept in
    float64 (:class:`~gradprops.precision.Narrowing`); where it has none, that run is the same
    computation and nothing is compared. Where it has some, their effect on outputs and grads must
    stay within what float64 rounding explains, measured as for the narrow dtypes."""
    base = [x.value.detach() for x in target.variables]
    seed64 = [s.to(wide_dtype(s.dtype)) for s in v]

    def kept_in_float64(mode: SimulatedPrecision | None) -> tuple[list[Tensor], dict[str, int]]:
        try:
            with mode or contextlib.nullcontext(), Narrowing(keep_float64=True) as kept:
                outs, grads = outputs_and_vjp(target, base, seed64, names)
        except (FunctionRaised, RuntimeError) as exc:
            original = exc.original if isinstance(exc, FunctionRaised) else exc
            raise NotApplicable(f"the function raised with its narrower steps kept in float64: "
                                f"{type(original).__name__}: {original}") from exc
        return [*outs, *grads], kept.steps

    want, steps = kept_in_float64(None)
    if not steps:
        return []  # float64 throughout: the run above repeated the one checked
    labels = [*(f"output {i}" for i in range(len(got) - len(names))), *(f"grad of {n}" for n in names)]
    mismatches, _ = _judge(labels, got, want, lambda: kept_in_float64(SimulatedPrecision(torch.float64, gen))[0],
                           [], torch.float64, "as written", "kept in float64")
    if mismatches:
        said = ", ".join(f"{step} ({n}×)" for step, n in steps.items())
        raise PropertyFailure(
            NAME, f"the float64 path loses precision in narrower steps ({said}): its outputs or grads are "
                  "further from the same computation kept in float64 than float64 rounding explains",
            case(), mismatches,
            extra="  Compute those steps in float64, or check the function in the narrower dtype, where "
                  "its rounding is allowed for.",
        )
    return []


#: Simulated runs a verdict rests on: 3, and where a comparison fails with those, 16, then 64. The
#: errors of a long reduction add up like a Gaussian, so a correct one lands beyond 2× the worst of
#: 3 runs 7% of the time, of 16 runs 0.1%, of 64 runs 0.0015% (for one value; many values help).
#: More runs are drawn only while the worst difference is within 8 allowances (16× the worst of 3
#: runs, which a Gaussian passes 0.02% of the time), then 4 (8× the worst of 16, 0.004%): a wrong
#: formula is usually hundreds of allowances off, and shrinking it must not pay 64 runs a step.
SAMPLE_ROUNDS = Escalation(runs=(3, 16, 64), within=(8.0, 4.0))


def _judge(
    labels: Sequence[str], got: Sequence[Tensor], want: Sequence[Tensor], simulate: Callable[[], list[Tensor]],
    initial: list[list[Tensor]], dtype: torch.dtype, got_label: str, want_label: str,
) -> tuple[list[Mismatch], list[str]]:
    """:func:`_beyond_rounding` on simulated runs drawn in :data:`SAMPLE_ROUNDS`; returns the
    mismatches left after the last round that was needed, and notes on what was not compared."""
    simulated = list(initial)
    notes: list[str] = []
    spread: list[tuple[float, float]] = []  # the last round's (simulated error, largest value) per label

    def judge(runs: int) -> list[Mismatch]:
        while len(simulated) < runs:
            simulated.append(simulate())
        notes.clear()
        got_in, want_in = [], []
        forward_overflowed = False
        for k, (label, g, w) in enumerate(zip(labels, got, want)):
            # Once a correct forward overflows, backward's infs there follow from it (grad·result/x).
            also = ~g.detach().isfinite() if forward_overflowed and not label.startswith("output") else None
            g, w, skipped = _outside_range(g.detach().to(w.dtype), w, [s[k] for s in simulated], also)
            if skipped:
                notes.append(f"{label}: {skipped} element(s) not compared: a correct computation in {dtype} "
                             "overflows there too" + (" (in its forward)" if also is not None else ""))
                forward_overflowed |= label.startswith("output")
            got_in.append(g)
            want_in.append(w)
        found, spread[:] = _beyond_rounding(labels, got_in, want_in, simulated, dtype, got_label, want_label)
        return found

    mismatches = SAMPLE_ROUNDS.verdict(judge)
    if not mismatches:
        coarse = _too_coarse_to_judge(labels, spread, dtype)
        if coarse and len(coarse) == len(labels):  # nothing was judged: a skip, not a pass
            raise NotApplicable("; ".join(coarse))
        notes += coarse
    return mismatches, notes


def _too_coarse_to_judge(labels: Sequence[str], spread: Sequence[tuple[float, float]],
                         dtype: torch.dtype) -> list[str]:
    """A note for each compared tensor whose allowance reaches its own size: there a correct
    computation of the formula in ``dtype`` is as far from float64 as the answer is from 0, so
    the comparison could not tell the formula's result from zeros, and its pass says nothing. An
    unstable formula (a variance as E[x²] − E[x]² on values far from 0) does that: the allowance
    comes from the formula's own rounding, so it hides the formula's instability."""
    notes = []
    for label, (error, size) in zip(labels, spread):
        if size > 0 and ALLOWED_MULTIPLE[dtype] * error >= size:
            notes.append(f"{label}: not judged: computed in {dtype}, this formula lands up to {error:.3g} from float64 "
                         f"where the values are at most {size:.3g} (its own rounding: numerically unstable in "
                         f"{dtype} here), so no answer of that size could fail; pass reference= a stable "
                         "implementation to judge it")
    return notes


def _beyond_rounding(
    labels: Sequence[str], got: Sequence[Tensor], want: Sequence[Tensor], simulated: Sequence[Sequence[Tensor]],
    dtype: torch.dtype, got_label: str, want_label: str,
) -> tuple[list[Mismatch], list[tuple[float, float]]]:
    """Compare ``got`` with ``want`` within ``C ×`` (the largest simulated error + one rounding of the
    largest value + the subnormal spacing) of ``dtype``: the module's error model. Returns the
    mismatches, and per label the largest simulated error and the largest value it was taken at."""
    multiple = ALLOWED_MULTIPLE[dtype]
    u = unit_roundoff(dtype)
    spacing = float(torch.finfo(dtype).tiny) * float(torch.finfo(dtype).eps)  # between subnormals
    mismatches, spread = [], []
    for k, (label, g, w) in enumerate(zip(labels, got, want)):
        error, size = max((_error(s[k], w) for s in simulated), default=0.0), max_abs([w])
        spread.append((error, size))
        scale = error + u * size + spacing
        tolerance = Tolerance(0.0, multiple, f"{multiple:g} × (error of the computation simulated in {dtype} "
                                             f"+ one rounding of the largest value, u = {u:.3g}, "
                                             f"+ the spacing of {dtype}'s subnormals)")
        m = compare(g.detach().to(w.dtype), w, name=label, tolerance=tolerance, magnitude=scale,
                    actual_label=got_label, expected_label=want_label)
        if m is not None:
            mismatches.append(m)
    return mismatches, spread


def _in_float64(
    wide: Target, base: Sequence[Tensor], seed: Sequence[Tensor], names: Sequence[str],
    reference: Callable[..., Any] | None,
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    whose = "the reference" if reference is not None else "the function"
    try:
        outs, grads = outputs_and_vjp(wide, base, seed, names)
    except FunctionRaised as exc:
        raise NotApplicable(
            f"{whose} raised on float64 copies of the inputs, so there is no float64 answer to compare "
            f"with: {type(exc.original).__name__}: {exc.original}"
        ) from exc
    except RuntimeError as exc:  # autograd itself: the seed does not fit what the reference returns
        raise NotApplicable(f"{whose} could not be differentiated in float64: {exc}") from exc
    casts = sorted({str(o.dtype) for o in outs if wide_dtype(o.dtype) != o.dtype})
    if casts:
        raise NotApplicable(f"{whose} returns {', '.join(casts)} on float64 inputs (it casts internally)")
    return outs, grads


def _require_shapes(wide_reference: Target, base: Sequence[Tensor], outputs: Sequence[Tensor]) -> None:
    try:
        theirs = [tuple(o.shape) for o in outputs_at(wide_reference)(base)]
    except FunctionRaised as exc:
        raise UsageError(
            f"reference raised on the inputs: {type(exc.original).__name__}: {exc.original}; pass a "
            "reference that takes the same inputs as the function under test"
        ) from exc
    mine = [tuple(o.shape) for o in outputs]
    if mine != theirs:
        raise UsageError(
            f"reference returns differentiable outputs of shapes {theirs}, the function under test {mine}: "
            "pass a reference that computes the same outputs from the same inputs"
        )


def _error(sample: Tensor, exact: Tensor) -> float:
    return max_abs([(sample.detach().to(exact.dtype) - exact)])


def _outside_range(
    got: Tensor, want: Tensor, simulated: Sequence[Tensor], also: Tensor | None = None
) -> tuple[Tensor, Tensor, int]:
    """``got`` and ``want`` with the elements where a simulated correct run is not finite (or
    ``also`` is true) set to 0 (the dtype's range cannot hold them: no verdict there), and how many
    those are."""
    out_of_range = torch.zeros(want.shape, dtype=torch.bool, device=want.device) if also is None else also.clone()
    for s in simulated:
        out_of_range |= ~s.detach().isfinite()
    count = int(out_of_range.sum())
    if not count:
        return got, want, 0
    zero = torch.zeros((), dtype=want.dtype)
    return torch.where(out_of_range, zero, got), torch.where(out_of_range, zero, want), count


def _diagnosis(mismatches: Sequence[Mismatch], narrow: torch.dtype, u: float) -> str:
    worst = max(mismatches, key=lambda m: m.excess)
    times = worst.excess
    relative = worst.max_abs_diff / max(abs(float(worst.expected.detach().abs().max())), 1e-300)
    off = f"off by {relative:.2g} of the largest value, {relative / u:.3g} units of roundoff"
    kind = (
        f"a wrong formula in the {narrow} path ({off})" if relative > 64 * u else
        f"a wrong formula in the {narrow} path (a factor, a term; {off}) or precision lost in it (the "
        f"right formula accumulating in {narrow}, or cancelling terms the float64 path does not)"
    )
    return (
        f"  {worst.name} is {times:.3g}× the allowed error. Likely {kind}.\n"
        "  The float64 answer is exact for these inputs and seed (they are representable in float64); "
        "the allowance is how far the same computation lands when every op rounds to "
        f"{narrow} (see gradprops.precision)."
    )
