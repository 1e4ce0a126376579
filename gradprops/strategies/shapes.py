"""Shapes: 0-d to a few dims, size-0 and size-1 dims, shrinking towards small shapes; element budgets.

An example's *sizes* are a tuple of shapes (one per input) and its *axes*: the groups of
``(input, dim)`` positions that must hold one size for the shapes to stay valid together (a named
dim of a signature, one batch position of broadcasting inputs, or one dim of a lone tensor).
:func:`fit_budget` shrinks axes until the example holds at most a budget of elements, and
:func:`draw_large` grows one axis past ``max_side``, mostly to thousands of elements or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from gradprops.strategies._cached import integers_between, one_of_values
from gradprops.strategies._validation import ArgumentError, check_int, check_order

#: Roughly one shape in ``EMPTY_ONE_IN`` that may be empty gets a size-0 dim. Size 0 is decided
#: once per shape rather than per dim so that empty tensors stay a minority of the examples.
EMPTY_ONE_IN = 8

MAX_DIMS = 32  # as Hypothesis' array strategies

#: The default element budget of one example: the sum of ``numel`` over its inputs never exceeds it.
MAX_ELEMENTS = 100_000

#: An example is large (see :func:`draw_large`) when a draw from 0…7 lands in ``LARGE_DRAWS``.
#: Two values of eight: Hypothesis draws the simplest (0) far more often than the others while it
#: generates, and its runs vary; this leaves one example in ten to three in ten large (about one
#: in five on average, most of them above 4,096 elements).
LARGE_DRAWS = (6, 7)

#: How finely the total of a large example is drawn: step ``k`` of ``LARGE_STEPS`` (see
#: :func:`draw_large`), drawn as ``256 · high + low``: Hypothesis draws integers uniformly only
#: up to 256 (it favours small ones beyond), and favours the smallest value of every choice
#: while it generates; a coarse ``high`` of four values first keeps most large examples large.
LARGE_STEPS = 4 * 256 - 1

#: A large example grows a signature's named (core) dim to at most this size: a function may make
#: an output quadratic in it (``torch.diag_embed`` of ``"(n)"``, attention's n × n scores), and
#: 2,048² elements stay affordable. Batch dims, which outputs only loop over, grow to the budget.
MAX_CORE_SIDE = 2048

Shapes = tuple[tuple[int, ...], ...]
Axis = tuple[tuple[int, int], ...]  # the (input, dim) positions that hold one size


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
        raise ArgumentError(f"max_dims={max_dims} is more than the {MAX_DIMS} dims gradprops draws: pass "
                            f"max_dims={MAX_DIMS} or fewer")
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
    """Sizes ``low``…``high``, equally likely up to 64 of them (``integers`` draws its lower bound far
    more often), shrinking towards ``low``; a wider range is ``integers``, never a huge tuple."""
    if high - low >= 64:
        return integers_between(low, high)
    return one_of_values(tuple(range(low, high + 1)))


def total_elements(shapes: Shapes) -> int:
    """The elements of every shape together, a size-0 dim counted as 1: what the budget bounds.

    An empty tensor holds nothing, but its other dims still size its strides and whatever a
    function makes of it (``x.sum(0)`` of a ``(0, 10**6, 10**6)`` input).

    >>> total_elements(((2, 3), (3,), (0, 4)))
    13
    """
    return sum(math.prod(max(n, 1) for n in shape) for shape in shapes)


def resize(shapes: Shapes, axis: Axis, size: int) -> Shapes:
    """``shapes`` with every position of ``axis`` set to ``size``.

    >>> resize(((2, 3), (3,)), ((0, 1), (1, 0)), 5)
    ((2, 5), (5,))
    """
    lists = [list(shape) for shape in shapes]
    for i, d in axis:
        lists[i][d] = size
    return tuple(tuple(shape) for shape in lists)


def without_empty(shapes: Shapes) -> Shapes:
    """Every size 0 made 1: still a valid example, since a size-0 dim is one named dim or one
    batch position, 0 wherever it is not 1.

    >>> without_empty(((2, 0), (0,)))
    ((2, 1), (1,))
    """
    return tuple(tuple(n or 1 for n in shape) for shape in shapes)


def axis_size(shapes: Shapes, axis: Axis) -> int:
    i, d = axis[0]
    return shapes[i][d]


def _largest_fitting(shapes: Shapes, axis: Axis, budget: int, low: int, high: int) -> int | None:
    """The largest size in ``low``…``high`` for ``axis`` that keeps the total within ``budget``."""
    if total_elements(resize(shapes, axis, low)) > budget:
        return None
    while low < high:  # the total grows with the axis' size
        mid = (low + high + 1) // 2
        if total_elements(resize(shapes, axis, mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def fit_budget(shapes: Shapes, axes: Sequence[Axis], budget: int) -> Shapes:
    """Shrink the largest axes until ``shapes`` hold at most ``budget`` elements.

    Each step takes the largest axis down to the size that fits, or to 1 if none does, and moves
    on to the next largest. Sizes the axes do not cover (a signature's fixed sizes) stay; a
    Hypothesis draw is rejected in the rare case that they alone exceed the budget
    (:func:`gradprops.strategies.inputs` refuses a budget that its fixed sizes can never meet).

    >>> fit_budget(((100, 3),), (((0, 0),), ((0, 1),)), 30)
    ((10, 3),)
    """
    while total_elements(shapes) > budget:
        candidates = [axis for axis in axes if axis_size(shapes, axis) > 1]
        if not candidates:
            reject()
        axis = max(candidates, key=lambda a: axis_size(shapes, a))
        size = _largest_fitting(shapes, axis, budget, 1, axis_size(shapes, axis) - 1)
        shapes = resize(shapes, axis, 1 if size is None else size)
    return shapes


def draw_large(draw: Callable[[st.SearchStrategy[Any]], Any], shapes: Shapes, axes: Sequence[Axis],
               budget: int, caps: Sequence[int]) -> Shapes:
    """Grow one drawn axis so that ``shapes`` hold a drawn total of elements between their own
    total ``t`` and ``budget``: ``t · (budget / t) ** (k / LARGE_STEPS) ** (1/3)`` for a drawn step
    ``k = 256 · high + low``. The cube root puts most totals near the budget, and a failure
    shrinks step by step towards the smallest total that shows it (within one step of
    ``high``: a failure past 4,096 elements shrinks to about 4,100, or 9,300 where lowering
    ``high`` would need ``low`` raised). The grown size is the largest
    that fits, or the power of two at or below it, or one off that (``2**k``, ``2**k ± 1``: where
    kernels' blocks end).

    ``caps`` bounds each axis' size (a function may make an output quadratic in a core dim, as
    ``torch.diag_embed`` does: see :data:`MAX_CORE_SIDE`). Shrinks towards the first axis, the
    smallest total and the size that fits. A large example is never empty: its size-0 dims
    become 1 (as :func:`without_empty`). Shapes without an axis (0-d) stay as they are.
    """
    if not axes:
        return shapes
    shapes = without_empty(shapes)
    candidates = axes
    choice = draw(integers_between(0, len(candidates) - 1))
    axis, cap = candidates[choice], caps[choice]
    start = total_elements(shapes)
    high, low = draw(integers_between(0, LARGE_STEPS // 256)), draw(integers_between(0, 255))
    step = (256 * high + low) / LARGE_STEPS
    target = round(start * (budget / start) ** step ** (1 / 3)) if budget > start else start
    current = axis_size(shapes, axis)
    size = _largest_fitting(shapes, axis, target, current, max(current, min(target, cap)))
    if size is None or size <= current:
        return shapes
    snap = draw(integers_between(0, 3))  # 0: as fitted; 1, 2, 3: 2**k, 2**k + 1, 2**k - 1 below it
    if snap:
        power = 1 << (size.bit_length() - 1)
        size = max(current, min(size, power + (0, 0, 1, -1)[snap]))
    return resize(shapes, axis, size)
