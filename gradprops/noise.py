"""Cheap, reproducible signed noise: every random seed, direction and weight gradprops makes itself.

A seed or direction needs signs and distinct values, not a particular distribution or a
cryptographer's randomness. What it must not do is cost more than the function under test: torch's
CPU generator (mt19937) takes about 5 ns per float64, so one ``torch.rand`` of 100,000 elements
costs as much as the forward and backward of ``sin`` on them, and an example draws several.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

TABLES = (4099, 4111)
"""Two coprime table sizes: their tiled sum repeats only every 4099·4111 ≈ 16.9 million elements."""

DIRECT = 8192
"""Up to this many values, the noise is ``torch.rand`` itself (the tables would not save anything)."""


def signed_noise(shape: Sequence[int], dtype: torch.dtype, generator: torch.Generator) -> Tensor:
    """Uniform noise in [-1, 1] of ``shape`` and ``dtype`` (both parts for complex), from ``generator``.

    Up to :data:`DIRECT` values it is ``2·torch.rand(shape, dtype=dtype, generator=generator) - 1``.
    Beyond, value ``i`` is ``2·frac(a[i mod 4099] + b[i mod 4111]) - 1`` for two uniform tables
    ``a``, ``b`` drawn from the generator: still uniform, distinct for 16.9 million elements, and a
    few cheap passes instead of one costly one. (Rounded to float16 or float32, a value may reach 1.)

    >>> g = torch.Generator().manual_seed(0)
    >>> v = signed_noise((100_000,), torch.float64, g)
    >>> bool(v.min() >= -1) and bool(v.max() < 1), abs(float(v.mean())) < 0.01
    (True, True)
    """
    shape = tuple(shape)
    count = math.prod(shape) * (2 if dtype.is_complex else 1)
    if count <= DIRECT:
        noise = torch.rand(shape, dtype=dtype, generator=generator)
        return noise.mul_(2).sub_(1 + 1j if dtype.is_complex else 1)
    tiled = [_tiled(torch.rand(size, dtype=torch.float64, generator=generator), count) for size in TABLES]
    flat = tiled[0].add_(tiled[1]).frac_().mul_(2).sub_(1)
    if dtype.is_complex:
        half = count // 2
        return torch.complex(flat[:half], flat[half:]).to(dtype).reshape(shape)
    return flat.to(dtype).reshape(shape)


def random_seed_like(outputs: Sequence[Tensor], generator: torch.Generator) -> tuple[Tensor, ...]:
    """A signed random seed for each output, on its device (used when the caller gives none).

    >>> [tuple(v.shape) for v in random_seed_like((torch.zeros(2, 3), torch.zeros(())), torch.Generator())]
    [(2, 3), ()]
    """
    return tuple(signed_noise(o.shape, o.dtype, generator).to(o.device) for o in outputs)


def _tiled(table: Tensor, count: int) -> Tensor:
    """``table`` repeated to ``count`` values (a fresh tensor, so the caller may write into it)."""
    return table.repeat(-(-count // table.numel()))[:count]
