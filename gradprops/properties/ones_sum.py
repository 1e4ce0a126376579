"""Ones seed = sum: ``y.backward(torch.ones_like(y))`` gives the grads of ``y.sum().backward()``.

The two hand backward different seeds: a fresh contiguous tensor of ones, and (through sum's own
backward) an *expanded* ones with stride 0. A backward that reads its seed by memory offset, or
writes into it, tells them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, sum_vjp, vjp
from gradprops.compare import compare_all, max_abs
from gradprops.errors import findings_hidden
from gradprops.properties._common import (
    as_helper,
    beyond_noise,
    fail_on,
    findings_as_failures,
    make_case,
    tolerance_for,
)
from gradprops.target import Inputs, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "ones_seed_matches_sum"


def check_ones_seed_matches_sum(
    target: Target, *, rtol: float | None = None, atol: float | None = None, graph: Graph | None = None
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    graph = graph or Graph(target)
    variables = graph.variables
    case = lambda: make_case(  # noqa: E731
        target, variables, helper_call="gradprops.assert_ones_seed_matches_sum(fn, inputs)"
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        names = [x.name for x in target.variables]
        ones = tuple(torch.ones_like(o) for o in outputs)
        g_ones = vjp(outputs, variables, ones, names=names)
        g_sum = sum_vjp(outputs, variables)
    what = "y.sum().backward()" if len(outputs) == 1 else "sum of every output's .sum(), .backward()"
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        there = Graph(target, at=values)
        return [*there.vjp(ones), *sum_vjp(there.outputs, there.variables)]

    mismatches = beyond_noise(
        lambda m: compare_all(g_ones, g_sum, names, tolerance, m, actual_label="backward(ones_like(y))",
                              expected_label=what),
        max_abs([*g_ones, *g_sum]), tolerance, ones, outputs, variables, names,
        compared_at=compared_at, compared=[*g_ones, *g_sum],
    )
    fail_on(NAME, f"seeding with torch.ones_like(y) does not give the grads of {what}",
            mismatches, case)
    return []


def assert_ones_seed_matches_sum(
    fn: Callable[..., Any],
    inputs: Inputs,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that seeding ``fn``'s outputs with ones gives the same grads as summing them.

    For several outputs the reference is the sum of their sums (complex outputs: the real part).

    >>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> assert_ones_seed_matches_sum(lambda t: t * t, (x,))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_ones_seed_matches_sum(target, rtol=rtol, atol=atol))
