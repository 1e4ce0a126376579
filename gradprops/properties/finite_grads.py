"""Finite where smooth: backward returns no NaN or inf where the function is finite and smooth.

A NaN grad is often the right answer — at a point where the function is NaN, has a cusp (sqrt of
|x| at 0) or an unbounded derivative (cbrt at 0). It is a bug where the function is finite and
smooth: sinc at 0 through ``(cos(πx) - sinc(x)) / x``, softplus through ``exp(x)/(1+exp(x))`` at
large x. To tell the two apart, the first non-finite grad element ``j`` is probed with central
differences in float64 along that element alone, at two step sizes: if the function is finite
there, its one-sided differences shrink with the step and its central differences converge, the
grad should have been their (finite) value, and the property fails.

Cost per example: 1 forward + 1 backward; only when a grad is not finite, 7 float64 forwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, evaluate_along, float64_variables, outputs_at
from gradprops.compare import finite_max, widened
from gradprops.errors import PropertyFailure, findings_hidden
from gradprops.properties._common import (
    all_finite,
    as_helper,
    findings_as_failures,
    make_case,
    scalar_mismatch,
    seed_or_random,
)
from gradprops.properties._finite import (
    directional_probe,
    element_direction,
    first_nonfinite,
    float64_outputs,
    float64_version,
    smooth_at,
)
from gradprops.signals import NotApplicable
from gradprops.target import Inputs, Seed, Target
from gradprops.tolerances import Tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "finite_grads"


def check_finite_grads(
    target: Target, seed: Seed | None = None, *, generator: torch.Generator | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    gen = generator or torch.Generator().manual_seed(0)
    graph = graph or Graph(target)
    variables = graph.variables
    names = [x.name for x in target.variables]
    v: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"v": v}, helper_call="gradprops.assert_finite_grads(fn, inputs, seed=v)",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        v = seed_or_random(seed, outputs, gen)
        grads = graph.vjp(v)
    if all_finite(grads):
        return []
    if not all_finite(v):
        raise NotApplicable("the seed is not finite")
    if not all_finite(outputs):
        # The target's own outputs overflowed its dtype (a float32 prod of 2048 values past 3.4e38):
        # NaN/inf grads are then its dtype's answer, whatever the float64 path says.
        raise NotApplicable("the function's outputs are NaN or inf in their dtype, so neither need its grads "
                            "be finite")
    k, index, count = first_nonfinite(grads)
    with findings_as_failures(NAME, case):
        wide, _ = float64_version(target)
        base = float64_variables(target)
        f = outputs_at(wide)
        f0 = float64_outputs(f, base, wide is target)
        if not all_finite(f0):
            raise NotApplicable("the function itself is not finite at x, so neither need its grads be")
        direction, scale = element_direction(base, k, index)
        smooth, reason, (e1, e2) = smooth_at(directional_probe(f, f0, base, direction, v))
    if not smooth:
        raise NotApplicable(reason)
    expected = e2.central / scale  # ⟨v, J·e_j⟩: what grad element j should have been (its real part)
    dtype = grads[k].dtype
    limit = torch.finfo(grads[k].real.dtype if grads[k].is_complex() else dtype).max
    if abs(expected) > limit / 2:
        raise NotApplicable(f"the derivative at x ({expected:.3g}) overflows {dtype}")
    # A derivative past the dtype's range is inf there, and a seed's 0 against it 0·inf = NaN (torch's
    # own 1/x in float16 at x = 2⁻¹⁰, whose derivative is -2²⁰), though ⟨v, J·e_j⟩ is finite. Only
    # past the range: below it, nothing in a correct backward overflows.
    with findings_as_failures(NAME, case):
        largest = _largest_derivative(f, base, direction, e2.step) / scale
    if largest >= limit * (1 - _FD_MARGIN):
        raise NotApplicable(f"a derivative at x along that element ({largest:.3g}) is past {dtype}'s range "
                            f"({limit:.6g}): backward's products with it are inf there, or NaN against a 0")
    got = grads[k][index].item() if grads[k].dim() else grads[k].item()
    got = got.real if isinstance(got, complex) else got
    m = scalar_mismatch(f"grad of {names[k]} at index {index}", got, expected, Tolerance(0.0, 0.0, "must be finite"),
                        0.0, "backward(v)", "finite differences")
    extra = (
        f"  {count} of {grads[k].numel()} elements of the grad of {names[k]} are NaN or inf; the first is at "
        f"index {index}.\n  There the function is finite and smooth along that element (central differences "
        f"at steps {e1.step * scale:.3g} and {e2.step * scale:.3g} give {e1.central / scale:.10g} and "
        f"{expected:.10g}; one-sided differences shrink with the step), so the grad should be ≈ {expected:.6g}.\n"
        "Hint: a formula that divides by zero or overflows in an intermediate (0/0 at a removable "
        "singularity, exp(x)/(1+exp(x)) for large x); guard it with torch.where on a safe input."
    )
    raise PropertyFailure(
        NAME, "backward returned NaN/inf where the function is finite and smooth", case(), [m], extra=extra,
    )


def assert_finite_grads(fn: Callable[..., Any], inputs: Inputs, seed: Seed | None = None) -> None:
    """Assert that backward(seed) has no NaN or inf where the function is finite and smooth.

    Non-finite grads at a point where the function is not finite, not smooth (kink, cusp) or has an
    unbounded derivative raise :class:`~gradprops.UsageError` (a skip inside
    :func:`gradprops.check`), never a failure.

    >>> x = torch.tensor([0.0, 0.5], dtype=torch.float64, requires_grad=True)
    >>> assert_finite_grads(torch.sinc, (x,))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_finite_grads(target, seed))


#: How far below the dtype's largest value a float64 central-difference derivative may land and
#: still stand for one past it: central differences at the probe's step are that close.
_FD_MARGIN = 1e-3


def _largest_derivative(
    f: Callable[[Sequence[Tensor]], tuple[Tensor, ...]], base: Sequence[Tensor], direction: Sequence[Tensor],
    step: float,
) -> float:
    """``max_i |∂f_i/∂d|`` by central differences at ``step``: the largest derivative of any output
    element along ``direction``, whatever the seed weighs it by."""
    plus, minus = evaluate_along(f, base, direction, (step, -step))
    return max((finite_max((widened(p) - widened(m)).abs() / (2 * step)) for p, m in zip(plus, minus)
                if p.numel()), default=0.0)
