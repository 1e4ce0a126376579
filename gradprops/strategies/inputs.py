"""``inputs(signature)``: a tuple of tensors whose shapes fit a gufunc-style signature."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.strategies._cached import integers_between
from gradprops.strategies._validation import ArgumentError, check_bool, check_int
from gradprops.strategies.shapes import (
    LARGE_DRAWS,
    MAX_CORE_SIDE,
    MAX_DIMS,
    MAX_ELEMENTS,
    Axis,
    Shapes,
    draw_large,
    fit_budget,
    without_empty,
)
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
    min_side: int = 0,
    max_side: int = 6,
    max_batch_dims: int = 2,
    max_elements: int = MAX_ELEMENTS,
    large: bool = True,
    requires_grad: bool = True,
    names: Sequence[str] | None = None,
    arguments: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
) -> st.SearchStrategy[Any]:
    """Tuples of leaf tensors, one per input of a gufunc-style ``signature``.

    Signatures follow NumPy's generalized ufuncs: one parenthesised core per input, named dims shared
    between inputs, fixed sizes as digits; an ``->...`` output part is accepted and ignored. In front
    of the core dims each input gets up to ``max_batch_dims`` batch dims, either the same for every
    input or broadcasting against each other (size-1 and missing dims):

    ``"()"``           one tensor of **any shape**, 0-d included — NumPy reads ``()`` as a scalar
                       core and loops over the rest, which is the same set of shapes. An elementwise
                       signature (every core ``()``) has no core dims, so it gets one batch dim
                       more: up to ``max_batch_dims + 1`` = 3 dims, 6 × 6 × 6 = 216 elements in
                       an ordinary example (a large one grows past that, see below).
    ``"(),()"``        a pair of mutually broadcastable tensors (``x * y``)
    ``"(n)"``          batches of vectors; ``"(n),(n)"`` two sharing their last dim
    ``"(m,n),(n,p)"``  matrices that multiply (``m?``/``p?`` make a dim optional, as for matmul)
    ``"(b,4)"``        a fixed size

    *Sizes* run from 1 to ``max_side`` (fixed sizes excepted); about one draw in eight makes one dim
    size 0 in every input that has it, unless ``min_side=1`` (for functions that cannot take empty
    inputs, e.g. a reduction with ``max``). Shapes shrink towards no batch dims and sizes of 1.

    *Large examples*: unless ``large=False``, about one example in five grows one named dim (to at
    most 2,048: outputs may be quadratic in it) or batch dim (never a fixed size) past
    ``max_side``, towards ``max_elements`` elements in total:
    four in five of them hold more than 5,000 — past where kernels split their work into blocks
    (1,024 and 4,096 elements) and leave a partial last block — the rest fill the sizes between,
    and a failure shrinks to the smallest total that shows it. The grown size is sometimes a
    power of two or one off it. Only one dim grows, so outputs grow with it linearly; a large
    example is never empty.

    *Budget*: no example holds more than ``max_elements`` elements over all its inputs, a size-0
    dim counted as 1 (default 100,000: a large example of ``torch.sin`` costs about 0.1 s with
    every property in float64). An ordinary example over the budget (many batch dims, a wide
    ``max_side``) has its largest dims shrunk until it fits. Raise the budget for bugs that need
    more (``max_elements=10**6``), lower it for costly functions; a signature whose fixed sizes
    alone exceed it is refused.

    ``dtype``, ``low``, ``high``, ``exclude``, ``margin`` and ``positive`` take one value for every
    input or a tuple with one entry per input, e.g. ``dtype=(torch.float64, torch.int64)``; for
    ``exclude`` a per-input tuple holds a tuple of points (or None) per input,
    ``exclude=((0.0,), ())``. See :func:`tensors` for domains, values and ``layouts`` (default:
    all four, expanded included). Floating and complex inputs have ``requires_grad=requires_grad``;
    integer and bool inputs are held fixed. Every input is made on ``device`` (default the CPU).

    *Keyword arguments*: with ``names`` (one per input) the tensors come as a dict, passed to the
    function as keyword arguments; ``arguments`` adds non-tensor ones to it, each a plain value, a
    strategy, or a function of the drawn tensors (a tuple) returning a strategy — a ``dim`` that
    depends on the drawn rank. They shrink with the rest of the case, and reports and repros write
    them out (``keyword arguments: dim=-1``).

    >>> from hypothesis import find
    >>> a, b = find(inputs("(m,n),(n,p)"), lambda ab: ab[0].dim() == 3 and ab[1].dim() == 2)
    >>> (a @ b).shape
    torch.Size([1, 1, 1])
    >>> case = find(inputs("(n)", names=["input"], arguments={
    ...     "dim": lambda xs: st.integers(-xs[0].dim(), xs[0].dim() - 1), "keepdim": st.booleans()}),
    ...     lambda c: c["keepdim"])
    >>> sorted(case), case["dim"], case["keepdim"]
    (['dim', 'input', 'keepdim'], 0, True)
    """
    parsed = parse_signature(signature)
    count = len(parsed.cores)
    check_int(min_side, "min_side", minimum=0)
    if min_side > 1:
        raise ArgumentError(
            f"min_side must be 0 or 1 for inputs(), got min_side={min_side}: pass min_side=1 to leave out "
            "size-0 dims; size-1 dims stay, since broadcasting needs them (write larger fixed sizes "
            "into the signature, e.g. '(n,4)')")
    check_int(max_side, "max_side", minimum=1)
    check_int(max_batch_dims, "max_batch_dims", minimum=0)
    longest = max(map(len, parsed.cores)) + max_batch_dims + parsed.elementwise
    if longest > MAX_DIMS:
        raise ArgumentError(f"max_batch_dims={max_batch_dims} gives inputs of up to {longest} dims, more "
                            f"than the {MAX_DIMS} gradprops draws: pass "
                            f"max_batch_dims={max_batch_dims - (longest - MAX_DIMS)} or fewer")
    check_int(max_elements, "max_elements", minimum=1)
    check_bool(large, "large")
    fixed = sum(math.prod(int(n) for n in core if n.isdigit()) for core in parsed.cores)
    if fixed > max_elements:
        raise ArgumentError(f"the fixed sizes of signature={signature!r} alone hold {fixed} elements, more "
                            f"than max_elements={max_elements}: raise max_elements to at least {fixed}, e.g. "
                            f"gst.inputs({signature!r}, max_elements={max(fixed, 10 * max_elements)}), or write "
                            "smaller fixed sizes into the signature")
    if min_side and any(n == "0" for core in parsed.cores for n in core):
        raise ArgumentError(f"signature={signature!r} fixes a size 0, which min_side=1 excludes: pass "
                            "min_side=0, or a fixed size of 1 or more")
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
                  requires_grad=requires_grad, device=device, where=f"[{i}]" if count > 1 else "")
        for i in range(count)
    )
    tensors = _inputs(signature=parsed, specs=specs, min_side=min_side, max_side=max_side,
                      max_batch_dims=max_batch_dims, max_elements=max_elements, large=large)
    if names is None and arguments is None:
        return tensors
    return _keyword_inputs(tensors, _names(names, count, arguments), dict(arguments or {}))


def _names(names: Sequence[str] | None, count: int, arguments: Mapping[str, Any] | None) -> tuple[str, ...]:
    if names is None or isinstance(names, str) or not isinstance(names, Sequence) or len(names) != count:
        example = [f"x{i}" for i in range(count)] if count > 1 else ["input"]
        raise ArgumentError(
            f"names must list one argument name per input of the signature ({count}), got {names!r}: the "
            f"tensors are then passed as keyword arguments, with arguments= beside them, e.g. names={example}")
    try:
        arguments = dict(arguments or {})
    except (TypeError, ValueError):
        raise ArgumentError(f"arguments must be a dict of keyword arguments, got arguments={arguments!r}"[:300]
                            + ": e.g. arguments={'dim': -1, 'keepdim': st.booleans()}") from None
    named = [n for n in names if isinstance(n, str) and n.isidentifier()]
    clash = set(named) & set(arguments)
    if clash or len(named) != count or len(set(named)) != count:
        raise ArgumentError(f"names {list(names)} must be distinct argument names (identifiers), none of them "
                            f"also in arguments ({sorted(clash)} are): rename them, e.g. "
                            f"names={[f'x{i}' for i in range(count)]}")
    return tuple(names)


@st.composite
def _keyword_inputs(draw: Callable[[st.SearchStrategy[Any]], Any], tensors: st.SearchStrategy[tuple[Tensor, ...]],
                    names: tuple[str, ...], arguments: dict[str, Any]) -> dict[str, Any]:
    drawn = draw(tensors)
    case: dict[str, Any] = dict(zip(names, drawn))
    for name, value in arguments.items():
        if callable(value) and not isinstance(value, st.SearchStrategy):
            value = value(drawn)
            if not isinstance(value, st.SearchStrategy):
                raise ArgumentError(f"arguments[{name!r}] is a function of the drawn tensors and must return "
                                    f"a strategy, returned {value!r}: e.g. lambda xs: st.integers(0, xs[0].dim())")
        case[name] = draw(value) if isinstance(value, st.SearchStrategy) else value
    return case


def _is_per_input_exclude(value: Any) -> bool:
    """``((0.0,), ())`` is per input; ``(0.0, 1.0)`` is one set of points for every input."""
    return (isinstance(value, tuple) and bool(value)
            and all(v is None or (isinstance(v, Iterable) and not isinstance(v, str)) for v in value))


def _per_input(value: Any, name: str, count: int, is_per_input: Callable[[Any], bool]) -> tuple[Any, ...]:
    if not is_per_input(value):
        return (value,) * count
    if len(value) != count:
        raise ArgumentError(f"{name} has {len(value)} entries but the signature has {count} inputs: give "
                            f"one {name} for all inputs or one per input, got {name}={value!r}: pass a tuple "
                            f"of {count}, e.g. {name}={_example(name, value, count)}, or a single value")
    if name == "exclude":
        return tuple(() if v is None else v for v in value)
    return tuple(value)


def _example(name: str, value: tuple[Any, ...], count: int) -> str:
    """``value`` cut or padded (with its last entry) to ``count`` entries, as the caller would write it.

    >>> _example("dtype", (torch.float64, torch.int64, torch.int64), 2)
    '(torch.float64, torch.int64)'
    """
    pad = value[-1] if value else {"dtype": torch.float64, "positive": False, "exclude": ()}.get(name)
    entries = (*value[:count], *(pad,) * (count - len(value)))
    return repr(entries)


@st.composite
def _inputs(draw: Callable[[st.SearchStrategy[Any]], Any], *, signature: Signature, specs: tuple[TensorSpec, ...],
            min_side: int, max_side: int, max_batch_dims: int, max_elements: int,
            large: bool) -> tuple[Tensor, ...]:
    # Drawn first: Hypothesis prefers smaller choices earlier, so shrinking tries ordinary sizes
    # before it tries smaller large ones.
    grow = large and draw(integers_between(0, 7)) in LARGE_DRAWS
    drawn: Shapes = draw(signature_shapes(signature, max_side=max_side, max_batch_dims=max_batch_dims))
    if min_side:
        drawn = without_empty(drawn)
    named, batch = signature_axes(signature, drawn)
    axes = named + batch
    if grow:
        caps = [MAX_CORE_SIDE] * len(named) + [max_elements] * len(batch)
        drawn = draw_large(draw, drawn, axes, max_elements, caps)
    drawn = fit_budget(drawn, axes, max_elements)
    return tuple(draw_tensor(draw, shape, spec) for shape, spec in zip(drawn, specs))


def signature_axes(signature: Signature, shapes: Shapes) -> tuple[tuple[Axis, ...], tuple[Axis, ...]]:
    """The axes of ``shapes`` drawn for ``signature``: those of its named dims, and of its batch positions.

    A named dim's axis holds all its occurrences. A batch position (counted from the right of
    the batch dims, which broadcast against each other) holds the inputs whose size there is not 1
    (all of them when every size is 1). An input whose optional core dims leave its names
    ambiguous (a 1-d input of ``"(m?,n?)"``) keeps the named dims it has out of every axis.

    >>> signature_axes(parse_signature("(m,n),(n)"), ((2, 3, 4), (1, 4)))
    ((((0, 1),), ((0, 2), (1, 1))), (((0, 0),),))
    """
    located: list[tuple[int, tuple[str, ...] | None]] = []  # per input: batch dims, core names
    for names, shape in zip(signature.cores, shapes):
        if len(shape) >= len(names):  # every core dim present; batch dims in front
            located.append((len(shape) - len(names), names))
        else:  # optional dims left out, and with them the batch dims
            required = tuple(n for n in names if not n.endswith("?"))
            located.append((0, required if len(shape) == len(required) else None))
    named: list[Axis] = []
    for name in signature.named:
        if any(names is None and name in core for (_, names), core in zip(located, signature.cores)):
            continue
        named.append(tuple((i, batch + d) for i, (batch, names) in enumerate(located)
                           for d, n in enumerate(names or ()) if n == name))
    positions: list[Axis] = []
    for position in range(max((batch for batch, _ in located), default=0)):
        present = [(i, batch - 1 - position) for i, (batch, _) in enumerate(located) if batch > position]
        wide = tuple((i, d) for i, d in present if shapes[i][d] != 1)
        positions.append(wide or tuple(present))
    return tuple(named), tuple(positions)
