"""Strategies made once per argument and reused.

Shapes, layouts, values and seeds are drawn on every example of every check, and Hypothesis
validates, labels and analyses each *new* strategy object before drawing from it — which costs more
than the draw itself. The strategies those draws need are made here, once per set of arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import TypeVar

from hypothesis import strategies as st

H = TypeVar("H", bound=Hashable)


@functools.lru_cache(maxsize=1024)
def integers_between(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers(low, high)``, one object per bounds."""
    return st.integers(low, high)


@functools.lru_cache(maxsize=1024)
def one_of_values(values: tuple[H, ...]) -> st.SearchStrategy[H]:
    """``st.sampled_from(values)``, one object per tuple of values."""
    return st.sampled_from(values)


@functools.lru_cache(maxsize=256)
def permutations_of(values: tuple[int, ...]) -> st.SearchStrategy[list[int]]:
    """``st.permutations(values)``, one object per tuple."""
    return st.permutations(values)
