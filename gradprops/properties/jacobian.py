"""VJP = vᵀJ: grads from ``backward(v)`` agree with ``v`` times the Jacobian autograd builds.

``torch.autograd.functional.jacobian`` builds ``J`` row by row from *basis* seeds, so this catches a
backward that mishandles a general seed — one that reads it in memory order ignoring its strides, or
mixes up which output element a seed entry belongs to. It cannot catch a wrong formula: ``J`` comes
from the same backward. The finite-difference and adjoint properties do that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import JACOBIAN_ROW_CAP, Graph, as_seed, jacobian_products
from gradprops.compare import compare_all, max_abs
from gradprops.errors import UsageError, findings_hidden
from gradprops.properties._common import (
    as_helper,
    beyond_noise,
    fail_on,
    findings_as_failures,
    make_case,
    overflow_note,
    tolerance_for,
)
from gradprops.signals import NotApplicable
from gradprops.target import Inputs, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "vjp_matches_jacobian"


def check_vjp_matches_jacobian(
    target: Target,
    seed: Tensor | Sequence[Tensor],
    *,
    rtol: float | None = None,
    atol: float | None = None,
    row_cap: int = JACOBIAN_ROW_CAP,
    generator: torch.Generator | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    graph = graph or Graph(target)
    variables = graph.variables
    checked: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"v": checked},
        helper_call="gradprops.assert_vjp_matches_jacobian(fn, inputs, v)",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        checked = as_seed(seed, outputs, "v")
        if any(t.is_complex() for t in (*outputs, *variables)):
            raise NotApplicable(
                "vjp_matches_jacobian needs real inputs and outputs: "
                "torch.autograd.functional.jacobian does not support complex ones"
            )
        generator = generator or torch.Generator().manual_seed(0)
        rows_state = generator.get_state()  # to sample the same rows again, elsewhere
        given = checked
        checked, expected, note, zero_times_inf = jacobian_products(target, variables, given, row_cap=row_cap,
                                                                     generator=generator)
        names = [x.name for x in target.variables]
        got = graph.vjp(checked)
    # A seed entry of 0 against a J entry past the dtype's range: 0 is seedᵀJ there, and so is the
    # NaN of 0·inf that a backward computing in that dtype gets. Both NaN: not compared (overflow_note).
    # Not ±inf: that comes of reading a seed entry that is not 0 (a layout bug).
    expected = tuple(torch.where(u & g.isnan(), float("nan"), e) if u.any() else e
                     for u, g, e in zip(zero_times_inf, got, expected))
    tolerance = tolerance_for(variables, outputs, rtol, atol)

    def compare_at(magnitude: float) -> list[Any]:
        return compare_all(got, expected, names, tolerance, magnitude, actual_label="backward(v)",
                           expected_label="vᵀJ")

    # J's rows can cancel to noise of terms far larger than J (layer_norm of a 2-element row:
    # terms ~1/σ, J ~ 0): beyond_noise measures that noise by moving x a little.
    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        there = Graph(target, at=values)
        same_rows = torch.Generator()
        same_rows.set_state(rows_state)
        seed, products, _, _ = jacobian_products(target, there.variables, given, row_cap=row_cap,
                                                 generator=same_rows)
        return [*there.vjp(seed), *products]

    mismatches = beyond_noise(compare_at, max_abs([*got, *expected]), tolerance, checked, outputs, variables, names,
                              compared_at=compared_at, compared=[*got, *expected])
    fail_on(NAME, "backward(v) does not equal vᵀJ, J from torch.autograd.functional.jacobian",
            mismatches, case, extra=note)
    return ([note] if note else []) + overflow_note(got, expected, tolerance)


def assert_vjp_matches_jacobian(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Tensor | Sequence[Tensor],
    *,
    rtol: float | None = None,
    atol: float | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Assert that ``backward(seed)`` equals seedᵀJ, J from ``torch.autograd.functional.jacobian``.

    Outputs with more than :data:`~gradprops.autodiff.JACOBIAN_ROW_CAP` (256) elements are checked
    on a random sample of that many Jacobian rows, with the seed restricted to them, drawn from
    ``generator`` (seeded 0 when omitted: the same rows every call; a
    :class:`~gradprops.NotChecked` warning says how many rows were left out). Pass a
    non-contiguous ``seed`` (e.g. ``torch.randn(4, 3).t()``) to test how backward reads strides.

    >>> x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    >>> assert_vjp_matches_jacobian(torch.exp, (x,), torch.randn(3, 2, dtype=torch.float64).t())
    """
    tensors = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs) if isinstance(inputs, (tuple, list)) else ()
    if any(isinstance(t, Tensor) and t.is_complex() for t in tensors):
        raise UsageError("vjp_matches_jacobian: torch.autograd.functional.jacobian does not support complex "
                         "inputs; check complex functions with assert_forward_reverse_adjoint or "
                         "assert_finite_differences")
    as_helper(NAME, Target(fn, inputs),
              lambda target: [note + (" (pass generator= to sample other rows)" if "capped" in note else "")
                              for note in check_vjp_matches_jacobian(target, seed, rtol=rtol, atol=atol,
                                                                     generator=generator)], seed=seed)
