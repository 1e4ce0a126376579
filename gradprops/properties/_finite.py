"""Central differences as an oracle: the estimate along a direction, and when it can be trusted.

Shared by ``finite_differences``, ``finite_grads`` and ``second_order``, with what they need around
it: the float64 version of a target and its outputs, a probe along a direction, the tolerance. The quantity estimated is
always the scalar ``⟨v, J·d⟩`` — the seed ``v`` against the change of the outputs along a direction
``d`` — so one estimate costs two evaluations, whatever the sizes.

Why a disagreement can be the function's fault and not backward's, and how each is recognised:

- a kink or jump between ``x - h·d`` and ``x + h·d`` (relu at 0, floor): the elementwise second
  difference ``|f(x+h·d) - 2f(x) + f(x-h·d)| / h`` stays large as ``h`` shrinks. For a
  piecewise-smooth function with a valid (sub)gradient, ``|central - ⟨VJP(v), d⟩|`` is at most half
  of ``gap = Σ|v|·|second difference|``, so a disagreement that ``gap`` explains is skipped;
- a step too large for how fast the function varies (sin at 1e8): second differences are not
  small next to first differences;
- a derivative that is unbounded (cbrt at 0): central differences do not converge as ``h`` shrinks.

Only a disagreement none of these explain, at two step sizes, is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor

from gradprops.autodiff import evaluate_along, float64_target, realized_direction
from gradprops.compare import abs_of_temporary, finite_max, widened
from gradprops.noise import signed_noise
from gradprops.properties._common import HowChecked, all_finite
from gradprops.signals import FunctionRaised, NotApplicable
from gradprops.strided import wide_dtype
from gradprops.target import Target
from gradprops.tolerances import Tolerance, loosest_dtype, resolve_tolerance

STEP = float(torch.finfo(torch.float64).eps) ** (1 / 3)
"""≈ 6.06e-6: the central-difference step (× the direction) that balances truncation and rounding."""

SHRINK = 4.0
"""The second, confirming step is ``STEP / SHRINK``."""

_EPS = float(torch.finfo(torch.float64).eps)


def inner(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """``Σ Re(conj(a)·b)`` over every pair of tensors, in float64: ⟨·,·⟩ for real and complex alike.

    >>> inner([torch.tensor([1.0, 2.0])], [torch.tensor([3.0, -1.0])])
    1.0
    """
    total = 0.0
    for x, y in zip(a, b):
        x, y = widened(x), widened(y)
        if x.is_complex() or y.is_complex():
            total += float((x.conj() * y).real.sum())
        elif x.shape == y.shape and x.dim() == 1:
            total += float(torch.dot(x, y))  # no temporary: a pass over each
        else:
            total += float((x * y).sum())
    return total


def abs_inner(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """``Σ |a|·|b|``: the scale of the terms in :func:`inner`, what its rounding is relative to."""
    return sum(float(abs_of_temporary(widened(x) * widened(y)).sum()) for x, y in zip(a, b))  # |x||y| = |xy|


def scaled_directions(base: Sequence[Tensor], generator: torch.Generator) -> tuple[Tensor, ...]:
    """Random directions, each element scaled to its variable's element: a relative perturbation.

    Element ``i`` of variable ``k`` is ``z_i · max(|x_i|, 1e-3 · max(1, max|x_k|))`` with ``z``
    uniform in [-1, 1), so the step stays inside domains such as log's for small positive ``x`` and is
    not lost to rounding for large ``x``.
    """
    out = []
    for b in base:
        b = b.detach()
        wide = wide_dtype(b.dtype)
        z = signed_noise(b.shape, wide, generator).to(b.device)
        mags = b.abs().to(torch.float64)
        floor = 1e-3 * max(1.0, finite_max(mags))
        scale = torch.nan_to_num(mags, nan=floor, posinf=floor).clamp_(min=floor)
        out.append(z.mul_(scale.to(z.real.dtype)))
    return tuple(out)


def along_one(d: Sequence[Tensor], k: int) -> list[Tensor]:
    """``d`` restricted to variable ``k`` (zeros elsewhere): which variable carries a difference."""
    return [dk if i == k else torch.zeros_like(dk) for i, dk in enumerate(d)]


def per_variable_lines(rows: Sequence[tuple[str, float, float, object]], reference: str) -> list[str]:
    """The failure message's per-variable breakdown: ``(name, backward, reference value, mismatch)``."""
    if not rows:
        return []
    worst = max(rows, key=lambda r: abs(r[1] - r[2]))[0]
    lines = ["  Per variable (d restricted to one variable at a time):"]
    for name, got, expected, m in rows:
        flag = "  ← differs most" if m is not None and name == worst else ("" if m else "  (agrees)")
        lines.append(f"    {name}: backward {got:.10g}, {reference} {expected:.10g}{flag}")
    return lines


@dataclass(frozen=True)
class Estimate:
    """Central differences of ``⟨v, f⟩`` along ``d`` at one step, with what is needed to trust them."""

    step: float
    central: float  # ⟨v, f(x+h·d) - f(x-h·d)⟩ / 2h
    gap: float  # Σ|v|·|f(x+h·d) - 2f(x) + f(x-h·d)| / h: how far from linear along the step
    scale: float  # Σ|v|·|f(x+h·d) - f(x-h·d)| / 2h: the size of the terms summed into central
    rounding: float  # a bound on central's rounding error
    finite: bool  # f is finite at the three points, and so are the differences above
    backward: float = float("nan")  # ⟨backward's grads, d⟩ for the d these points really differ by
    backward_scale: float = float("nan")  # Σ|grads|·|d|


def estimate(
    seed: Sequence[Tensor],
    points: Sequence[tuple[Tensor, ...]],
    step: float,
    grads: Sequence[Tensor] = (),
    realized: Sequence[Tensor] = (),
    noise: float = 0.0,
) -> Estimate:
    """The :class:`Estimate` from ``points = [f(x), f(x+h·d), f(x-h·d)]`` (``h = step``).

    ``grads`` (backward's, one per variable) are taken against ``realized``, the direction the
    points really differ by (see :func:`~gradprops.autodiff.realized_direction`). ``noise`` is an
    absolute rounding level of each value of ``f`` beyond ``eps·|f|`` — for ``f`` a backward whose
    result cancels (softmax at saturation), the rounding of the terms that cancelled.
    """
    f0, plus, minus = points
    backward, backward_scale = inner(grads, realized), abs_inner(grads, realized)
    if not all_finite((*f0, *plus, *minus)):
        return _unusable(step, backward, backward_scale)
    diff = [widened(p) - widened(m) for p, m in zip(plus, minus)]
    second = [widened(p).add(widened(m)).sub_(widened(c), alpha=2) for c, p, m in zip(f0, plus, minus)]
    size = [widened(p).abs().add_(widened(m).abs()).add_(widened(c).abs()) for c, p, m in zip(f0, plus, minus)]
    central = inner(seed, diff) / (2 * step)
    gap = abs_inner(seed, second) / step
    scale = abs_inner(seed, diff) / (2 * step)
    rounding = (32 * _EPS * abs_inner(seed, size) + 2 * noise * sum(float(widened(x).abs().sum()) for x in seed)) / step
    # Finite values whose differences overflow float64 (1/x's backward at x = 1e-154 is -1e308): an
    # infinite gap compares equal to an infinite gap, which would pass a pole for a smooth point.
    if not all(math.isfinite(q) for q in (central, gap, scale, rounding)):
        return _unusable(step, backward, backward_scale)
    return Estimate(step=step, central=central, gap=gap, scale=scale, rounding=rounding, finite=True,
                    backward=backward, backward_scale=backward_scale)


def _unusable(step: float, backward: float, backward_scale: float) -> Estimate:
    """An :class:`Estimate` that says nothing (``finite=False``): NaN where differences would be."""
    nan = float("nan")
    return Estimate(step, nan, nan, nan, nan, False, backward, backward_scale)


@dataclass(frozen=True)
class Verdict:
    """How a backward value ``g = ⟨VJP(v), d⟩`` compares with central differences."""

    outcome: str  # "agree", "not smooth" (skip, never a failure) or "disagree"
    reason: str
    estimates: tuple[Estimate, ...]  # every step tried, coarsest first
    allowed: float  # the tolerance at the last step tried

    @property
    def last(self) -> Estimate:
        return self.estimates[-1]


def _not_finite_at(step: str) -> str:
    return f"the function, or its differences in float64, are not finite at x ± {step}·d"


def allowed_for(e: Estimate, tolerance: Tolerance) -> float:
    """``rtol·|central| + atol·max(Σ|v||J·d|, Σ|VJP(v)||d|) + rounding``."""
    return tolerance.allowed(max(e.scale, e.backward_scale), abs(e.central), e.rounding)


def judge(probe: Callable[[float], Estimate], tolerance: Tolerance) -> Verdict:
    """Compare backward with central differences; a step ``h/4`` is tried only when ``h`` disagrees."""
    e1 = probe(STEP)
    if not e1.finite:
        return Verdict("not smooth", _not_finite_at("h"), (e1,), float("nan"))
    a1 = allowed_for(e1, tolerance)
    if abs(e1.central - e1.backward) <= a1:
        return Verdict("agree", "", (e1,), a1)
    e2 = probe(STEP / SHRINK)
    if not e2.finite:
        return Verdict("not smooth", _not_finite_at("(h/4)"), (e1, e2), float("nan"))
    a2 = allowed_for(e2, tolerance)
    g = e2.backward
    richardson = (SHRINK**2 * e2.central - e1.central) / (SHRINK**2 - 1)
    if abs(e2.central - g) <= a2 or abs(richardson - g) <= a2:
        return Verdict("agree", "", (e1, e2), a2)
    if e1.scale == 0 and e2.scale == 0:  # not one value of f moved: no information about J·d
        return Verdict(
            "not smooth",
            "the function's values do not change at all between x - h·d and x + h·d (at h and h/4): "
            "it is flat to float64 precision along d (an underflow or a cancellation in forward), so "
            f"finite differences cannot judge backward's ⟨backward(v), d⟩ = {g:.3g}",
            (e1, e2), a2,
        )
    if abs(e1.central - e1.backward) <= e1.gap / 2 + a1 or abs(e2.central - g) <= e2.gap / 2 + a2:
        return Verdict(
            "not smooth",
            "not smooth along d (a kink or jump near x): one-sided differences differ by "
            f"{e2.gap:.3g}, enough to explain backward's difference of {abs(e2.central - g):.3g}",
            (e1, e2), a2,
        )
    if e2.gap > 0.5 * e1.gap + e2.rounding and e2.gap > 4 * e2.rounding:
        # The one-sided differences do not shrink with the step: x sits on a kink. A backward between
        # them is a subgradient of a convex or concave piece (the rule above); where more than two
        # pieces meet (ties among several selected elements, as topk's), a valid choice may lie outside.
        return Verdict(
            "not smooth",
            f"x sits on a kink along d (one-sided differences differ by {e1.gap:.3g} at step h and {e2.gap:.3g} "
            f"at h/4); backward's ⟨backward(v), d⟩ = {g:.6g} lies outside them, which is a valid choice where "
            "several smooth pieces meet (a tie among several selected elements), so finite differences "
            "cannot judge it",
            (e1, e2), a2,
        )
    if e2.gap > 0.1 * e2.scale + e2.rounding:
        return Verdict(
            "not smooth",
            "the step is too large for how fast the function varies at x: second differences are "
            f"{e2.gap / max(e2.scale, 1e-300):.2g}× first differences even at step h/4",
            (e1, e2), a2,
        )
    if abs(e1.central - e2.central) > 0.5 * abs(e2.central - g):
        return Verdict(
            "not smooth",
            f"central differences do not converge (step h: {e1.central:.6g}, h/4: {e2.central:.6g}): "
            "the derivative may be unbounded at x",
            (e1, e2), a2,
        )
    if abs(e1.central - e2.central) <= 0.1 * abs(e2.central - g):
        return Verdict("disagree", "", (e1, e2), a2)  # settled as far as two steps tell
    return _refined(probe, tolerance, [e1, e2])


REFINEMENTS = 3
"""Steps :func:`judge` tries below ``h/4`` before it calls a disagreement (each ``SHRINK`` times smaller,
down to ``h/256`` ≈ 2.4e-8)."""


def _refined(probe: Callable[[float], Estimate], tolerance: Tolerance, estimates: list[Estimate]) -> Verdict:
    """Steps ``h`` and ``h/4`` disagree with backward, and with each other by a tenth to a half of
    that: whether smaller steps settle, and on what.

    Central differences converge as ``h²``: once there, each step ``h/4`` moves the estimate 16×
    less than the one before, and what is left of its error is at most a seventh of its last move
    once the moves shrink 8× or more. A sum of terms that turn through radians between ``x`` and
    ``x + h·d`` (``sin(x²)`` at ``|x| ~ 1000``: summed, the output hides their curvature from the
    second differences) is far from that regime at ``h`` and ``h/4``, and its estimates there say
    nothing of ``J·d``. So the step shrinks by 4 until an estimate, or Richardson's extrapolation of
    the last two, agrees with backward (backward is right), or the estimates have settled — the
    last two moves each at most an eighth of the one before, or within rounding — and still
    disagree by more than the last move (backward is wrong). Neither within :data:`REFINEMENTS`
    steps: finite differences cannot judge.
    """
    for _ in range(REFINEMENTS):
        e = probe(estimates[-1].step / SHRINK)
        estimates.append(e)
        if not e.finite:
            return Verdict("not smooth", _not_finite_at(f"{e.step:.3g}"), tuple(estimates),
                           float("nan"))
        allowed = allowed_for(e, tolerance)
        richardson = (SHRINK**2 * e.central - estimates[-2].central) / (SHRINK**2 - 1)
        if abs(e.central - e.backward) <= allowed or abs(richardson - e.backward) <= allowed:
            return Verdict("agree", "", tuple(estimates), allowed)
        moves = [abs(b.central - a.central) for a, b in pairwise(estimates)]
        rounding = [a.rounding + b.rounding for a, b in pairwise(estimates)]
        shrank = [moves[i] <= moves[i - 1] / 8 or moves[i] <= rounding[i] for i in range(1, len(moves))]
        if all(shrank[-2:]) and abs(e.central - e.backward) > moves[-1] + allowed:
            return Verdict("disagree", "", tuple(estimates), allowed)
    steps = ", ".join(f"{x.step:.2g}: {x.central:.6g}" for x in estimates)
    return Verdict(
        "not smooth",
        f"central differences do not settle as the step shrinks (step {steps}): the function varies too fast "
        "along d at x for finite differences to judge backward",
        tuple(estimates), allowed,
    )


def smooth_at(probe: Callable[[float], Estimate]) -> tuple[bool, str, tuple[Estimate, ...]]:
    """Whether the function is smooth along the probed direction, with no backward to compare.

    Smooth means: finite at both steps; second differences shrink with the step (no kink or cusp);
    central differences converge (no unbounded derivative).
    """
    e1, e2 = probe(STEP), probe(STEP / SHRINK)
    if not (e1.finite and e2.finite):
        return False, "the function, or its differences in float64, are not finite near x", (e1, e2)
    if e2.gap > 0.5 * e1.gap + e2.rounding:
        return False, "not smooth at x: one-sided differences do not shrink with the step (a kink or cusp)", (e1, e2)
    tol = 0.1 * max(abs(e1.central), abs(e2.central)) + e1.gap + e2.rounding
    if abs(e1.central - e2.central) > tol:
        return False, "central differences do not converge at x: the derivative may be unbounded", (e1, e2)
    return True, "", (e1, e2)


# --- float64 evaluation and probes, for every property that differences the function ---------------


def float64_version(target: Target) -> tuple[Target, str]:
    """The target to difference, and a note when it is a float64 copy of a lower-precision one."""
    wide = float64_target(target)
    if wide is target:
        return target, ""
    dtypes = sorted({str(x.value.dtype) for x in target.variables if wide_dtype(x.value.dtype) != x.value.dtype})
    return wide, HowChecked(f"{'/'.join(dtypes)} target: finite differences on float64 copies of its inputs and "
                            "parameters")


def float64_outputs(
    f: Callable[[Sequence[Tensor]], tuple[Tensor, ...]], base: Sequence[Tensor], native: bool,
    known: tuple[Tensor, ...] | None = None,
) -> tuple[Tensor, ...]:
    """``f(x)`` in float64 (``known`` when already computed), or :class:`NotApplicable` saying why
    finite differences cannot be run."""
    try:
        f0 = f(base) if known is None else known
    except FunctionRaised as exc:
        where = "at x" if native else "on float64 copies of its inputs and parameters"
        raise NotApplicable(
            f"finite differences need float64, and the function raised {where}: "
            f"{type(exc.original).__name__}: {exc.original}"
        ) from exc
    narrow = sorted({str(o.dtype) for o in f0 if wide_dtype(o.dtype) != o.dtype})
    if narrow:
        raise NotApplicable(
            f"finite differences need float64 outputs, and the function returns {', '.join(narrow)} "
            "on float64 inputs (it casts internally): they would be too imprecise to judge backward"
        )
    return f0


def directional_probe(
    f: Callable[[Sequence[Tensor]], tuple[Tensor, ...]],
    f0: tuple[Tensor, ...],
    base: Sequence[Tensor],
    d: Sequence[Tensor],
    v: Sequence[Tensor],
    grads: Sequence[Tensor] = (),
    noise: float = 0.0,
) -> Callable[[float], Estimate]:
    """Central differences of ``⟨v, f⟩`` along ``d`` at a step, against ``⟨grads, d⟩`` as realised;
    ``noise``: each value of ``f``'s absolute rounding beyond its own (see :func:`estimate`)."""

    def probe(h: float) -> Estimate:
        try:
            plus, minus = evaluate_along(f, base, d, (h, -h))
        except FunctionRaised as exc:
            raise NotApplicable(
                f"the function raised at a point x ± h·d near x (h = {h:.3g}): "
                f"{type(exc.original).__name__}: {exc.original}"
            ) from exc
        return estimate(v, (f0, plus, minus), h, grads, realized_direction(base, d, h), noise=noise)

    return probe


def fd_tolerance(
    variables: Sequence[Tensor], outputs: Sequence[Tensor], rtol: float | None, atol: float | None
) -> Tolerance:
    """The finite-difference tolerance, loosened to the backward's own dtype when that is looser."""
    fd = resolve_tolerance(torch.float64, rtol, atol, "finite_differences")
    native = loosest_dtype([t.dtype for t in (*variables, *outputs)])
    own = resolve_tolerance(native, rtol, atol)
    if own.rtol <= fd.rtol and own.atol <= fd.atol:
        return fd
    source = fd.source if fd.source == "given" else f"finite differences, loosened for a {native} backward"
    return Tolerance(max(fd.rtol, own.rtol), max(fd.atol, own.atol), source)


def first_nonfinite(tensors: Sequence[Tensor]) -> tuple[int, tuple[int, ...], int]:
    """Which tensor holds the first NaN/inf, its index there, and how many that tensor holds.

    >>> first_nonfinite([torch.ones(2), torch.tensor([[1.0, float("nan")], [float("inf"), 0.0]])])
    (1, (0, 1), 2)
    """
    k = next(i for i, g in enumerate(tensors) if not bool(g.isfinite().all()))
    bad = ~tensors[k].isfinite()
    flat = int(bad.reshape(-1).nonzero()[0])
    shape = tensors[k].shape
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), shape)) if len(shape) else ()
    return k, index, int(bad.sum())


def element_direction(base: Sequence[Tensor], k: int, index: tuple[int, ...]) -> tuple[list[Tensor], float]:
    """A direction along element ``index`` of variable ``k`` alone, and its length: ``|x_j|``, or a
    thousandth of the variable's largest value (at least 1e-3) when ``x_j`` is smaller."""
    x = base[k]
    x_j = abs(x[index].item()) if x.dim() else abs(x.item())
    scale = max(x_j, 1e-3 * max(1.0, float(x.abs().max()) if x.numel() else 0.0))
    direction = [torch.zeros_like(b) for b in base]
    direction[k][index] = scale
    return direction, scale

