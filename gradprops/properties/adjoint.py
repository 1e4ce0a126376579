"""Forward/reverse adjoint: ⟨v, JVP(d)⟩ = ⟨VJP(v), d⟩, forward-mode AD against backward.

Forward mode computes ``J·d`` without ever calling backward, so it is an oracle as independent as
finite differences but exact: the tolerance is that of two computation paths in the target's own
dtype, not that of differencing. It is available where every op has a forward-AD formula; a custom
Function needs a ``jvp`` staticmethod, and without one the example is skipped with that reason.
When it fails, either backward or the custom ``jvp`` is wrong: ``finite_differences`` tells which.

Cost per example: 1 forward + 1 backward, and 1 forward in forward-mode AD; 1 more forward-mode
pass per variable only to explain a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, jvp
from gradprops.errors import PropertyFailure, findings_hidden
from gradprops.noise import signed_noise
from gradprops.properties._common import (
    all_finite,
    as_helper,
    as_per_variable,
    findings_as_failures,
    make_case,
    noise_floor,
    rounding_noise,
    scalar_mismatch,
    seed_or_random,
    tolerance_for,
)
from gradprops.properties._finite import abs_inner, along_one, inner, per_variable_lines
from gradprops.signals import FunctionRaised, Mutated, NotApplicable, Unavailable, Unsupported
from gradprops.target import Inputs, Seed, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "forward_reverse_adjoint"


def check_forward_reverse_adjoint(
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
        helper_call="gradprops.assert_forward_reverse_adjoint(fn, inputs, seed=v, directions=d)",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        v = seed_or_random(seed, outputs, gen)
        d = (
            as_per_variable(directions, variables, "directions") if directions is not None
            else tuple(signed_noise(x.shape, x.dtype, gen).to(x.device) for x in variables)
        )
        grads = graph.vjp(v)
        tangents = _jvp(target, variables, d)
    if not all_finite([*grads, *tangents, *v]):
        raise NotApplicable("backward or forward-mode AD returned NaN or inf here: finite_grads judges those")
    reverse, forward_mode = inner(grads, d), inner(v, tangents)
    magnitude = max(abs_inner(grads, d), abs_inner(v, tangents))
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    floor = noise_floor(v, outputs, per="sum") * max((float(x.abs().max()) for x in d if x.numel()), default=0.0)
    allowed = tolerance.allowed(magnitude, abs(forward_mode), floor)
    if abs(reverse - forward_mode) <= allowed:
        return []
    # Both sides may be rounding noise of terms that cancelled (kl_div of constant rows): measure it.
    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        there = Graph(target, at=values)
        grads_there = there.vjp(v)
        return [torch.tensor([inner(grads_there, d), inner(v, _jvp(target, there.variables, d))], dtype=torch.float64)]

    try:
        wobble = rounding_noise(compared_at, variables, [torch.tensor([reverse, forward_mode], dtype=torch.float64)])
    except (FunctionRaised, Mutated, NotApplicable):
        wobble = 0.0
    allowed = max(allowed, 4 * wobble)
    if abs(reverse - forward_mode) <= allowed:
        return []
    with findings_as_failures(NAME, case):
        rows = _per_variable(target, variables, v, d, grads, tolerance, floor) if len(variables) > 1 else []
    total = scalar_mismatch(
        "⟨backward(v), d⟩ summed over all variables" if len(names) > 1 else f"⟨grad of {names[0]}, d⟩",
        reverse, forward_mode, tolerance, allowed, "⟨backward(v), d⟩", "⟨v, JVP(d)⟩",
    )
    lines = [
        "  Compared one scalar: ⟨backward(v), d⟩ — reverse mode, the grads against the direction d — "
        "with ⟨v, JVP(d)⟩ — forward mode (torch.autograd.forward_ad), the seed against the outputs' "
        "tangents:",
        f"    ⟨backward(v), d⟩ = {reverse:.10g}; ⟨v, JVP(d)⟩ = {forward_mode:.10g}; difference "
        f"{abs(reverse - forward_mode):.6g}, allowed {allowed:.3g} = rtol·|⟨v, JVP(d)⟩| + "
        f"atol·max(Σ|grad||d|, Σ|v||JVP(d)|) (magnitude {magnitude:.3g}; rounding floor {floor:.2g})",
    ]
    lines += per_variable_lines(rows, "forward mode")
    mismatches = [total, *(m for *_, m in rows if m is not None)]
    custom_jvp = _has_custom_jvp(target.fn)
    lines.append(
        "Hint: backward and forward mode disagree: one of them is wrong"
        + (" (this function defines its own jvp, which may be the wrong one)" if custom_jvp else "")
        + "; the finite_differences property says which."
    )
    raise PropertyFailure(
        NAME, "⟨v, JVP(d)⟩ from forward-mode AD does not equal ⟨backward(v), d⟩", case(), mismatches,
        extra="\n".join(lines),
    )


def assert_forward_reverse_adjoint(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    directions: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ⟨seed, JVP(d)⟩ by forward-mode AD equals ⟨backward(seed), d⟩.

    ``seed`` is shaped like the output(s); ``directions`` has one tensor per differentiated input,
    then per trainable parameter; both random when omitted. Where forward-mode AD is unavailable (a
    custom Function without ``jvp``) this raises :class:`~gradprops.UsageError` saying so (a skip
    inside :func:`gradprops.check`).

    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> assert_forward_reverse_adjoint(torch.tanh, (x,))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_forward_reverse_adjoint(target, seed, directions, rtol=rtol, atol=atol), seed=seed)


def _jvp(target: Target, variables: Sequence[Tensor], d: Sequence[Tensor]) -> tuple[Tensor, ...]:
    try:
        return jvp(target, variables, d)
    except Unavailable as exc:
        raise Unsupported(str(exc)) from exc


def _per_variable(
    target: Target,
    variables: Sequence[Tensor],
    v: Sequence[Tensor],
    d: Sequence[Tensor],
    grads: Sequence[Tensor],
    tolerance: Any,
    floor: float,
) -> list[tuple[str, float, float, Any]]:
    rows = []
    for k, x in enumerate(target.variables):
        tangents = _jvp(target, variables, along_one(d, k))
        f = inner(v, tangents)
        r = inner([grads[k]], [d[k]])
        magnitude = max(abs_inner([grads[k]], [d[k]]), abs_inner(v, tangents))
        allowed = tolerance.allowed(magnitude, abs(f), floor)
        m = None
        if abs(r - f) > allowed:
            m = scalar_mismatch(f"⟨grad of {x.name}, d⟩", r, f, tolerance, allowed, "⟨backward(v), d⟩",
                                "⟨v, JVP(d)⟩")
        rows.append((x.name, r, f, m))
    return rows


def _has_custom_jvp(fn: Any) -> bool:
    owner = getattr(fn, "__self__", None)
    return isinstance(owner, type) and issubclass(owner, torch.autograd.Function) and (
        owner.jvp is not torch.autograd.Function.jvp
    )
