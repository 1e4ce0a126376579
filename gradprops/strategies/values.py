"""Tensor values: Hypothesis draws a fill *family*, a generator seed and a few special values.

The bulk comes from a seeded ``torch.Generator`` (torch's global RNG is never touched), so a
100,000-element tensor costs Hypothesis the same handful of choices as a 3-element one: the shape
and the special values shrink, the bulk follows the seed. Families:

``integers``  small integers -3…3: exact zeros, ±1 and ties (tried first when shrinking: readable)
``normal``    standard normal noise
``uniform``   uniform over the allowed part of the domain
``wide``      signed magnitudes spread log-uniformly from 1e-3 to 1e3 (1e2 for 16-bit floats)
``few``       one to three distinct values, repeated: ties everywhere

Values a family puts outside the domain are mirrored through 0, then redrawn uniformly, so every
value respects the domain. Special values (:attr:`Domain.specials`) are then written at drawn
positions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.strategies.domains import LARGE, Domain, real_dtype

FAMILIES = {
    "float": ("integers", "normal", "uniform", "wide", "few"),
    "complex": ("integers", "normal", "wide", "few"),
    "int": ("uniform", "few"),
    "bool": ("uniform",),
}

MAX_SPECIALS = 4  # special values written into one tensor, at most
SEEDS = st.integers(0, 2**32 - 1)
_OPEN = -1 + 2**-52  # keeps erfinv finite


def draw_values(draw: Callable[[st.SearchStrategy[Any]], Any], domain: Domain, numel: int) -> Tensor:
    """A flat tensor of ``numel`` values in ``domain`` (CPU); Hypothesis makes O(1) choices."""
    family = draw(_FAMILY[domain.kind])
    seed = draw(SEEDS)
    specials: Sequence[tuple[int, Any]] = ()
    if numel and domain.specials:
        specials = draw(_specials(numel, tuple(domain.specials)))
    return fill(domain, numel, family, seed, specials)


_FAMILY = {kind: st.sampled_from(families) for kind, families in FAMILIES.items()}


@functools.lru_cache(maxsize=1024)
def _specials(numel: int, specials: tuple[Any, ...]) -> st.SearchStrategy[list[tuple[int, Any]]]:
    """Up to :data:`MAX_SPECIALS` (position, special value) pairs for a tensor of ``numel`` values."""
    return st.lists(st.tuples(st.integers(0, numel - 1), st.sampled_from(specials)), max_size=MAX_SPECIALS)


def fill(domain: Domain, numel: int, family: str, seed: int, specials: Sequence[tuple[int, Any]] = ()) -> Tensor:
    """The values ``draw_values`` stands for: deterministic given its arguments."""
    generator = torch.Generator().manual_seed(seed)
    if domain.kind == "complex":
        part = Domain(real_dtype(domain.dtype))
        real = _real_family(part, numel, family, generator)
        imag = _real_family(part, numel, family, generator)
        values = torch.complex(real, imag).to(domain.dtype)
    elif domain.kind == "bool":
        values = torch.randint(0, 2, (numel,), generator=generator).bool()
    else:
        values = _real_family(domain, numel, family, generator)
    for index, value in specials:
        values[index] = value
    return values


def _real_family(domain: Domain, n: int, family: str, generator: torch.Generator) -> Tensor:
    """``n`` values of ``family`` in ``domain`` (an int or float domain), in its dtype."""
    if family == "uniform":
        return domain.sample(n, generator)
    if family == "few":
        pool = _real_family(domain, 3, "normal" if domain.kind == "float" else "uniform", generator)
        distinct = int(torch.randint(1, 4, (1,), generator=generator))
        return pool[torch.randint(0, distinct, (n,), generator=generator)]
    if family == "integers":
        values = torch.randint(-3, 4, (n,), generator=generator, dtype=torch.float64)
    elif family == "normal":
        values = standard_normal(n, generator)
    elif family == "wide":
        top = math.log10(LARGE[domain.dtype])
        exponent = torch.rand(n, generator=generator, dtype=torch.float64).mul_(top + 3).sub_(3)
        sign = torch.randint(0, 2, (n,), generator=generator, dtype=torch.float64).mul_(2).sub_(1)
        values = exponent.mul_(math.log(10)).exp_().mul_(sign)  # sign × 10**exponent
    else:
        raise ValueError(f"unknown fill family {family!r}")
    values = values.to(domain.dtype)
    if not domain.constrained:
        return values
    bad = (~domain.allowed(values)).nonzero().squeeze(1)
    if len(bad):
        mirrored = -values[bad]  # mirrored through 0: keeps the magnitudes for x > 0 domains
        still = ~domain.allowed(mirrored)
        mirrored[still] = domain.sample(int(still.sum()), generator)
        values[bad] = mirrored
    return values


def standard_normal(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` standard-normal values (complex: unit variance overall), by inverting the CDF in float64.

    ``torch.randn`` is about four times slower in float64.
    """
    if dtype.is_complex:
        parts = standard_normal(2 * n, generator).mul_(math.sqrt(0.5))
        return torch.complex(parts[:n], parts[n:]).to(dtype)
    u = torch.rand(n, generator=generator, dtype=torch.float64).mul_(2).sub_(1).clamp_(min=_OPEN)
    return torch.special.erfinv(u).mul_(math.sqrt(2)).to(dtype)
