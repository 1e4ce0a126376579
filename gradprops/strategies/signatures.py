"""Gufunc-style signatures: ``"(m,n),(n,p)"`` → the shapes of several inputs, drawn together.

The core dims come from Hypothesis' ``mutually_broadcastable_shapes(signature=...)`` (a name is
drawn once and shared, fixed sizes stay fixed, ``n?`` may be left out). In front of the cores go
batch (loop) dims, drawn one of two ways: one batch shape shared by every input, or shapes that
broadcast against each other (from ``mutually_broadcastable_shapes``: missing dims and size-1
dims). Then, about one time in eight, one named dim or one batch dim becomes size 0 in every input
that has it, so empty inputs stay consistent and a minority.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from gradprops.strategies._validation import ArgumentError
from gradprops.strategies.shapes import MAX_DIMS, _shapes, draw_empty_slot

_DIM = r"\w+\??"
_CORE = rf"\((?:{_DIM}(?:,{_DIM})*)?\)"
_INPUTS = re.compile(rf"{_CORE}(?:,{_CORE})*")

Shapes = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Signature:
    """The input part of a gufunc signature, e.g. ``(m,n),(n,p)``."""

    text: str
    cores: tuple[tuple[str, ...], ...]

    def __repr__(self) -> str:
        return repr(self.text)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints strategies with this
        printer.text(repr(self))

    @property
    def elementwise(self) -> bool:
        """Every core is ``()``: the inputs are elementwise, any shape."""
        return all(not core for core in self.cores)

    @property
    def named(self) -> tuple[str, ...]:
        """Dims with a name (not fixed, not optional), in order of first appearance."""
        names = [n for core in self.cores for n in core if not n.isdigit() and not n.endswith("?")]
        return tuple(dict.fromkeys(names))


def parse_signature(signature: Any) -> Signature:
    """Parse ``"(m,n),(n,p)"`` (an ``->...`` output part is accepted and ignored)."""
    if not isinstance(signature, str):
        raise ArgumentError(f"signature must be a string such as '(m,n),(n,p)', got signature={signature!r}")
    spaced = re.search(r"\w\s+\w", signature)
    if spaced:
        commas = re.sub(r"(?<=\w)\s+(?=\w)", ",", signature)
        raise ArgumentError(f"signature={signature!r} separates dims with a space ({spaced.group()!r}); "
                            f"separate them with commas, e.g. {commas!r}")
    text = re.sub(r"\s+", "", signature).split("->", 1)[0]
    if not _INPUTS.fullmatch(text):
        raise ArgumentError(
            f"signature={signature!r} is not a gufunc-style signature: write one parenthesised list of dim "
            "names or sizes per input, e.g. '()' (elementwise), '(),()' (a broadcasting pair), '(n)', "
            "'(m,n),(n,p)' or '(b,4)'"
        )
    cores = tuple(tuple(re.findall(_DIM, core)) for core in re.findall(_CORE, text))
    for core in cores:
        for name in core:
            if name.endswith("?") and name[:-1].isdigit():
                raise ArgumentError(f"signature={signature!r} makes the fixed dim {name!r} optional; only "
                                      "named dims can be optional, e.g. '(m?,n)'")
        if len(core) > MAX_DIMS:
            raise ArgumentError(f"signature={signature!r} has a core of more than {MAX_DIMS} dims: write at "
                                f"most {MAX_DIMS} dims per input")
    return Signature(text, cores)


@lru_cache(maxsize=256)
def signature_shapes(signature: Signature, *, max_side: int, max_batch_dims: int) -> st.SearchStrategy[Shapes]:
    """One shape per input of ``signature``; see the module docstring."""
    batch_dims = max_batch_dims + 1 if signature.elementwise else max_batch_dims
    gufunc = signature.text + "->()"
    cores = mutually_broadcastable_shapes(signature=gufunc, max_dims=0, min_side=1, max_side=max_side)
    shared = _shapes(min_dims=0, max_dims=batch_dims, min_side=1, max_side=max_side).map(
        lambda batch: (batch,) * len(signature.cores))
    loops = shared
    if len(signature.cores) > 1:
        broadcast = mutually_broadcastable_shapes(num_shapes=len(signature.cores), max_dims=batch_dims,
                                                  min_side=1, max_side=max_side)
        loops = st.one_of(shared, broadcast.map(lambda b: b.input_shapes))
    return _combine(signature=signature, cores=cores.map(lambda b: b.input_shapes), loops=loops)


@st.composite
def _combine(draw: Callable[[st.SearchStrategy[Any]], Any], *, signature: Signature,
             cores: st.SearchStrategy[Shapes], loops: st.SearchStrategy[Shapes]) -> Shapes:
    core = [list(c) for c in draw(cores)]
    loop = [list(b) for b in draw(loops)]
    for i, (c, names) in enumerate(zip(core, signature.cores)):
        if len(c) < len(names):  # an optional core dim was left out: no batch dims (numpy's rule)
            loop[i] = []
    named = signature.named
    slot = draw_empty_slot(draw, len(named) + max(map(len, loop)))
    if slot is not None and slot < len(named):
        present = [_present(names, len(c)) for c, names in zip(core, signature.cores)]
        if all(p is not None for p in present):
            for c, present_names in zip(core, present):
                for d, name in enumerate(present_names or ()):
                    if name == named[slot]:
                        c[d] = 0
    elif slot is not None:
        position = slot - len(named)  # counted from the right, like broadcasting
        having = [b for b in loop if len(b) > position]
        wide = [b for b in having if b[-1 - position] != 1] or having
        for b in wide:
            b[-1 - position] = 0
    return tuple(tuple(b + c) for b, c in zip(loop, core))


def _present(names: tuple[str, ...], drawn: int) -> tuple[str, ...] | None:
    """The names of a core's drawn dims, when which optional dims were left out is unambiguous."""
    if drawn == len(names):
        return names
    required = tuple(n for n in names if not n.endswith("?"))
    return required if drawn == len(required) else None
