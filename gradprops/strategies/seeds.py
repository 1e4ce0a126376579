"""``seeds(outputs)``: the vectors fed to backward — one per output, of its shape, dtype and device."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.noise import signed_noise
from gradprops.strategies._cached import integers_between
from gradprops.strategies._validation import ArgumentError, check_names
from gradprops.strategies.domains import LARGE
from gradprops.strategies.layouts import LAYOUTS, draw_layout
from gradprops.strategies.values import SEEDS
from gradprops.strided import real_dtype

#: What a seed holds, in shrinking order.
KINDS = ("random", "ones", "zeros", "basis")
#: Every seed is scaled by one of these, or by :func:`scales` of its dtype (1 first: shrinks to it).
SCALES = (1.0, 1e-3, 1e3)
_KIND = st.sampled_from(KINDS)


def largest_seed(dtype: torch.dtype) -> float:
    """The largest seed magnitude whose backward stays inside ``dtype``'s range.

    A backward multiplies its seed by inputs, often by two of them (atan2's ``grad·x / (x² + y²)``),
    and inputs are drawn up to :data:`~gradprops.strategies.domains.LARGE` where nothing bounds
    them; so a seed up to ``max / LARGE²`` keeps those products finite. In float16 that is 6.5: a
    seed of 1e3 overflows torch's own correct kernels (65504 is float16's largest value), which
    would be a false alarm, not a finding.

    >>> largest_seed(torch.float16)
    6.5504
    """
    real = real_dtype(dtype)
    return float(torch.finfo(real).max) / LARGE.get(real, 1e3) ** 2


@functools.cache
def scales(dtype: torch.dtype) -> tuple[float, float, float]:
    """The factors a seed of ``dtype`` is scaled by: 1, then 1e-3 and 1e3 (:data:`SCALES`), or a
    power of two ``s`` and ``1/s`` where 1e3 exceeds :func:`largest_seed` (float16: 4 and 1/4).

    >>> scales(torch.float32), scales(torch.float16)
    ((1.0, 0.001, 1000.0), (1.0, 0.25, 4.0))
    """
    if SCALES[2] <= largest_seed(dtype):
        return SCALES
    s = 2.0 ** math.floor(math.log2(largest_seed(dtype)))
    return (1.0, 1 / s, s)


@functools.cache
def _scale(dtype: torch.dtype) -> st.SearchStrategy[float]:
    return st.sampled_from(scales(dtype))


@dataclass(frozen=True)
class _Output:
    """What a seed must match: shape, dtype, device (the output's values are not kept)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def __repr__(self) -> str:
        return f"{self.dtype}{list(self.shape)}" + ("" if self.device.type == "cpu" else f" on {self.device}")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints strategies with this
        printer.text(repr(self))


def seeds(
    outputs: Sequence[Tensor], *, layouts: Collection[str] | None = None
) -> st.SearchStrategy[tuple[Tensor, ...]]:
    """One seed per output tensor, of that output's shape, dtype and device.

    Kinds: ``random`` (uniform in [-1, 1), :func:`gradprops.noise.signed_noise`), ``ones``,
    ``zeros`` and ``basis`` (one-hot: a single 1 at a drawn position), scaled by 1, 1e-3 or 1e3
    (by 1, 1/4 or 4 in float16, see :func:`scales`).
    Layouts as in :func:`tensors` —
    ``"contiguous"``, ``"permuted"``, ``"sliced"`` and ``"expanded"`` (stride 0), default all four: a
    backward that assumes its seed is contiguous, or that writes into it, is a common bug. An
    expanded seed repeats along its stride-0 dims (so a ``basis`` seed there has a 1 in each
    repeat). 0-d and size-0 outputs get 0-d and size-0 seeds. Seeds never require grad.

    >>> import torch
    >>> from hypothesis import find
    >>> y = torch.zeros(2, 3)
    >>> (v,) = find(seeds((y,)), lambda s: s[0].stride() == (0, 1))
    >>> v.shape, v.dtype
    (torch.Size([2, 3]), torch.float32)
    """
    if isinstance(outputs, Tensor) or not isinstance(outputs, Sequence):
        raise ArgumentError(f"outputs must be a sequence of tensors such as (y,), got outputs={outputs!r}"[:300]
                            + ": pass the function's outputs as a tuple, e.g. gst.seeds((y,)) for one tensor y")
    specs = []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise ArgumentError(f"outputs[{i}] must be a tensor, got {type(out).__name__}: {out!r}"[:300]
                                + ": pass only the output tensors, e.g. gst.seeds((y, z))")
        if not (out.is_floating_point() or out.is_complex()):
            raise ArgumentError(f"outputs[{i}] has dtype {out.dtype}: only floating and complex outputs "
                                f"take a seed; leave outputs[{i}] out of outputs")
        specs.append(_Output(tuple(out.shape), out.dtype, out.device))
    chosen = LAYOUTS if layouts is None else check_names(layouts, "layouts", LAYOUTS)
    return _seeds_for(tuple(specs), tuple(chosen))


@functools.lru_cache(maxsize=256)
def _seeds_for(outputs: tuple[_Output, ...], layouts: tuple[str, ...]) -> st.SearchStrategy[tuple[Tensor, ...]]:
    # One strategy object per kind of output: check() asks for seeds on every example (see _cached).
    return _seeds(outputs=outputs, layouts=layouts)


@st.composite
def _seeds(draw: Callable[[st.SearchStrategy[Any]], Any], *, outputs: tuple[_Output, ...],
           layouts: tuple[str, ...]) -> tuple[Tensor, ...]:
    return tuple(_draw_seed(draw, out, layouts) for out in outputs)


def _draw_seed(draw: Callable[[st.SearchStrategy[Any]], Any], out: _Output, layouts: tuple[str, ...]) -> Tensor:
    kind = draw(_KIND)
    scale = draw(_scale(out.dtype))
    layout = draw_layout(draw, out.shape, layouts)
    base = layout.base_shape(out.shape)
    numel = math.prod(base)
    if kind == "random":
        values = signed_noise((numel,), out.dtype, torch.Generator().manual_seed(draw(SEEDS)))
    elif kind == "ones":
        values = torch.ones(numel, dtype=out.dtype)
    elif kind == "zeros":
        values = torch.zeros(numel, dtype=out.dtype)
    else:
        values = torch.zeros(numel, dtype=out.dtype)
        if numel:
            values[draw(integers_between(0, numel - 1))] = 1
    return layout.build(values * scale, out.shape, out.device)
