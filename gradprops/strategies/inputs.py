"""``inputs(signature)``: a tuple of tensors whose shapes fit a gufunc-style signature."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import Tensor

from gradprops.strategies._validation import check_int
from gradprops.strategies.signatures import Signature, parse_signature, signature_shapes
from gradprops.strategies.tensors import TensorSpec, draw_tensor, make_spec


def inputs(
    signature: str,
    *,
    dtype: torch.dtype | tuple[torch.dtype, ...] = torch.float64,
    low: float | tuple[float | None, ...] | None = None,
    high: float | tuple[float | None, ...] | None = None,
    exclude: Collection[float] | tuple[Collection[float] | None, ...] = (),
    margin: float | tuple[float | None, ...] | None = None,
    positive: bool | tuple[bool, ...] = False,
    layouts: Collection[str] | None = None,
    max_side: int = 6,
    max_batch_dims: int = 2,
    requires_grad: bool = True,
) -> st.SearchStrategy[tuple[Tensor, ...]]:
    """Tuples of leaf tensors, one per input of a gufunc-style ``signature``.

    Signatures follow NumPy's generalized ufuncs: one parenthesised core per input, named dims shared
    between inputs, fixed sizes as digits; an ``->...`` output part is accepted and ignored. In front
    of the core dims each input gets up to ``max_batch_dims`` batch dims, either the same for every
    input or broadcasting against each other (size-1 and missing dims):

    ``"()"``           one tensor of **any shape**, 0-d included — NumPy reads ``()`` as a scalar
                       core and loops over the rest, which is the same set of shapes. An elementwise
                       signature (every core ``()``) has no core dims, so it gets one batch dim
                       more: up to ``max_batch_dims + 1`` = 3 dims, 6 × 6 × 6 = 216 elements.
    ``"(),()"``        a pair of mutually broadcastable tensors (``x * y``)
    ``"(n)"``          batches of vectors; ``"(n),(n)"`` two sharing their last dim
    ``"(m,n),(n,p)"``  matrices that multiply (``m?``/``p?`` make a dim optional, as for matmul)
    ``"(b,4)"``        a fixed size

    Sizes run from 1 to ``max_side`` (fixed sizes excepted); about one draw in eight makes one dim
    size 0 in every input that has it. Shapes shrink towards no batch dims and sizes of 1.

    ``dtype``, ``low``, ``high``, ``exclude``, ``margin`` and ``positive`` take one value for every
    input or a tuple with one entry per input, e.g. ``dtype=(torch.float64, torch.int64)``; for
    ``exclude`` a per-input tuple holds a tuple of points (or None) per input,
    ``exclude=((0.0,), ())``. See :func:`tensors` for domains, values and ``layouts`` (default:
    all four, expanded included). Floating and complex inputs have ``requires_grad=requires_grad``;
    integer and bool inputs are held fixed.

    >>> from hypothesis import find
    >>> a, b = find(inputs("(m,n),(n,p)"), lambda ab: ab[0].dim() == 3 and ab[1].dim() == 2)
    >>> (a @ b).shape
    torch.Size([1, 1, 1])
    """
    parsed = parse_signature(signature)
    count = len(parsed.cores)
    check_int(max_side, "max_side", minimum=1)
    check_int(max_batch_dims, "max_batch_dims", minimum=0)
    per_input = {
        "dtype": _per_input(dtype, "dtype", count, lambda v: isinstance(v, tuple)),
        "low": _per_input(low, "low", count, lambda v: isinstance(v, tuple)),
        "high": _per_input(high, "high", count, lambda v: isinstance(v, tuple)),
        "exclude": _per_input(exclude, "exclude", count, _is_per_input_exclude),
        "margin": _per_input(margin, "margin", count, lambda v: isinstance(v, tuple)),
        "positive": _per_input(positive, "positive", count, lambda v: isinstance(v, tuple)),
    }
    specs = tuple(
        make_spec(**{name: values[i] for name, values in per_input.items()}, layouts=layouts,
                  requires_grad=requires_grad, where=f"[{i}]" if count > 1 else "")
        for i in range(count)
    )
    return _inputs(signature=parsed, specs=specs, max_side=max_side, max_batch_dims=max_batch_dims)


def _is_per_input_exclude(value: Any) -> bool:
    """``((0.0,), ())`` is per input; ``(0.0, 1.0)`` is one set of points for every input."""
    return (isinstance(value, tuple) and bool(value)
            and all(v is None or (isinstance(v, Iterable) and not isinstance(v, str)) for v in value))


def _per_input(value: Any, name: str, count: int, is_per_input: Callable[[Any], bool]) -> tuple[Any, ...]:
    if not is_per_input(value):
        return (value,) * count
    if len(value) != count:
        raise InvalidArgument(f"{name} has {len(value)} entries but the signature has {count} inputs: give "
                              f"one {name} for all inputs or one per input, got {name}={value!r}")
    if name == "exclude":
        return tuple(() if v is None else v for v in value)
    return tuple(value)


@st.composite
def _inputs(draw: Callable[[st.SearchStrategy[Any]], Any], *, signature: Signature, specs: tuple[TensorSpec, ...],
            max_side: int, max_batch_dims: int) -> tuple[Tensor, ...]:
    drawn = draw(signature_shapes(signature, max_side=max_side, max_batch_dims=max_batch_dims))
    return tuple(draw_tensor(draw, shape, spec) for shape, spec in zip(drawn, specs))
