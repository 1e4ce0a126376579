"""The one table of default tolerances, keyed by dtype and by what is being compared.

A grad comparison passes element ``i`` when

    |actual_i - expected_i| <= atol * magnitude + rtol * |expected_i|

where ``magnitude`` is the largest absolute value among the terms the property compared (the
grads on both sides, scaled by their coefficients). Scaling ``atol`` by it makes a check indifferent to
the scale of the seed — a seed of 1e3·u and one of 1e-3·u are held to the same relative standard —
while still catching a wrong entry that is small next to its neighbours.

=================  ===========================  ===========================
dtype              two_paths (rtol, atol)       finite_differences (rtol, atol)
=================  ===========================  ===========================
float64/complex128 1e-7, 1e-7                   1e-4, 1e-5
float32/complex64  1e-4, 2e-5                   (compared in float64)
float16            1e-2, 5e-3                   (compared in float64)
bfloat16           5e-2, 2e-2                   (compared in float64)
=================  ===========================  ===========================

``two_paths`` is for two computations of the same gradient that round differently (a combined seed
against combined grads, a summed seed against an expanded one, backward against Jacobian rows).
``torch.testing``'s defaults compare one algorithm with itself and are too tight for that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gradprops.errors import UsageError

_TABLE: dict[str, dict[torch.dtype, tuple[float, float]]] = {
    "two_paths": {
        torch.float64: (1e-7, 1e-7),
        torch.complex128: (1e-7, 1e-7),
        torch.float32: (1e-4, 2e-5),
        torch.complex64: (1e-4, 2e-5),
        torch.float16: (1e-2, 5e-3),
        torch.bfloat16: (5e-2, 2e-2),
    },
    "finite_differences": {
        torch.float64: (1e-4, 1e-5),
        torch.complex128: (1e-4, 1e-5),
    },
}


@dataclass(frozen=True)
class Tolerance:
    """The tolerance that applied to a comparison, and where it came from (for the message)."""

    rtol: float
    atol: float
    source: str
    kind: str = ""  # the table's column ("two_paths", "finite_differences"), "" when not from the table

    def allowed(self, magnitude: float, expected_abs: float, floor: float = 0.0) -> float:
        """The allowance for one scalar: ``atol·magnitude + rtol·|expected| + floor``, ``floor`` the
        rounding a property measured or derived on top of the table (noise of cancelling terms).

        >>> Tolerance(1e-4, 1e-5, "given").allowed(magnitude=10.0, expected_abs=2.0, floor=0.5)
        0.5003
        """
        return self.atol * magnitude + self.rtol * expected_abs + floor

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g} × magnitude ({self.source})"


def resolve_tolerance(
    dtype: torch.dtype, rtol: float | None, atol: float | None, kind: str = "two_paths"
) -> Tolerance:
    """Fill whichever of ``rtol``/``atol`` the caller left out from the table for ``dtype``.

    >>> resolve_tolerance(torch.float32, None, None)
    Tolerance(rtol=0.0001, atol=2e-05, source='default for torch.float32', kind='two_paths')
    """
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (not isinstance(value, (int, float)) or not value >= 0):
            raise UsageError(f"{name} must be a non-negative number, got {value!r}")
    table = _TABLE[kind]
    default = table.get(dtype, table[torch.float64])
    if rtol is not None and atol is not None:
        return Tolerance(float(rtol), float(atol), "given", kind)
    source = f"default for {dtype}" if rtol is None and atol is None else f"given, rest default for {dtype}"
    return Tolerance(
        default[0] if rtol is None else float(rtol),
        default[1] if atol is None else float(atol),
        source,
        kind,
    )


def loosest_dtype(dtypes: list[torch.dtype]) -> torch.dtype:
    """The dtype whose default tolerance is loosest: a comparison is only as exact as that."""
    table = _TABLE["two_paths"]
    return max(dtypes, key=lambda d: table.get(d, table[torch.float64])[0])
