"""Shapes: 0-d to a few dims, size-0 and size-1 dims, shrinking towards small shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gradprops.strategies._cached import integers_between, one_of_values
from gradprops.strategies._validation import check_int, check_order

#: Roughly one shape in ``EMPTY_ONE_IN`` that may be empty gets a size-0 dim. Size 0 is decided
#: once per shape rather than per dim so that empty tensors stay a minority of the examples.
EMPTY_ONE_IN = 8

MAX_DIMS = 32  # as Hypothesis' array strategies


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 6
) -> st.SearchStrategy[tuple[int, ...]]:
    """Tensor shapes with ``min_dims`` to ``max_dims`` dims, each of size ``min_side`` to ``max_side``.

    Covers 0-d ``()``, size-1 dims and (when ``min_side`` is 0) size-0 dims; a shape has at most one
    size-0 dim, and about one shape in eight that could be empty is. More dims are drawn more often
    (``k`` extra dims ``k + 1`` times as often as ``min_dims``), sides are equally likely; shapes
    shrink towards fewer dims, then sides of 1. The defaults reach 6 × 6 × 6 = 216 elements, and
    about 7% of their draws have more than 64.

    >>> from hypothesis import find
    >>> find(shapes(), lambda s: len(s) == 2)
    (1, 1)
    """
    check_int(min_dims, "min_dims", minimum=0)
    check_int(max_dims, "max_dims", minimum=0)
    check_order("min_dims", min_dims, "max_dims", max_dims)
    if max_dims > MAX_DIMS:
        raise InvalidArgument(f"max_dims={max_dims} is more than the {MAX_DIMS} dims gradprops draws")
    check_int(min_side, "min_side", minimum=0)
    check_int(max_side, "max_side", minimum=0)
    check_order("min_side", min_side, "max_side", max_side)
    return _shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def _shapes(draw: Callable[[st.SearchStrategy[Any]], Any], *, min_dims: int, max_dims: int, min_side: int,
            max_side: int) -> tuple[int, ...]:
    if max_side == 0:
        return (0,) * draw(_dims(min_dims, max_dims))
    dims = draw(_dims(min_dims, max_dims))
    side = _sides(max(min_side, 1), max_side)
    sides = [draw(side) for _ in range(dims)]
    if min_side == 0:
        empty = draw_empty_slot(draw, len(sides))
        if empty is not None:
            sides[empty] = 0
    return tuple(sides)


def draw_empty_slot(draw: Callable[[st.SearchStrategy[Any]], Any], slots: int) -> int | None:
    """Which of ``slots`` places to make size 0 (about one time in EMPTY_ONE_IN), or None.

    Shrinks towards None: a failure that needs no empty tensor loses its size-0 dim.
    """
    if slots == 0 or draw(integers_between(0, EMPTY_ONE_IN - 1)) != EMPTY_ONE_IN - 1:
        return None
    return draw(integers_between(0, slots - 1))


def _dims(low: int, high: int) -> st.SearchStrategy[int]:
    """A number of dims, ``low + k`` drawn ``k + 1`` times as often as ``low``, shrinking towards ``low``.

    Hypothesis favours the simplest choice while generating (``st.lists`` of sides gave 0-d and
    one-element tensors in 30-40% of the examples of a run); this weighting leaves about 10% 0-d
    and 40% 3-d shapes by default, so that more of a 100-example budget goes to larger tensors.
    """
    return one_of_values(tuple(k for k in range(low, high + 1) for _ in range(k - low + 1)))


def _sides(low: int, high: int) -> st.SearchStrategy[int]:
    """Sizes ``low``…``high``, equally likely (``integers`` draws its lower bound far more often),
    shrinking towards ``low``."""
    return one_of_values(tuple(range(low, high + 1)))
