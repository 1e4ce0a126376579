"""Second order: double backward (``create_graph=True``) is linear in its seed and agrees with
finite differences of the first-order VJP.

With ``g(x) = VJP(x; v)`` computed with ``create_graph=True``, double backward with a seed ``t``
shaped like the variables gives ``tᵀ·∂g/∂x``. It must be linear in ``t``:
DB(a·t1 + b·t2) = a·DB(t1) + b·DB(t2), and ⟨DB(t1), d⟩ must equal ⟨t1, (g(x+h·d) - g(x-h·d))/2h⟩ —
central differences of the *first-order* backward, which the other properties have checked. A
backward whose own backward is wrong (a custom Function used inside backward, a hand-written
double backward) fails here and nowhere else.

The first-order seed requires grad, as it does inside a real double-backward graph (gradient
penalties): that is what makes ``@once_differentiable`` refuse, so such Functions are skipped
with that reason rather than reported. Runs in float64 on float64 copies when the function accepts
them; otherwise linearity runs in the target's dtype and the finite differences are skipped
(noted in the report).

Cost per example: 1 forward, 1 backward with create_graph, 3 double backwards, and 2 forwards + 2
backwards in float64 (2 more of each only when the first step disagrees).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import as_seed, double_vjp, forward, vjp, vjp_at
from gradprops.compare import compare_all, max_abs
from gradprops.errors import PropertyFailure, UsageError, findings_hidden
from gradprops.noise import random_seed_like, signed_noise
from gradprops.properties._common import (
    HowChecked,
    all_finite,
    as_helper,
    as_per_variable,
    check_coefficients,
    fail_on,
    findings_as_failures,
    make_case,
    noise_floor,
    rounding_noise,
    scalar_mismatch,
    tolerance_for,
)
from gradprops.properties._finite import (
    Estimate,
    abs_inner,
    directional_probe,
    element_direction,
    fd_tolerance,
    first_nonfinite,
    float64_version,
    inner,
    judge,
    scaled_directions,
    smooth_at,
)
from gradprops.signals import FunctionRaised, NotApplicable, Unavailable, Unsupported
from gradprops.strided import fresh_leaf, wide_dtype
from gradprops.target import Inputs, Seed, Target
from gradprops.tolerances import Tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "second_order"


def check_second_order(
    target: Target,
    seed: Seed | None = None,
    second_seeds: tuple[Seed, Seed] | None = None,
    coefficients: tuple[float, float] = (1.5, -0.75),
    directions: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Run the property on ``target``; returns notes for the report, raises PropertyFailure."""
    a, b = check_coefficients(coefficients)
    gen = generator or torch.Generator().manual_seed(0)
    run, wide, notes = _choose_target(target)
    variables = [_leaf(x.value, wide) for x in target.variables]
    names = [x.name for x in target.variables]
    v: Sequence[Tensor] = ()
    t1: Sequence[Tensor] = ()
    t2: Sequence[Tensor] = ()
    d: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"v": v}, per_variable={"t1": t1, "t2": t2, "d": d},
        extras={"coefficients": f"a={a!r}, b={b!r}", "computed in": "float64" if wide else "the target's dtype"},
        helper_call="gradprops.assert_second_order(fn, inputs, seed=v, second_seeds=(t1, t2), "
                    f"coefficients=({a!r}, {b!r}){', directions=d' if d else ''})",
    )
    with findings_as_failures(NAME, case):
        outputs = forward(run, variables)
    if wide and not all(o.dtype in (torch.float64, torch.complex128) for o in outputs):
        wide = False
        notes.append("second-order finite differences skipped (the function returns lower-precision outputs on "
                     "float64 inputs: it casts internally); linearity checked in that dtype")
    with findings_as_failures(NAME, case):
        v = _seed_for(seed, outputs) if seed is not None else random_seed_like(outputs, gen)
        if second_seeds is None:
            t1 = tuple(signed_noise(x.shape, x.dtype, gen).to(x.device) for x in variables)
            t2 = tuple(signed_noise(x.shape, x.dtype, gen).to(x.device) for x in variables)
        else:
            if not isinstance(second_seeds, (tuple, list)) or len(second_seeds) != 2:
                raise UsageError("second_seeds must be a pair (t1, t2), each with one tensor per variable")
            t1, t2 = (tuple(t.to(x.dtype) for t, x in zip(as_per_variable(s, variables, "second seed"), variables))
                      for s in second_seeds)
        v_leaf = tuple(s.clone().requires_grad_() for s in v)
        grads = vjp(outputs, variables, v_leaf, names=names, create_graph=True)
        if not all_finite([*(o.detach() for o in outputs), *(g.detach() for g in grads)]):
            raise NotApplicable("the function or its first-order grads are NaN or inf here")
        w = tuple(a * x + b * y for x, y in zip(t1, t2))
        try:
            both1, both2, bothw = (double_vjp(grads, variables, t, names=names, first_seed=v_leaf) for t in (t1, t2, w))
        except Unavailable as exc:
            raise Unsupported(str(exc)) from exc
    db1, db2, dbw = both1.variables, both2.variables, bothw.variables
    # Where double backward cancels to zero (x ↦ x·y in x, softmax under a ones seed) it returns
    # rounding noise of terms of size |t|·|v|·|y|, or |t|·|backward(v)|/|x|: the scale to compare at.
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    noise = max(max_abs([*t1, *t2]) * max_abs(grads) / max(1.0, max_abs(variables)),
                noise_floor(v, outputs) * max_abs([*t1, *t2]) / max(tolerance.atol, 1e-300))
    magnitude = max(abs(a) * max_abs(db1), abs(b) * max_abs(db2), max_abs(dbw), max(abs(a), abs(b)) * noise)
    actual, expected = list(dbw), [a * x + b * y for x, y in zip(db1, db2)]
    if not all_finite([*db1, *db2]):  # inf - inf: nothing to compare there
        finite = [x.isfinite() & y.isfinite() for x, y in zip(db1, db2)]
        actual = [torch.where(ok, x, torch.zeros_like(x)) for ok, x in zip(finite, actual)]
        expected = [torch.where(ok, x, torch.zeros_like(x)) for ok, x in zip(finite, expected)]

    def compare_at(magnitude: float) -> list[Any]:
        return compare_all(actual, expected, names, tolerance, magnitude,
                           actual_label="DB(a·t1 + b·t2)", expected_label="a·DB(t1) + b·DB(t2)")

    mismatches = compare_at(magnitude)
    if mismatches and tolerance.atol > 0:
        # Terms that cancel inside double backward (a constant row under group_norm, a 1-element
        # vector under normalize) leave rounding noise no scale above predicts: measure it.
        with findings_as_failures(NAME, case):
            wobble = rounding_noise(_double_backward_at(run, v, (t1, t2, w), names), variables, [*db1, *db2, *dbw])
        mismatches = compare_at(max(magnitude, 4 * (1 + abs(a) + abs(b)) * wobble / tolerance.atol))
    fail_on(NAME, "double backward is not linear in its seed: DB(a·t1 + b·t2) != a·DB(t1) + b·DB(t2), DB(t) "
            "= backward of ⟨t, backward(v)⟩ (create_graph=True)", mismatches, case)
    _check_seed_part(run, variables, v, t1, both1.first_seed, names, tolerance, gen, case)
    if not wide:
        return notes
    with findings_as_failures(NAME, case):
        base = tuple(x.detach() for x in variables)
        first = vjp_at(run, v, names)
        vjp_noise = noise_floor(v, outputs)  # backward's values are rounding noise of terms ~|v|·|y| below this
        g0 = tuple(g.detach() for g in grads)

        def probe_along(direction: Sequence[Tensor], with_db: bool) -> Callable[[float], Estimate]:
            """Central differences of ⟨t1, backward(v)⟩ along ``direction`` (against ⟨DB(t1), d⟩)."""
            return directional_probe(first, g0, base, direction, t1, db1 if with_db else (), noise=vjp_noise)

        if not all_finite(db1):
            _nonfinite_where_smooth(db1, base, names, probe_along, case)
        d = (tuple(t.to(x.dtype) for t, x in zip(as_per_variable(directions, base, "directions"), base))
             if directions is not None else scaled_directions(base, gen))
        probe = probe_along(d, with_db=True)
        tolerance = fd_tolerance(variables, outputs, rtol, atol)
        verdict = judge(probe, tolerance)
        if verdict.outcome == "disagree":
            # Differencing backward divides its rounding noise by h: where backward's result is noise
            # of terms that cancelled (a 1-element layer_norm row at x = 1000), measure that noise.
            measured = rounding_noise(first, base, g0)
            if measured > vjp_noise:
                vjp_noise = measured
                verdict = judge(probe_along(d, with_db=True), tolerance)
    if verdict.outcome == "not smooth":
        notes.append(f"second-order finite differences skipped: {verdict.reason}")
        return notes
    if verdict.outcome == "disagree":
        e = verdict.last
        g = e.backward
        m = scalar_mismatch("⟨DB(t1), d⟩ summed over all variables" if len(names) > 1 else f"⟨DB(t1) of {names[0]}, d⟩",
                            g, e.central, tolerance, verdict.allowed, "⟨double backward(t1), d⟩",
                            "⟨t1, ∂backward(v)/∂x·d⟩ by central differences")
        lines = [
            "  Compared one scalar: ⟨DB(t1), d⟩ — double backward (create_graph=True) with seed t1, against "
            "the direction d — with ⟨t1, (backward(v) at x+h·d − backward(v) at x−h·d) / 2h⟩, central "
            "differences of the first-order backward:",
            *(f"    step h = {x.step:.3g}: ≈ {x.central:.10g}" for x in verdict.estimates),
            f"    double backward: {g:.10g}; difference {abs(g - e.central):.6g}, allowed {verdict.allowed:.3g}",
            "Hint: first-order backward is differentiated by autograd here; if backward calls a custom "
            "Function (or hand-written double backward), that Function's backward is the suspect.",
        ]
        raise PropertyFailure(NAME, "double backward does not agree with finite differences of the first-order "
                              "VJP", case(), [m], extra="\n".join(lines))
    return notes


def assert_second_order(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    second_seeds: tuple[Seed, Seed] | None = None,
    coefficients: tuple[float, float] = (1.5, -0.75),
    directions: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that double backward is linear in its seed and matches finite differences of the VJP.

    ``seed`` is the first-order seed (shaped like the outputs); ``second_seeds`` a pair ``(t1, t2)``
    and ``directions`` one tensor each per variable; all random when omitted. Functions without
    double backward (``@once_differentiable``) raise :class:`~gradprops.UsageError` saying so.

    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> assert_second_order(torch.tanh, (x,))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_second_order(target, seed, second_seeds, coefficients, directions,
                                               rtol=rtol, atol=atol))


def _check_seed_part(
    run: Target, variables: Sequence[Tensor], v: Sequence[Tensor], t1: Sequence[Tensor], claimed: Sequence[Tensor],
    names: Sequence[str], tolerance: Tolerance, generator: torch.Generator, case: Callable[[], Any],
) -> None:
    """Double backward with respect to the first-order seed (grad_output): ∂⟨t1, backward(v)⟩/∂v is
    J·t1, so ``⟨s, DB_v(t1)⟩ = ⟨backward(s), t1⟩`` for any ``s``. The first-order backward, which
    finite differences and the adjoint hold to account, is the reference: one more backward.

    This is the derivative that ``torch.autograd.functional.jvp``, Hessian-vector products through
    backward and gradient penalties use; a backward whose own derivative in grad_output is wrong
    or NaN passes every check of the variables' part.
    """
    base = tuple(x.detach() for x in variables)
    s = random_seed_like(v, generator)
    with findings_as_failures(NAME, case):
        reference_grads = vjp_at(run, s, names)(base)
    reference, got = inner(reference_grads, t1), inner(s, claimed)
    label = "⟨s, DB_v(t1)⟩, double backward with respect to the seed v"
    if not all_finite(claimed):
        if not all_finite(reference_grads):
            return  # J itself is not finite here: finite_grads' matter
        m = scalar_mismatch(label, got, reference, Tolerance(0.0, 0.0, "must be finite"), 0.0,
                            "⟨s, DB_v(t1)⟩", "⟨backward(s), t1⟩")
        raise PropertyFailure(
            NAME, "double backward with respect to the seed (grad_output) is NaN or inf where J·t1 is finite",
            case(), [m], extra=_seed_part_lines(got, reference),
        )
    magnitude = max(abs_inner(reference_grads, t1), abs_inner(s, claimed))
    allowed = tolerance.allowed(magnitude, abs(reference))
    if abs(got - reference) <= allowed:
        return

    seed_part_at = _double_backward_at(run, v, (t1,), names, part="first_seed")

    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        return [torch.tensor([inner(s, seed_part_at(values)), inner(vjp_at(run, s, names)(values), t1)],
                             dtype=torch.float64)]

    with findings_as_failures(NAME, case):
        here = [torch.tensor([got, reference], dtype=torch.float64)]
        allowed = max(allowed, 4 * rounding_noise(compared_at, base, here))
    if abs(got - reference) <= allowed:
        return
    m = scalar_mismatch(label, got, reference, tolerance, allowed, "⟨s, DB_v(t1)⟩", "⟨backward(s), t1⟩")
    raise PropertyFailure(
        NAME, "double backward with respect to the seed (grad_output) is not J·t1", case(), [m],
        extra=_seed_part_lines(got, reference),
    )


def _seed_part_lines(got: float, reference: float) -> str:
    return (
        "  Compared one scalar: ⟨s, DB_v(t1)⟩ — the derivative of ⟨t1, backward(v)⟩ with respect to the seed v, "
        "against a random s — with ⟨backward(s), t1⟩: both are ⟨s, J·t1⟩ for a correct backward.\n"
        f"    ⟨s, DB_v(t1)⟩ = {got:.10g}; ⟨backward(s), t1⟩ = {reference:.10g}\n"
        "Hint: backward's output must be linear in grad_output with the coefficients of J; its own backward "
        "(what create_graph=True differentiates) uses a different formula for grad_output's part (a custom "
        "Function inside backward, or a torch.where whose other branch is NaN)."
    )


def _nonfinite_where_smooth(
    db: Sequence[Tensor],
    base: Sequence[Tensor],
    names: Sequence[str],
    probe_along: Callable[[Sequence[Tensor], bool], Callable[[float], Estimate]],
    case: Callable[[], Any],
) -> None:
    """Double backward is NaN/inf: a failure where the first-order backward is smooth, else a skip."""
    k, index, count = first_nonfinite(db)
    direction, scale = element_direction(base, k, index)
    smooth, reason, (e1, e2) = smooth_at(probe_along(direction, False))
    if not smooth:
        raise NotApplicable(f"double backward is NaN/inf here and the first-order backward is not smooth: {reason}")
    expected = e2.central / scale
    got = db[k][index].item() if db[k].dim() else db[k].item()
    got = got.real if isinstance(got, complex) else got
    m = scalar_mismatch(f"DB(t1) of {names[k]} at index {index}", got, expected, Tolerance(0.0, 0.0, "must be finite"),
                        0.0, "double backward(t1)", "finite differences of backward(v)")
    raise PropertyFailure(
        NAME, "double backward returned NaN/inf where the first-order backward is finite and smooth", case(), [m],
        extra=(f"  {count} of {db[k].numel()} elements of DB(t1) for {names[k]} are NaN or inf; the first "
               f"is at index {index}. There ⟨t1, backward(v)⟩ changes smoothly (central differences at two "
               f"steps give {e1.central / scale:.10g} and {expected:.10g}), so DB should be ≈ {expected:.6g}."),
    )


def _choose_target(target: Target) -> tuple[Target, bool, list[str]]:
    """Where to run: the float64 copy when the function runs on it and returns float64."""
    wide, note = float64_version(target)
    if wide is target:
        return target, all(x.value.dtype in (torch.float64, torch.complex128) for x in target.variables), []
    try:
        outs = forward(wide, [_leaf(x.value, True) for x in target.variables])
    except FunctionRaised as exc:
        reason = f"the function raised on float64 copies: {type(exc.original).__name__}: {exc.original}"
    else:
        if all(o.dtype in (torch.float64, torch.complex128) for o in outs):
            return wide, True, [HowChecked(note.replace("finite differences", "second order"))]
        reason = "the function returns lower-precision outputs on float64 inputs"
    return target, False, [f"second-order finite differences skipped ({reason}); linearity checked in the "
                           "target's dtype"]


def _double_backward_at(
    run: Target, v: Sequence[Tensor], seeds: Sequence[Sequence[Tensor]], names: Sequence[str],
    part: str = "variables",
) -> Callable[[Sequence[Tensor]], list[Tensor]]:
    """Double backward with each of ``seeds`` at given variable values, its ``part`` (``"variables"``
    or ``"first_seed"``, see :class:`~gradprops.autodiff.DoubleVJP`), for :func:`rounding_noise`."""

    def at(values: Sequence[Tensor]) -> list[Tensor]:
        leaves = [_leaf(x, False) for x in values]
        v_leaf = tuple(s.clone().requires_grad_() for s in v)
        grads = vjp(forward(run, leaves), leaves, v_leaf, names=names, create_graph=True)
        return [t for seed in seeds
                for t in getattr(double_vjp(grads, leaves, seed, names=names, first_seed=v_leaf), part)]

    return at


def _leaf(value: Tensor, wide: bool) -> Tensor:
    return fresh_leaf(value, wide_dtype(value.dtype) if wide else None).detach().requires_grad_()


def _seed_for(seed: Seed, outputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Validate a first-order seed given in the caller's dtype, then cast it to the outputs'."""
    seeds = (seed,) if isinstance(seed, Tensor) else seed
    if isinstance(seeds, (tuple, list)) and len(seeds) == len(outputs) and all(isinstance(x, Tensor) for x in seeds):
        seeds = tuple(x.to(o.dtype) for x, o in zip(seeds, outputs))
    return as_seed(seeds, outputs, "v")
