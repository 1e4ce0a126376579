"""The properties :func:`gradprops.check` runs, each with what it draws and what it needs.

A property's ``run`` receives one :class:`Example` — the target bound to drawn inputs, the shapes
and dtypes of its differentiable outputs, and ``draw`` to pull further values (seeds, coefficients,
directions) from Hypothesis so that they shrink with the rest of the case. It returns notes for the
report, raises :class:`~gradprops.errors.PropertyFailure` on a finding, and raises
:class:`~gradprops.properties._common.NotApplicable` to skip the example with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.errors import UsageError
from gradprops.properties.jacobian import NAME as JACOBIAN
from gradprops.properties.jacobian import check_vjp_matches_jacobian
from gradprops.properties.linearity import NAME as LINEARITY
from gradprops.properties.linearity import check_seed_linearity
from gradprops.properties.ones_sum import NAME as ONES_SUM
from gradprops.properties.ones_sum import check_ones_seed_matches_sum
from gradprops.target import Target


@dataclass(frozen=True)
class Example:
    """One drawn case, as a property sees it."""

    target: Target
    outputs: tuple[Tensor, ...]  # one forward's differentiable outputs (detached): shapes, dtypes
    draw: Callable[[st.SearchStrategy[Any]], Any]
    rtol: float | None = None
    atol: float | None = None

    def draw_seed(self) -> tuple[Tensor, ...]:
        """A seed for the outputs: signed noise, ones, zeros, basis vectors, odd layouts."""
        from gradprops.strategies import seeds

        return self.draw(seeds(self.outputs))

    def draw_generator(self) -> torch.Generator:
        """A torch.Generator whose seed Hypothesis draws (so it replays and shrinks)."""
        return torch.Generator().manual_seed(self.draw(st.integers(0, 2**32 - 1)))


@dataclass(frozen=True)
class Property:
    """A property of backward that :func:`gradprops.check` can run on every example."""

    name: str
    summary: str
    run: Callable[[Example], list[str]]
    needs: tuple[str, ...] = ()  # e.g. ("forward AD",), ("double backward",): listed in the report
    default: bool = True


_COEFFICIENTS = st.one_of(
    st.sampled_from([1.0, -1.0, 2.0, -0.5, 3.0]),
    st.floats(-8.0, 8.0, allow_nan=False).filter(lambda c: abs(c) > 1e-3),
)


def _linearity(ex: Example) -> list[str]:
    u, v = ex.draw_seed(), ex.draw_seed()
    a, b = ex.draw(_COEFFICIENTS), ex.draw(_COEFFICIENTS)
    return check_seed_linearity(ex.target, (u, v), (a, b), rtol=ex.rtol, atol=ex.atol)


def _ones_sum(ex: Example) -> list[str]:
    return check_ones_seed_matches_sum(ex.target, rtol=ex.rtol, atol=ex.atol)


def _jacobian(ex: Example) -> list[str]:
    seed = ex.draw_seed()
    return check_vjp_matches_jacobian(
        ex.target, seed, rtol=ex.rtol, atol=ex.atol, generator=ex.draw_generator()
    )


PROPERTIES: tuple[Property, ...] = (
    Property(LINEARITY, "VJP(a·u + b·v) = a·VJP(u) + b·VJP(v)", _linearity),
    Property(ONES_SUM, "backward(ones_like(y)) = grads of y.sum()", _ones_sum),
    Property(JACOBIAN, "backward(v) = vᵀJ, J from torch.autograd.functional.jacobian", _jacobian,
             needs=("real dtypes",)),
)


def select(names: Sequence[str] | None) -> tuple[Property, ...]:
    """The properties to run: the default set, or exactly those named (in registry order)."""
    if names is None:
        return tuple(p for p in PROPERTIES if p.default)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {p.name: p for p in PROPERTIES}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(
            f"unknown properties {unknown}: choose from {', '.join(known)}" if unknown
            else f"properties is empty: name at least one of {', '.join(known)}, or pass None for all"
        )
    return tuple(p for p in PROPERTIES if p.name in names)
