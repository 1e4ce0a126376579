"""Memory layouts: the same logical tensor stored contiguously, permuted, sliced or expanded.

``contiguous``  a fresh row-major tensor
``permuted``    a row-major buffer of permuted dims, viewed back (``x.t()``, ``x.permute(...)``):
                non-contiguous
``sliced``      a view into a larger buffer: every dim may step by 2 and have a padded row, and the
                view starts at a storage offset (``buf[1:, ::2]``); never indistinguishable from
                contiguous. The padding holds NaN (integer max for integer dtypes, True for
                bool), so code that reads outside the view sees it. The buffer holds at most
                8 × numel + 64 elements (outer dims lose their steps and pads until it does)
``expanded``    some dims of size > 1 have stride 0 (``x.expand(...)``): the values along them repeat

A layout that a shape cannot show degrades to ``contiguous``: every layout on a size-0 tensor,
``permuted`` with fewer than two dims of size > 1, ``expanded`` with none. ``sliced`` works on any
non-empty tensor, 0-d included (through its storage offset).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.strategies._cached import integers_between, one_of_values, permutations_of

LAYOUTS = ("contiguous", "sliced", "permuted", "expanded")


@dataclass(frozen=True)
class Layout:
    """How a logical tensor of some shape sits in memory; :meth:`build` makes it."""

    name: str = "contiguous"
    order: tuple[int, ...] = ()  # permuted: the dims from outermost to innermost in memory
    steps: tuple[int, ...] = ()  # sliced: per dim step
    pads: tuple[int, ...] = ()  # sliced: per dim extra elements after the view's last
    offset: int = 0  # sliced: storage offset
    expanded: tuple[int, ...] = ()  # expanded: the stride-0 dims

    def base_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the distinct values: ``shape`` with the expanded dims set to 1."""
        return tuple(1 if d in self.expanded else n for d, n in enumerate(shape))

    def strides(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The strides :meth:`build` gives a tensor of ``shape`` (sliced layouts)."""
        strides = [0] * len(shape)
        inner = 1
        for d in reversed(range(len(shape))):
            strides[d] = self.steps[d] * inner
            inner *= shape[d] * self.steps[d] + self.pads[d]
        return tuple(strides)

    def build(self, values: Tensor, shape: tuple[int, ...], device: torch.device | str = "cpu") -> Tensor:
        """A tensor of ``shape`` on ``device`` in this layout, holding ``values`` (of :meth:`base_shape`)."""
        values = values.reshape(self.base_shape(shape))
        if self.name == "permuted":
            buffer = torch.empty([shape[d] for d in self.order], dtype=values.dtype, device=device)
            view = buffer.permute(tuple(self.order.index(d) for d in range(len(shape))))
            return view.copy_(values)
        if self.name == "sliced":
            strides = self.strides(shape)
            span = self.offset + math.prod(n * s + p for n, s, p in zip(shape, self.steps, self.pads))
            buffer = torch.full((span,), _padding(values.dtype), dtype=values.dtype, device=device)
            return buffer.as_strided(shape, strides, self.offset).copy_(values)
        if self.name == "expanded":
            return values.to(device).expand(shape)
        return values.to(device).contiguous()


def max_span(shape: tuple[int, ...]) -> int:
    """The most elements a sliced buffer for ``shape`` holds (its offset aside): its memory stays
    within a small factor of the tensor's, however many dims it has."""
    return 8 * math.prod(shape) + 64


def _padding(dtype: torch.dtype) -> Any:
    if dtype.is_floating_point or dtype.is_complex:
        return math.nan
    return True if dtype == torch.bool else torch.iinfo(dtype).max


def draw_layout(
    draw: Callable[[st.SearchStrategy[Any]], Any], shape: tuple[int, ...], allowed: tuple[str, ...]
) -> Layout:
    """One of the ``allowed`` layouts for ``shape`` (shrinks towards the first allowed, then simpler)."""
    name = draw(one_of_values(allowed))
    if name == "contiguous" or math.prod(shape) == 0:
        return Layout()
    big = [d for d, n in enumerate(shape) if n > 1]
    if name == "permuted":
        if len(big) < 2:
            return Layout()
        moved = list(draw(permutations_of(tuple(big))))
        if moved == big:  # the identity would be contiguous: reverse instead
            moved.reverse()
        order = list(range(len(shape)))
        for d, new in zip(big, moved):
            order[d] = new
        return Layout("permuted", order=tuple(order))
    if name == "sliced":
        steps = [draw(integers_between(1, 2)) for _ in shape]
        pads = [draw(integers_between(0, 1)) for _ in shape]
        offset = draw(integers_between(0, 3))
        for d in range(len(shape)):  # outermost first: a buffer of many dims would double per dim
            if math.prod(n * s + p for n, s, p in zip(shape, steps, pads)) <= max_span(shape):
                break
            steps[d], pads[d] = 1, 0
        layout = Layout("sliced", steps=tuple(steps), pads=tuple(pads), offset=offset)
        plain = Layout("sliced", steps=(1,) * len(shape), pads=(0,) * len(shape))
        if offset == 0 and all(a == b for n, a, b in zip(shape, layout.strides(shape), plain.strides(shape)) if n > 1):
            layout = Layout("sliced", steps=tuple(steps), pads=tuple(pads), offset=1)  # else it would look contiguous
        return layout
    if not big:
        return Layout()
    mask = draw(integers_between(1, 2 ** len(big) - 1))
    return Layout("expanded", expanded=tuple(d for i, d in enumerate(big) if mask >> i & 1))
