"""``tensors()``: one tensor — shape, dtype, domain, memory layout — as a leaf that accumulates ``.grad``."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.strategies._validation import (
    ArgumentError,
    check_bool,
    check_device,
    check_dtype,
    check_int,
    check_names,
    check_shape,
)
from gradprops.strategies.domains import Domain, make_domain
from gradprops.strategies.layouts import LAYOUTS, draw_layout
from gradprops.strategies.shapes import MAX_ELEMENTS, fit_budget, shapes
from gradprops.strategies.values import draw_values

#: Layouts drawn when ``layouts=None``: all of them. A leaf may be expanded (torch allows it, and
#: users pass ``bias.expand(...)``); a backward that writes into its inputs or assumes distinct
#: elements is a bug worth finding. Pass ``layouts=("contiguous", "permuted", "sliced")`` to leave
#: stride-0 inputs out.
DEFAULT_LAYOUTS = LAYOUTS
CPU = torch.device("cpu")


@dataclass(frozen=True)
class TensorSpec:
    """What one drawn tensor must satisfy (everything but its shape)."""

    domain: Domain
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS
    requires_grad: bool = True
    device: torch.device = CPU

    def __repr__(self) -> str:
        where = "" if self.device.type == "cpu" else f", device={self.device}"
        return (f"TensorSpec({self.domain!r}, layouts={'|'.join(self.layouts)}, "
                f"requires_grad={self.requires_grad}{where})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints strategies with this
        printer.text(repr(self))

    @property
    def dtype(self) -> torch.dtype:
        return self.domain.dtype


def make_spec(*, dtype: Any, low: Any, high: Any, exclude: Any, margin: Any, positive: Any, layouts: Any,
              requires_grad: Any, device: Any = "cpu", where: str = "") -> TensorSpec:
    """Validate one tensor's arguments; ``where`` suffixes argument names in messages (``"[1]"``)."""
    dtype = check_dtype(dtype, f"dtype{where}")
    domain = make_domain(dtype, low=low, high=high, exclude=exclude, margin=margin, positive=positive, where=where)
    chosen = DEFAULT_LAYOUTS if layouts is None else check_names(layouts, "layouts", LAYOUTS)
    return TensorSpec(domain, chosen, check_bool(requires_grad, "requires_grad"), check_device(device, "device"))


def draw_tensor(draw: Callable[[st.SearchStrategy[Any]], Any], shape: tuple[int, ...], spec: TensorSpec) -> Tensor:
    """Draw layout and values for ``shape``; return a leaf (``requires_grad`` for float/complex only)."""
    layout = draw_layout(draw, shape, spec.layouts)
    values = draw_values(draw, spec.domain, math.prod(layout.base_shape(shape)))
    tensor = layout.build(values, shape, spec.device).detach()
    return tensor.requires_grad_(spec.requires_grad and (spec.dtype.is_floating_point or spec.dtype.is_complex))


def tensors(
    *,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    dtype: torch.dtype = torch.float64,
    low: float | None = None,
    high: float | None = None,
    exclude: Collection[float] = (),
    margin: float | None = None,
    positive: bool = False,
    layouts: Collection[str] | None = None,
    requires_grad: bool = True,
    max_elements: int = MAX_ELEMENTS,
    device: torch.device | str = "cpu",
) -> st.SearchStrategy[Tensor]:
    """Tensors of ``shape`` (default :func:`shapes()`) and ``dtype``, as leaves ready for backward.

    *Size*: no tensor holds more than ``max_elements`` elements (default 100,000). A drawn shape
    over it has its largest dims shrunk until it fits; a fixed ``shape`` over it is refused.

    *Domain* (real dtypes): every value ``x`` satisfies ``low <= x <= high`` (either may be None),
    ``x > 0`` if ``positive``, and ``|x - e| > margin`` for each point ``e`` in ``exclude`` (kinks
    such as ``relu``'s 0). The default margin is ``8 × eps(dtype) × max(1, |e|)`` — values that
    round onto the kink — so pass a wider one if you compare against finite differences
    (``margin=1e-3``). Complex and bool tensors take no domain.

    *Values* are not only noise: exact 0, ±1, ±0.5, ±2, ±eps, tiny (its square underflows) and
    large magnitudes (1e3, 1e2 for 16-bit floats), the bounds, points just outside an excluded
    point's margin, small integers with ties, and tensors of one to three repeated values — each
    only where the domain allows it.

    *Layouts*: ``layouts`` names the memory layouts to draw from — ``"contiguous"``, ``"permuted"``,
    ``"sliced"`` (a view into a larger buffer, with steps and a storage offset), ``"expanded"``
    (stride 0) — default all four. A layout the shape cannot show (permuting a 1-d tensor) gives a
    contiguous tensor.

    *Device*: tensors are made on ``device`` (default the CPU), layouts included; values are drawn
    on the CPU and copied there, so a case draws the same values on every device.

    Every tensor is a fresh leaf: floating and complex ones have ``requires_grad=requires_grad`` and
    accumulate ``.grad`` whatever their layout; integer and bool ones never require grad. Bulk values
    come from a ``torch.Generator`` seeded by Hypothesis, so large tensors draw fast and shapes,
    layouts and special values still shrink.

    >>> from hypothesis import find
    >>> t = find(tensors(shape=(2, 3), layouts=("permuted",)), lambda t: True)
    >>> t.shape, t.stride(), t.is_leaf, t.requires_grad
    (torch.Size([2, 3]), (1, 2), True, True)
    """
    check_int(max_elements, "max_elements", minimum=1)
    if shape is None:
        shape = shapes()
    elif not isinstance(shape, st.SearchStrategy):
        shape = check_shape(shape, "shape")
        if math.prod(shape) > max_elements:
            raise ArgumentError(f"shape={shape!r} holds {math.prod(shape)} elements, more than "
                                f"max_elements={max_elements}: raise max_elements or pass a smaller shape, "
                                f"e.g. max_elements={math.prod(shape)}")
    spec = make_spec(dtype=dtype, low=low, high=high, exclude=exclude, margin=margin, positive=positive,
                     layouts=layouts, requires_grad=requires_grad, device=device)
    return _tensors(shape=shape, spec=spec, max_elements=max_elements)


@st.composite
def _tensors(draw: Callable[[st.SearchStrategy[Any]], Any], *,
             shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]], spec: TensorSpec,
             max_elements: int) -> Tensor:
    if isinstance(shape, st.SearchStrategy):
        drawn = draw(shape)
        try:
            shape = check_shape(drawn, "shape")
        except ArgumentError as exc:
            raise ArgumentError(f"the shape strategy drew {drawn!r}: {exc}; draw tuples of sizes, e.g. "
                                "shape=gst.shapes() or st.just((2, 3))") from None
        (shape,) = fit_budget((shape,), tuple(((0, d),) for d in range(len(shape))), max_elements)
    return draw_tensor(draw, shape, spec)
