"""Domains: which values a tensor may hold — bounds, excluded points with a margin, positivity.

A :class:`Domain` knows its dtype and answers three questions, all *in that dtype* (a bound or a
margin that rounding would cross is checked after the cast, never before): is each value allowed
(:meth:`Domain.allowed`), a uniform sample of allowed values (:meth:`Domain.sample`), and the
special values worth trying (:attr:`Domain.specials`: 0, ±1, ±eps, tiny and large magnitudes, the
bounds, points just outside an excluded point's margin — each only if allowed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from gradprops.strategies._validation import COMPLEX, FLOATING, INTEGER, ArgumentError, check_bool, check_real
from gradprops.strided import real_dtype

#: Largest magnitude drawn on purpose where the domain does not bound it (specials, ``wide`` fills).
#: Large enough to overflow a naive ``exp`` or softmax, small enough that ``x * x`` stays finite.
LARGE = {torch.float64: 1e3, torch.float32: 1e3, torch.float16: 1e2, torch.bfloat16: 1e2}

#: Default margin around an excluded point ``e``: ``MARGIN_EPS × eps(dtype) × max(1, |e|)``.
MARGIN_EPS = 8

BOX = 4.0  # values drawn uniformly lie in [-BOX, BOX] where the domain has no bound
INT_BOX = 8  # ... and integers in [-INT_BOX, INT_BOX]


def default_margin(dtype: torch.dtype, point: float) -> float:
    """The margin kept around an excluded ``point`` when none is given (0 for integer dtypes)."""
    if dtype in INTEGER:
        return 0.0
    return MARGIN_EPS * torch.finfo(real_dtype(dtype)).eps * max(1.0, abs(point))


@dataclass(frozen=True)
class Domain:
    """Allowed values: ``low <= x <= high``, ``x > 0`` if ``positive``, ``|x - e| > margin`` per excluded ``e``.

    Build one with :func:`make_domain`, which validates the arguments.
    """

    dtype: torch.dtype
    low: float | None = None
    high: float | None = None
    positive: bool = False
    exclude: tuple[tuple[float, float], ...] = ()  # (point, margin) pairs

    def __repr__(self) -> str:
        return f"{self.dtype} in {self.describe()}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints strategies with this
        printer.text(repr(self))

    @property
    def kind(self) -> str:
        if self.dtype in FLOATING:
            return "float"
        if self.dtype in COMPLEX:
            return "complex"
        return "int" if self.dtype in INTEGER else "bool"

    @property
    def constrained(self) -> bool:
        return self.low is not None or self.high is not None or self.positive or bool(self.exclude)

    def allowed(self, values: Tensor) -> Tensor:
        """A bool mask: which of ``values`` (already in :attr:`dtype`) lie in the domain."""
        x = values if values.dtype in (torch.float64, torch.int64) else values.double()
        ok = torch.ones_like(x, dtype=torch.bool)
        # An integer tensor against a float bound compares in float32 (7.9e-84 rounds to 0): round
        # the bounds to integers instead, which is exact.
        whole = not x.is_floating_point()
        if self.low is not None:
            ok &= x >= (math.ceil(self.low) if whole else self.low)
        if self.high is not None:
            ok &= x <= (math.floor(self.high) if whole else self.high)
        if self.positive:
            ok &= x > 0
        for point, margin in self.exclude:
            ok &= (x.double() - point).abs() > margin
        return ok

    def allows(self, value: float) -> bool:
        return bool(self.allowed(torch.tensor([value], dtype=self.dtype))[0])

    # -- uniform samples -------------------------------------------------------------------------

    @cached_property
    def box(self) -> tuple[float, float]:
        """Where uniform samples come from: the bounds, or a few units either side where there are none."""
        if self.kind == "int":
            info = torch.iinfo(self.dtype)
            low, high = self.low, self.high
            if self.positive:
                low = 1.0 if low is None else max(low, 1.0)
            if low is None:
                low = -INT_BOX if high is None else high - 2 * INT_BOX
            if high is None:
                high = low + 2 * INT_BOX
            return float(max(math.ceil(low), info.min)), float(min(math.floor(high), info.max))
        big = torch.finfo(real_dtype(self.dtype)).max
        low = 0.0 if self.positive and (self.low is None or self.low < 0) else self.low
        high = self.high
        if low is None:
            return (-BOX, BOX) if high is None else (max(high - max(BOX, abs(high)), -big), high)
        if high is None:
            return low, min(low + max(BOX, abs(low)), big)
        return low, high

    @cached_property
    def intervals(self) -> tuple[tuple[float, float], ...]:
        """The allowed part of :attr:`box` as closed intervals (float domains)."""
        low, high = self.box
        if self.positive and low <= 0:
            low = math.nextafter(0.0, math.inf)
        pieces = [(low, high)]
        for point, margin in self.exclude:
            cut_low, cut_high = point - margin, point + margin
            kept = []
            for a, b in pieces:
                if b < cut_low or a > cut_high:
                    kept.append((a, b))
                    continue
                if a < cut_low:
                    kept.append((a, math.nextafter(cut_low, -math.inf)))
                if b > cut_high:
                    kept.append((math.nextafter(cut_high, math.inf), b))
            pieces = kept
        return tuple((a, b) for a, b in pieces if a <= b)

    @cached_property
    def _candidates(self) -> tuple[float, ...]:
        """Allowed integers of the box, at most 64 of them evenly spread (integer domains)."""
        low, high = (int(v) for v in self.box)
        step = max(1, (high - low) // 64)
        values = [v for v in range(low, high + 1, step) if self.allows(v)]
        return tuple(float(v) for v in values)

    @cached_property
    def safe(self) -> float:
        """One allowed value, used when a drawn value is outside the domain after every other fix."""
        if self.kind == "int":
            options: Sequence[float] = self._candidates
        else:
            options = [x for a, b in sorted(self.intervals, key=lambda ab: ab[0] - ab[1])
                       for x in ((a + b) / 2, a, b)]
        for value in options:
            if self.allows(value):
                return torch.tensor(value, dtype=self.dtype).item()
        raise ArgumentError(f"no {self.dtype} value lies in the domain {self.describe()}: widen low/high, "
                            "drop an excluded point or make the margin smaller")

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` allowed values in :attr:`dtype`, uniform over the allowed part of :attr:`box`."""
        if self.kind == "int":
            choices = torch.tensor(self._candidates, dtype=torch.float64)
            lowest, highest = (int(v) for v in self.box)
            values = torch.randint(lowest, highest + 1, (n,), generator=generator).to(self.dtype)
            bad = ~self.allowed(values)
            if bad.any():
                picks = torch.randint(0, len(choices), (int(bad.sum()),), generator=generator)
                values[bad] = choices[picks].to(self.dtype)
            return values
        low, high = self.intervals[0][0], self.intervals[-1][1]
        values = torch.rand(n, generator=generator, dtype=torch.float64).mul_(high - low).add_(low).to(self.dtype)
        if len(self.intervals) > 1:  # reject what fell into an excluded gap: redraw piece by piece
            bad = (~self.allowed(values)).nonzero().squeeze(1)
            if len(bad):
                values[bad] = self._sample_pieces(len(bad), generator)
        return self.enforce(values)

    def _sample_pieces(self, n: int, generator: torch.Generator) -> Tensor:
        starts = torch.tensor([a for a, _ in self.intervals], dtype=torch.float64)
        lengths = torch.tensor([b - a for a, b in self.intervals], dtype=torch.float64)
        if float(lengths.sum()) == 0:  # only isolated points: pick among them
            return starts[torch.randint(0, len(starts), (n,), generator=generator)].to(self.dtype)
        cumulative = lengths.cumsum(0)
        u = torch.rand(n, generator=generator, dtype=torch.float64) * cumulative[-1]
        which = torch.searchsorted(cumulative, u, right=True).clamp_(max=len(starts) - 1)
        return (starts[which] + (u - (cumulative[which] - lengths[which]))).to(self.dtype)

    def enforce(self, values: Tensor) -> Tensor:
        """``values`` (in :attr:`dtype`) with any value outside the domain replaced by :attr:`safe`."""
        if self.constrained:
            values[~self.allowed(values)] = self.safe
        return values

    # -- special values --------------------------------------------------------------------------

    @cached_property
    def specials(self) -> tuple[Any, ...]:
        """Values that break backwards in practice, each allowed, in shrinking order (0 first)."""
        if self.kind == "bool":
            return ()
        if self.kind == "int":
            iinfo = torch.iinfo(self.dtype)
            raw: list[Any] = [0, 1, -1, 2, -2]
            raw += [math.ceil(self.low)] if self.low is not None else []
            raw += [math.floor(self.high)] if self.high is not None else []
            raw += [int(p) + s * (math.floor(m) + 1) for p, m in self.exclude for s in (-1, 1)]
            raw = [v for v in raw if iinfo.min <= v <= iinfo.max]
        else:
            finfo = torch.finfo(real_dtype(self.dtype))
            tiny = math.sqrt(finfo.tiny) / 2  # its square underflows
            large = LARGE[real_dtype(self.dtype)]
            raw = [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, finfo.eps, -finfo.eps, tiny, -tiny, large, -large]
            raw += [v for v in (self.low, self.high) if v is not None]
            for point, margin in self.exclude:  # just outside the margin, either side
                step = 2 * margin if margin > 0 else 4 * finfo.eps * max(1.0, abs(point))
                raw += [point - step, point + step]
            if self.kind == "complex":
                raw[3:3] = [1j, -1j, 1 + 1j]
                return tuple(dict.fromkeys(torch.tensor(raw, dtype=self.dtype).tolist()))
        values = torch.tensor(raw, dtype=self.dtype)
        kept = values[self.allowed(values)].tolist()
        return tuple(dict.fromkeys(kept))  # deduplicated, order kept

    def describe(self) -> str:
        parts = [f"[{'-inf' if self.low is None else self.low}, {'inf' if self.high is None else self.high}]"]
        if self.positive:
            parts.append("x > 0")
        parts += [f"|x - {p}| > {m:.3g}" for p, m in self.exclude]
        return " and ".join(parts)


def make_domain(dtype: torch.dtype, *, low: Any = None, high: Any = None, exclude: Any = (), margin: Any = None,
                positive: Any = False, where: str = "") -> Domain:
    """Validate the domain arguments for ``dtype``; ``where`` suffixes argument names (``"[1]"``)."""
    low = check_real(low, f"low{where}")
    high = check_real(high, f"high{where}")
    positive = check_bool(positive, f"positive{where}")
    margin = check_real(margin, f"margin{where}")
    if margin is not None and margin < 0:
        raise ArgumentError(f"margin{where} must not be negative, got margin{where}={margin!r}: pass a margin "
                            f"of 0 or more, e.g. margin{where}={-margin!r}, or None for the default")
    points = _check_points(exclude, f"exclude{where}")
    if dtype in COMPLEX or dtype == torch.bool:
        defaults = (("low", low, None), ("high", high, None), ("positive", positive, False),
                    ("exclude", points, ()), ("margin", margin, None))
        given = [name for name, value, default in defaults if value != default]
        if given:
            raise ArgumentError(f"{given[0]}{where} does not apply to dtype={dtype}: complex and bool tensors take "
                                "no domain (drop low, high, exclude, margin and positive)")
        return Domain(dtype)
    info: Any = torch.iinfo(dtype) if dtype in INTEGER else torch.finfo(dtype)
    for name, value in (("low", low), ("high", high)):
        if value is not None and not info.min <= value <= info.max:
            raise ArgumentError(f"{name}{where}={value!r} is outside the range of {dtype} "
                                f"[{info.min}, {info.max}]: pass a {name} within it, or None for no bound")
    if low is not None and high is not None and low > high:
        raise ArgumentError(f"low{where}={low!r} is larger than high{where}={high!r}: pass low <= high, "
                            f"e.g. low{where}={high!r}, high{where}={low!r}")
    if positive and high is not None and high <= 0:
        raise ArgumentError(f"positive{where}=True leaves no values below high{where}={high!r}: pass a high "
                            f"above 0 (e.g. high{where}=1.0), or drop positive{where}=True to draw values up to "
                            f"high{where}={high!r}")
    pairs = tuple((p, default_margin(dtype, p) if margin is None else margin) for p in points)
    domain = Domain(dtype, low=low, high=high, positive=positive, exclude=pairs)
    domain.safe  # noqa: B018 - raises ArgumentError now if no value is allowed
    return domain


def _check_points(exclude: Any, name: str) -> tuple[float, ...]:
    if isinstance(exclude, (str, bytes)) or not isinstance(exclude, Iterable):
        raise ArgumentError(f"{name} must be a tuple of numbers, got {name}={exclude!r}: pass the points to "
                            f"keep away from, e.g. {name}=(0.0,), or () for none")
    points = tuple(exclude)
    for i, p in enumerate(points):
        check_real(p, f"{name}[{i}]", allow_none=False)
    return tuple(float(p) for p in points)
