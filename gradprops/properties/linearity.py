"""Seed linearity: backward is a linear map of its seed, VJP(a·u + b·v) = a·VJP(u) + b·VJP(v)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph
from gradprops.compare import compare_all, max_abs, widened
from gradprops.errors import UsageError, findings_hidden
from gradprops.properties._common import (
    all_finite,
    as_helper,
    beyond_noise,
    check_coefficients,
    fail_on,
    findings_as_failures,
    make_case,
    overflow_note,
    overflows_inside,
    seed_pair,
    tolerance_for,
)
from gradprops.strategies.seeds import largest_seed
from gradprops.target import Inputs, Seed, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "seed_linearity"


def check_seed_linearity(
    target: Target,
    seeds: tuple[Seed, Seed] | None = None,
    coefficients: tuple[float, float] = (1.5, -0.75),
    *,
    rtol: float | None = None,
    atol: float | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph``, one forward of it, when given); returns notes
    for the report, raises PropertyFailure."""
    a, b = check_coefficients(coefficients)
    graph = graph or Graph(target)
    variables = graph.variables
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"u": u, "v": v}, extras={"coefficients": f"a={a!r}, b={b!r}"},
        helper_call=f"gradprops.assert_seed_linearity(fn, inputs, seeds=(u, v), coefficients=({a!r}, {b!r}))",
    )
    u: Sequence[Tensor] = ()
    v: Sequence[Tensor] = ()
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        u, v = seed_pair(seeds, outputs)
        names = [x.name for x in target.variables]
        a, b = _fitting(a, b, u, v)
        w = tuple(a * ui + b * vi for ui, vi in zip(u, v))
        g_w, g_u, g_v = graph.vjp(w), graph.vjp(u), graph.vjp(v)
        # In a narrow dtype w itself rounds: VJP(w) = a·VJP(u) + b·VJP(v) + VJP(r), r = w - (a·u + b·v).
        r = _rounding_residual(w, u, v, a, b)
        g_r = _vjp_of_residual(graph, r, g_w)
    expected = [a * gu + b * gv + gr for gu, gv, gr in zip(g_u, g_v, g_r)]
    unmasked = [*g_w, *expected]  # as compared_at gives them, for the noise measurement
    notes: list[str] = []
    if not all_finite([*g_u, *g_v]):
        # Where VJP(u) or VJP(v) overflows, a·VJP(u) + b·VJP(v) is inf - inf: nothing to compare there.
        finite = [gu.isfinite() & gv.isfinite() for gu, gv in zip(g_u, g_v)]
        g_w = tuple(torch.where(ok, gw, torch.zeros_like(gw)) for gw, ok in zip(g_w, finite))
        expected = [torch.where(ok, e, torch.zeros_like(e)) for e, ok in zip(expected, finite)]
    if not all_finite(g_w) and overflows_inside(target, w, names):
        # VJP(w) passes through values past its dtype's range (computed in float64, they do): its
        # infs are that dtype's overflow, whatever a·VJP(u) + b·VJP(v) came to.
        finite = [gw.isfinite() for gw in g_w]
        left_out = sum(int((~ok).sum()) for ok in finite)
        g_w = tuple(torch.where(ok, gw, torch.zeros_like(gw)) for gw, ok in zip(g_w, finite))
        expected = [torch.where(ok, e, torch.zeros_like(e)) for e, ok in zip(expected, finite)]
        notes.append(f"{left_out} element(s) of backward(a·u + b·v) overflowed inside its dtype (computed in "
                     "float64 it passes through values past that range) and were not compared")
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    magnitude = max(abs(a) * max_abs(g_u), abs(b) * max_abs(g_v), max_abs(g_w))
    scaled = [*(a * x for x in u), *(b * x for x in v), *w]
    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        there = Graph(target, at=values)
        g_u, g_v = there.vjp(u), there.vjp(v)
        g_r = _vjp_of_residual(there, r, g_u)
        return [*there.vjp(w), *(a * gu + b * gv + gr for gu, gv, gr in zip(g_u, g_v, g_r))]

    mismatches = beyond_noise(
        lambda m: compare_all(g_w, expected, names, tolerance, m, actual_label="backward(a·u + b·v)",
                              expected_label="a·backward(u) + b·backward(v)"
                              + (" + backward(r), r = rounding of a·u + b·v" if r is not None else "")),
        magnitude, tolerance, scaled, outputs, variables, names,
        compared_at=compared_at, compared=unmasked,
    )
    fail_on(NAME, "backward is not linear in its seed: VJP(a·u + b·v) != a·VJP(u) + b·VJP(v)",
            mismatches, case, extra=lambda: _hint(u, v, g_u, g_v, g_w))
    return notes + overflow_note(g_w, expected, tolerance)


def assert_seed_linearity(
    fn: Callable[..., Any],
    inputs: Inputs,
    seeds: tuple[Seed, Seed] | None = None,
    coefficients: tuple[float, float] = (1.5, -0.75),
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ``fn``'s backward is linear in its seed at ``inputs``.

    Checks VJP(a·u + b·v) == a·VJP(u) + b·VJP(v) for every differentiated input (and every trainable
    parameter of an ``nn.Module``). ``seeds`` is a pair ``(u, v)``, each shaped like the output (a
    tuple with one tensor per differentiable output for several outputs); when omitted, two signed
    random seeds are used. A backward that assumes a ones seed, or transforms it nonlinearly
    (``grad_output.abs()``), fails here.

    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> assert_seed_linearity(torch.sin, (x,), seeds=(torch.randn(3, dtype=torch.float64),
    ...                                              torch.randn(3, dtype=torch.float64)))
    """
    a, b = check_coefficients(coefficients)
    if a == 0 and b == 0:
        raise UsageError("coefficients (0, 0) make both sides 0 for any backward: pass e.g. coefficients=(2.0, -0.5)")
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_seed_linearity(target, seeds, coefficients, rtol=rtol, atol=atol),
              seed=seeds, seed_label="seeds u and v")


def _fitting(a: float, b: float, u: Sequence[Tensor], v: Sequence[Tensor]) -> tuple[float, float]:
    """``(a, b)`` divided by the power of two that keeps ``a·u + b·v`` inside the seeds' dtype.

    Linearity holds at every scale, and a power of two scales exactly; gradprops must not be the one
    that overflows (a = 1e3 on a float16 seed of 1e3 is 1e6 > 65504), neither in the seed nor in
    the backward's products of it (:func:`~gradprops.strategies.seeds.largest_seed`).
    """
    bound = abs(a) * max_abs(u) + abs(b) * max_abs(v)
    limit = min((largest_seed(t.dtype) for t in u if t.is_floating_point() or t.is_complex()), default=math.inf)
    if math.isfinite(bound) and bound > limit:  # an inf seed is the caller's to fix, not ours
        scale = 2.0 ** math.ceil(math.log2(bound / limit))
        return a / scale, b / scale
    return a, b


def _vjp_of_residual(graph: Graph, r: Sequence[Tensor] | None, like: Sequence[Tensor]) -> Sequence[Tensor]:
    return graph.vjp(r) if r is not None else tuple(torch.zeros_like(g) for g in like)


def _rounding_residual(
    w: Sequence[Tensor], u: Sequence[Tensor], v: Sequence[Tensor], a: float, b: float
) -> tuple[Tensor, ...] | None:
    """``w - (a·u + b·v)`` computed in float64, in the seeds' dtype; ``None`` when it is 0 or float64
    (there the residual's VJP is far below any tolerance)."""
    if all(t.dtype in (torch.float64, torch.complex128) for t in w):
        return None
    r = tuple((widened(wi) - (a * widened(ui) + b * widened(vi))).to(wi.dtype) for wi, ui, vi in zip(w, u, v))
    return r if any(bool(t.any()) for t in r) else None


def _hint(u: Sequence[Tensor], v: Sequence[Tensor], g_u: Sequence[Tensor], g_v: Sequence[Tensor],
          g_w: Sequence[Tensor]) -> str:
    """What the grads say about a nonlinear backward, when they say something plain.

    >>> one, two = [torch.ones(2)], [2 * torch.ones(2)]
    >>> _hint(one, two, one, one, one)[:62]
    'Hint: backward returned the same grads for two different seeds'
    >>> _hint(one, one, one, one, one)[:67]
    'Hint: backward returned the same grads for u and for a·u + b·v = (a'
    """
    if not all(torch.equal(x, y) for x, y in zip(g_u, g_v)):
        return ""
    if not all(torch.equal(x, y) for x, y in zip(u, v)):
        return ("Hint: backward returned the same grads for two different seeds u and v — it "
                "ignores its seed (grad_output), e.g. assumes it is all ones.")
    if all(torch.equal(x, y) for x, y in zip(g_u, g_w)):
        return ("Hint: backward returned the same grads for u and for a·u + b·v = (a + b)·u — it ignores "
                "its seed's scale (grad_output), e.g. assumes it is all ones.")
    return ""
