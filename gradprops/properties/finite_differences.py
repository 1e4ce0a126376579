"""Finite differences: ⟨v, J·d⟩ by central differences in float64 equals ⟨backward(v), d⟩.

The one property that does not trust backward at all: the reference comes from evaluating the
function at ``x ± h·d``. A wrong formula that is still linear in its seed (−cos for sin, a
forgotten 1/N, swapped grads of two inputs, an ignored second output) passes linearity, ones-seed
and the explicit Jacobian (built from the same backward), and fails here.

float32/float16/bfloat16 targets are differenced on float64 copies of their inputs and parameters,
and it is the float64 path's backward that is compared: this property judges the formula. How far
the narrow path may stray from float64 is the ``low_precision`` property's question, answered with
an error model of that dtype. When the function does not accept float64 the example is skipped
with the reason. Kinks, jumps, non-finite values and
steps too large for the function are recognised and skipped, never reported (see ``_finite``).

Cost per example: 1 forward + 1 backward in the target's dtype and 3 forwards in float64 (at x and
x ± h·d); 2 more forwards only when the first step disagrees, and 2 per variable only to explain
a failure. Inputs of more than 512 elements are also differenced along d kept at block edges
(:func:`block_edges`): 2 forwards more, so that one wrong element among 10⁵ is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import (
    Graph,
    float64_variables,
    outputs_at,
    vjp_at,
)
from gradprops.compare import Mismatch
from gradprops.errors import PropertyFailure, findings_hidden
from gradprops.precision import LargestIntermediate, unit_roundoff
from gradprops.properties._common import (
    all_finite,
    as_helper,
    as_per_variable,
    findings_as_failures,
    make_case,
    scalar_mismatch,
    seed_or_random,
)
from gradprops.properties._finite import (
    STEP,
    Verdict,
    allowed_for,
    along_one,
    directional_probe,
    fd_tolerance,
    float64_outputs,
    float64_version,
    judge,
    per_variable_lines,
    scaled_directions,
)
from gradprops.signals import FunctionRaised, NotApplicable
from gradprops.strided import repeats, wide_dtype
from gradprops.target import Inputs, Seed, Target
from gradprops.tolerances import Tolerance, resolve_tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "finite_differences"


def check_finite_differences(
    target: Target,
    seed: Seed | None = None,
    directions: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    generator: torch.Generator | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    gen = generator or torch.Generator().manual_seed(0)
    graph = graph or Graph(target)
    variables = graph.variables
    names = [x.name for x in target.variables]
    v: Sequence[Tensor] = ()
    d: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"v": v}, per_variable={"d": d},
        extras={"finite differences": f"central, float64, step h = {STEP:.3g} along d (then h/4)"},
        helper_call="gradprops.assert_finite_differences(fn, inputs, seed=v, directions=d)",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        v = seed_or_random(seed, outputs, gen)
        grads = graph.vjp(v)
        if not all_finite(v) or not all_finite(grads):
            raise NotApplicable("backward returned NaN or inf here: finite_grads judges those")
        wide, note = float64_version(target)
        base = float64_variables(target)
        d = as_per_variable(directions, base, "directions") if directions is not None else scaled_directions(base, gen)
        f = outputs_at(wide)
        # A float64 target's own outputs are f(x): no need to run forward again.
        f0 = float64_outputs(f, base, wide is target, tuple(o.detach() for o in outputs) if wide is target else None)
        if wide is not target:
            # The formula is judged in float64; how far the narrow path may stray from it is
            # low_precision's question, answered with an error model of that dtype.
            grads = _float64_grads(wide, base, v, names)
        probe = directional_probe(f, f0, base, d, v, grads)
        tolerance = fd_tolerance(variables, outputs, rtol, atol) if wide is target else resolve_tolerance(
            torch.float64, rtol, atol, "finite_differences")
        verdict = judge(probe, tolerance)
        if verdict.outcome != "disagree" and directions is None and any(x.numel() > 2 * BLOCK for x in base):
            # One wrong element among 10⁵ is δ·d_i against a tolerance of ~1e-5·Σ|terms| ~ n: along d
            # kept only at block edges, where kernels go wrong, the tolerance shrinks ~BLOCK/2-fold.
            # Tried after a "not smooth" too: one large or kinked value elsewhere no longer hides them.
            edges = block_edges(d)
            at_edges = judge(directional_probe(f, f0, base, edges, v, grads), tolerance)
            if at_edges.outcome == "disagree":
                verdict, d = at_edges, edges
    if verdict.outcome == "disagree":
        # f's values carry rounding of their largest intermediate, not only of themselves (a loss of
        # 1e-278 computed through logits of 661): judged again with that noise before a verdict.
        with findings_as_failures(NAME, case):
            noise = _absorption(f, base)
        if noise:
            again = judge(directional_probe(f, f0, base, d, v, grads, noise=noise), tolerance)
            if again.outcome != "disagree":
                verdict = again
    if verdict.outcome == "not smooth":
        raise NotApplicable(verdict.reason)
    if verdict.outcome == "disagree":
        with findings_as_failures(NAME, case):
            per_variable = _per_variable(f, f0, base, d, v, grads, verdict, tolerance, names)
        _fail(verdict, tolerance, per_variable, names, outputs, case())
    return [note] if note else []


def assert_finite_differences(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    directions: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ⟨seed, J·d⟩ by central differences (float64) equals ⟨backward(seed), d⟩.

    ``seed`` is shaped like the output(s) (random when omitted); ``directions`` has one tensor per
    differentiated input, then per trainable parameter (random, scaled to the inputs, when
    omitted). The function is evaluated at ``x ± h·d`` with ``h ≈ 6e-6`` (and ``h/4`` to confirm a
    disagreement). A kink, jump or non-finite value near ``x`` raises :class:`~gradprops.UsageError`
    (a skip inside :func:`gradprops.check`) rather than a failure.

    >>> x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    >>> assert_finite_differences(torch.sin, (x,), seed=torch.randn(4, dtype=torch.float64))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_finite_differences(target, seed, directions, rtol=rtol, atol=atol), seed=seed)


BLOCK = 256
"""Kernels split work into blocks of a power of two elements (256, 1,024, 4,096): :func:`block_edges`
keeps a direction at the first and last element of every block of this size."""


def block_edges(d: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``d`` kept at the first and last element of every :data:`BLOCK` of each tensor's elements (in
    row-major order) and at its last element, zero elsewhere: where a kernel's block or partial last
    block goes wrong.

    >>> [int(i) for i in block_edges([torch.ones(600)])[0].nonzero()]
    [0, 255, 256, 511, 512, 599]
    """
    kept = []
    for t in d:
        index = torch.arange(t.numel(), device=t.device)
        at_edge = (index % BLOCK == 0) | (index % BLOCK == BLOCK - 1) | (index == t.numel() - 1)
        kept.append(torch.where(at_edge.reshape(t.shape), t, torch.zeros((), dtype=t.dtype)))
    return tuple(kept)


def _float64_grads(
    wide: Target, base: Sequence[Tensor], v: Sequence[Tensor], names: Sequence[str]
) -> tuple[Tensor, ...]:
    seed = tuple(s.to(wide_dtype(s.dtype)) for s in v)
    try:
        grads = vjp_at(wide, seed, names)(base)
    except FunctionRaised as exc:
        raise NotApplicable(
            "finite differences judge the float64 path of a lower-precision target, and its backward raised "
            f"on float64 copies of the inputs: {type(exc.original).__name__}: {exc.original}"
        ) from exc
    if not all_finite(grads):
        raise NotApplicable("backward of the float64 path returned NaN or inf here: finite_grads judges those")
    return grads


def _absorption(f: Callable[[Sequence[Tensor]], Sequence[Tensor]], base: Sequence[Tensor]) -> float:
    """The absolute rounding each value of ``f`` may carry: float64's unit roundoff times the largest
    intermediate its forward computes (:class:`~gradprops.precision.LargestIntermediate`)."""
    with LargestIntermediate() as watch:
        f(base)
    return unit_roundoff(torch.float64) * watch.largest


def _per_variable(
    f: Callable[[Sequence[Tensor]], tuple[Tensor, ...]],
    f0: tuple[Tensor, ...],
    base: Sequence[Tensor],
    d: Sequence[Tensor],
    v: Sequence[Tensor],
    grads: Sequence[Tensor],
    verdict: Verdict,
    tolerance: Tolerance,
    names: Sequence[str],
) -> list[tuple[str, float, float, Mismatch | None]]:
    """Which variable's direction carries the difference: d restricted to one variable at a time."""
    if len(base) == 1:
        return []
    rows = []
    h = verdict.last.step
    for k, name in enumerate(names):
        try:
            e = directional_probe(f, f0, base, along_one(d, k), v, grads)(h)
        except NotApplicable:
            continue
        g_k = e.backward
        allowed = allowed_for(e, tolerance)
        m = None
        if abs(g_k - e.central) > allowed:
            m = scalar_mismatch(
                f"⟨grad of {name}, d⟩", g_k, e.central, tolerance, allowed,
                "⟨backward(v), d⟩", "⟨v, J·d⟩ by central differences",
            )
        rows.append((name, g_k, e.central, m))
    return rows


def _fail(
    verdict: Verdict,
    tolerance: Tolerance,
    per_variable: list[tuple[str, float, float, Mismatch | None]],
    names: Sequence[str],
    outputs: Sequence[Tensor],
    case: Any,
) -> None:
    e = verdict.last
    g = e.backward
    dtypes = "/".join(sorted({str(o.dtype) for o in outputs}))
    total = scalar_mismatch(
        "⟨backward(v), d⟩ summed over all variables" if len(names) > 1 else f"⟨grad of {names[0]}, d⟩",
        g, e.central, tolerance, verdict.allowed, "⟨backward(v), d⟩", "⟨v, J·d⟩ by central differences",
    )
    lines = [
        "  Compared one scalar: ⟨backward(v), d⟩ — backward's grads (run in "
        f"{dtypes}) against the direction d — with ⟨v, J·d⟩, the change of ⟨v, f⟩ along d by "
        "central differences of the function in float64:",
    ]
    lines += [
        f"    step h = {x.step:.3g}: ⟨v, J·d⟩ ≈ {x.central:.10g} (one-sided differences differ by {x.gap:.3g})"
        for x in verdict.estimates
    ]
    lines.append(
        f"    backward: ⟨backward(v), d⟩ = {g:.10g}; difference {abs(g - e.central):.6g}, allowed "
        f"{verdict.allowed:.3g} = rtol·|fd| + atol·max(Σ|v||J·d|, Σ|grad||d|) + rounding {e.rounding:.2g}"
    )
    lines += per_variable_lines(per_variable, "finite differences")
    mismatches = [total, *(m for *_, m in per_variable if m is not None)]
    hint = ("Hint: backward disagrees with the function's own values, so its formula is wrong (a sign, a "
            "factor, a swapped or missing term), not only its handling of the seed. To see which entries "
            "are wrong, run torch.autograd.gradcheck(fn, inputs) on this small case in float64")
    expanded = [name for name, t in case.variables if repeats(t)]
    if expanded:
        # gradcheck raises on stride-0 inputs, and .contiguous() copies may hide a layout bug
        hint += (f"; gradcheck refuses {', '.join(expanded)}, expanded (stride 0): if it passes on "
                 ".contiguous() copies, backward goes wrong on this layout only, e.g. it reads its input's "
                 "memory as if contiguous")
    lines.append(hint + ".")
    raise PropertyFailure(
        NAME,
        "⟨v, J·d⟩ from central differences in float64 does not equal ⟨backward(v), d⟩",
        case, [total, *mismatches[1:]], extra="\n".join(lines),
    )
