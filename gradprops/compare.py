"""The one place that compares grads and says how they differ (torch.testing's standard).

>>> m = compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), name="grad of input 0",
...             tolerance=resolve_tolerance(torch.float32, None, None))
>>> m.mismatched, m.worst_index
(1, (1,))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gradprops.describe import format_values
from gradprops.precision import unit_roundoff
from gradprops.tolerances import Tolerance, resolve_tolerance  # noqa: F401 (doctest)


@dataclass(frozen=True)
class Mismatch:
    """How one grad differs from what the property expected."""

    name: str  # which grad: "grad of input 0", "grad of parameter 'weight'"
    numel: int
    mismatched: int
    max_abs_diff: float
    worst_index: tuple[int, ...]
    max_rel_diff: float
    worst_rel_index: tuple[int, ...]
    allowed_at_worst: float
    tolerance: Tolerance
    magnitude: float
    actual_label: str
    expected_label: str
    actual: Tensor
    expected: Tensor

    @property
    def excess(self) -> float:
        """How many allowances the worst difference is: above 1 is a mismatch."""
        return self.max_abs_diff / max(self.allowed_at_worst, 1e-300)

    def render(self, narrower_possible: bool = True) -> str:
        pct = 100.0 * self.mismatched / max(self.numel, 1)
        a = self.actual[self.worst_index].item() if self.actual.dim() else self.actual.item()
        e = self.expected[self.worst_index].item() if self.expected.dim() else self.expected.item()
        lines = [
            f"  {self.name}:",
            f"    Mismatched elements: {self.mismatched} / {self.numel} ({pct:.1f}%)",
            f"    Greatest absolute difference: {self.max_abs_diff:.6g} at index "
            f"{self.worst_index} (up to {self.allowed_at_worst:.3g} allowed)",
            f"    Greatest relative difference: {self.max_rel_diff:.6g} at index "
            f"{self.worst_rel_index}",
            f"    At index {self.worst_index}: {self.actual_label} = {a:.10g}, "
            f"{self.expected_label} = {e:.10g}",
            f"    Tolerance: {self.tolerance}; magnitude {self.magnitude:.3g}",
        ]
        if self.tolerance.kind == "two_paths":  # finite differences and exact checks say their own
            lines.append(f"    Kind: {self.kind(narrower_possible)}")
        if self.numel <= 24:
            lines.append(f"    {self.actual_label}: {format_values(self.actual)}")
            lines.append(f"    {self.expected_label}: {format_values(self.expected)}")
        return "\n".join(lines)


    def kind(self, narrower_possible: bool = True) -> str:
        """Which kind of wrong the size of the difference points to: overflow, precision or formula.

        Rounding to a dtype with unit roundoff ``u`` moves a result by a few ``u`` of the values it
        is computed from, so a difference of ``r`` times the comparison's magnitude, with ``r``
        within a few hundred ``u`` of a narrower dtype than the compared ones, is the size a
        computation in that dtype makes: a precision loss (a ``.float()`` step in a float64 path, a
        float32 buffer). With ``narrower_possible`` false — one forward and backward of ones took no
        narrower step — a wrong formula is the likelier, though a step taken only for other seeds,
        layouts or values stays possible. Far larger differences are a formula's (a factor, a term,
        an index).
        """
        if self.max_abs_diff == float("inf"):
            return ("NaN or inf on one side only: an overflow (an intermediate past the dtype's range) or "
                    "a NaN (0·inf, 0/0) in one computation, or a wrong formula that divides by zero")
        relative = self.max_abs_diff / self.magnitude if self.magnitude else float("inf")
        wide = max(unit_roundoff(self.actual.dtype), unit_roundoff(self.expected.dtype))
        for narrow in (torch.float32, torch.float16):
            u = unit_roundoff(narrow)
            if u > wide and relative <= _ROUNDING_REACH * u:
                size = (f"{relative:.2g} of the magnitude, {relative / u:.3g}× {narrow}'s unit roundoff "
                        f"({u:.2g}): the size of error a computation in {narrow} makes")
                if not narrower_possible:
                    return (f"{size}, but one forward and backward of ones took no narrower step, so a wrong "
                            f"formula is likelier (or a {narrow} step taken only for other seeds, layouts "
                            "or values)")
                return (f"{size}, so precision lost in a {narrow} step (a .float()/.half(), a {narrow} "
                        "buffer or constant) is as likely as a wrong formula")
        if relative <= _ROUNDING_REACH * wide:
            return (f"{relative:.2g} of the magnitude, {relative / wide:.3g}× the compared dtype's unit roundoff: "
                    "more than the rounding measured for this computation, yet small: a small wrong term, or "
                    "rounding the error model did not see (an accumulation in a narrower type)")
        return (f"{relative:.2g} of the magnitude, {relative / wide:.3g}× the compared dtype's unit roundoff: "
                "far more than rounding explains, so a wrong formula (a factor, a term, an index)")


#: Differences up to this many unit roundoffs of a dtype are what computing in it can explain.
_ROUNDING_REACH = 256


@dataclass(frozen=True)
class Escalation:
    """When a verdict that rests on sampled rounding is measured again with more samples.

    A long accumulation's rounding adds up like a Gaussian, so a few simulated runs see its tail now
    and then, while a wrong formula is usually hundreds of allowances off: a comparison that fails
    with ``runs[0]`` samples is repeated with ``runs[1]`` while its worst difference is within
    ``within[0]`` allowances, and so on; failing further out, or after the last round, is a verdict.

    >>> a, b = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.03])
    >>> def judge(runs):  # a comparison whose allowance grows with the runs it rests on
    ...     tries.append(runs)
    ...     found = compare(a, b, name="x", tolerance=Tolerance(0.0, 0.001 * runs, "sampled"), magnitude=10.0)
    ...     return [found] if found else []
    >>> tries = []
    >>> Escalation(runs=(2, 16), within=(4.0,)).verdict(judge), tries  # 1.5 allowances off: again
    ([], [2, 16])
    >>> tries = []
    >>> len(Escalation(runs=(2, 16), within=(1.2,)).verdict(judge)), tries  # further out: a verdict
    (1, [2])
    """

    runs: tuple[int, ...]
    within: tuple[float, ...]

    def verdict(self, judge: Callable[[int], list[Mismatch]]) -> list[Mismatch]:
        """``judge(runs)`` for each round's number of runs until it finds nothing, or finds
        something beyond that round's ``within``, or the rounds run out; what the last one found."""
        found: list[Mismatch] = []
        for round_, runs in enumerate(self.runs):
            found = judge(runs)
            if not found or round_ >= len(self.within) or max(m.excess for m in found) > self.within[round_]:
                break
        return found


def compare(
    actual: Tensor,
    expected: Tensor,
    *,
    name: str,
    tolerance: Tolerance,
    magnitude: float | None = None,
    actual_label: str = "actual",
    expected_label: str = "expected",
) -> Mismatch | None:
    """Compare two grads of the same variable; ``None`` when they agree within ``tolerance``.

    Where both sides overflowed, nothing is compared (see :func:`overflowed`); any other NaN or inf
    on one side only is a mismatch.
    """
    if tolerance.rtol == 0 and (tolerance.atol == 0 or magnitude == 0) and same_values(actual, expected):
        return None  # exact comparisons (guards, determinism): one pass, the usual answer
    a = widened(actual.detach())
    e = widened(expected.detach())
    if magnitude is None:
        magnitude = max(_finite_max_abs(a), _finite_max_abs(e))
    diff = abs_of_temporary(a - e)
    # Two values of a dtype are never closer than its subnormal spacing (9e-41 apart or 0 in bfloat16).
    floor = max(_subnormal_spacing(actual.dtype), _subnormal_spacing(expected.dtype)) if (
        tolerance.rtol or tolerance.atol) else 0.0
    allowed = e.abs().mul_(tolerance.rtol).add_(tolerance.atol * magnitude + floor)
    agree = diff <= allowed
    if bool(agree.all()):  # the usual answer; NaN and inf need the second look below
        return None
    # Both paths overflowed: no verdict there. The properties say how many elements that left out
    # (overflow_note).
    agree |= overflowed(actual, expected, tolerance.rtol)
    if bool(agree.all()):
        return None
    bad = ~agree
    # NaN/inf on one side counts as an infinite difference, so it is the worst element.
    diff = torch.where(bad & ~diff.isfinite(), torch.full_like(diff, float("inf")), diff)
    diff = torch.where(bad, diff, torch.zeros_like(diff))
    rel = diff / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    worst = _unravel(int(diff.reshape(-1).argmax()), a.shape)
    worst_rel = _unravel(int(rel.reshape(-1).argmax()), a.shape)
    return Mismatch(
        name=name,
        numel=a.numel(),
        mismatched=int(bad.sum()),
        max_abs_diff=float(diff[worst]) if a.dim() else float(diff),
        worst_index=worst,
        max_rel_diff=float(rel[worst_rel]) if a.dim() else float(rel),
        worst_rel_index=worst_rel,
        allowed_at_worst=float(allowed[worst]) if a.dim() else float(allowed),
        tolerance=tolerance,
        magnitude=magnitude,
        actual_label=actual_label,
        expected_label=expected_label,
        actual=actual.detach(),
        expected=expected.detach(),
    )


def compare_all(
    actual: Sequence[Tensor],
    expected: Sequence[Tensor],
    names: Sequence[str],
    tolerance: Tolerance,
    magnitude: float | None = None,
    actual_label: str = "actual",
    expected_label: str = "expected",
    label_prefix: str = "grad of ",
) -> list[Mismatch]:
    """Compare grads variable by variable; one :class:`Mismatch` per variable that disagrees, named
    ``label_prefix`` + its name (``""`` where ``names`` label outputs and grads alike)."""
    if magnitude is None:
        magnitude = max(max_abs(actual), max_abs(expected))
    found = []
    for a, e, n in zip(actual, expected, names):
        m = compare(a, e, name=f"{label_prefix}{n}", tolerance=tolerance, magnitude=magnitude,
                    actual_label=actual_label, expected_label=expected_label)
        if m is not None:
            found.append(m)
    return found


def overflowed(actual: Tensor, expected: Tensor, rtol: float) -> Tensor:
    """Where both sides of a comparison overflowed, so no verdict can be given: a mask.

    Either both are NaN or inf (the function is NaN there, or backward's inf meets vᵀJ's inf·0 =
    NaN), or one side is ±inf and the other, computed in a wider dtype, lies past the narrow
    dtype's largest finite value — allowing ``rtol`` for its own rounding — with the same sign:
    then inf is that dtype's correctly rounded answer (100000 is inf in float16), not an error.

    >>> overflowed(torch.tensor([float("inf"), float("inf")], dtype=torch.float16),
    ...            torch.tensor([1e5, 6e4], dtype=torch.float64), rtol=1e-2)
    tensor([ True, False])
    """
    a, e = actual.detach(), expected.detach()
    both = ~a.isfinite() & ~e.isfinite()
    if a.is_complex() or e.is_complex() or not (a.is_floating_point() and e.is_floating_point()):
        return both
    for inf_side, other in ((a, e), (e, a)):
        if other.dtype != inf_side.dtype and torch.finfo(other.dtype).max > torch.finfo(inf_side.dtype).max:
            past = widened(other).abs() >= torch.finfo(inf_side.dtype).max * (1 - rtol)
            same_sign = torch.sign(widened(inf_side)) == torch.sign(widened(other))
            both |= inf_side.isinf() & other.isfinite() & past & same_sign
    return both


def max_abs(tensors: Sequence[Tensor]) -> float:
    """Largest finite absolute value over several tensors (0.0 when empty): a comparison's scale."""
    return max((_finite_max_abs(t.detach()) for t in tensors), default=0.0)


def finite_max(t: Tensor) -> float:
    """Largest finite value of a real tensor, 0.0 when it has none (min/max in one pass, no copy)."""
    if t.numel() == 0:
        return 0.0
    top = float(t.max())
    if top != float("inf") and top == top:
        return max(top, 0.0)
    t = t[t.isfinite()]  # a boolean gather: only when there is a NaN or inf to leave out
    return max(float(t.max()), 0.0) if t.numel() else 0.0


def all_finite(tensors: Sequence[Tensor]) -> bool:
    """Whether every element of every tensor is finite.

    One sum per tensor decides it when it is finite, as NaN and inf propagate through addition (no
    finite total has a NaN or inf term); only a total that is not finite — a NaN or inf, or finite
    values whose sum overflowed — takes a min/max pass. The sum is 20× cheaper than
    ``isfinite().all()`` on 100,000 float64 elements, and this runs on every seed and grad.

    >>> all_finite([torch.tensor([1.0, 2.0]), torch.tensor([3e38, 3e38])])  # the sum overflows; the values do not
    True
    >>> all_finite([torch.tensor([1.0, float("nan")])])
    False
    """
    for t in tensors:
        if not t.numel() or not (t.is_floating_point() or t.is_complex()):
            continue
        real = torch.view_as_real(t.detach().resolve_conj()) if t.is_complex() else t.detach()
        if math.isfinite(float(real.sum())):
            continue
        lo, hi = (float(x) for x in torch.aminmax(real))  # NaN propagates to both; an overflowed sum does not
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return False
    return True


def same_values(a: Tensor, b: Tensor) -> bool:
    """``torch.equal``, through numpy for large CPU tensors of a dtype numpy has: 2-3× faster there.

    >>> same_values(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")]))
    False
    """
    a, b = a.detach(), b.detach()
    if (a.numel() >= _NUMPY_FROM and a.dtype in _NUMPY_DTYPES and a.dtype == b.dtype and a.shape == b.shape
            and all(t.device.type == "cpu" and t.layout == torch.strided and not t._is_zerotensor()
                    and not t.is_conj() and not t.is_neg() for t in (a, b))):
        return bool(np.array_equal(a.numpy(), b.numpy()))
    return torch.equal(a, b)


_NUMPY_FROM = 4096  # below, numpy's per-call overhead costs more than torch.equal's slower loop
_NUMPY_DTYPES = (torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128, torch.int8,
                 torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)


def abs_of_temporary(t: Tensor) -> Tensor:
    """``|t|`` for a tensor the caller just made: in place when it can be (not complex, not a ZeroTensor)."""
    return t.abs() if t.is_complex() or t._is_zerotensor() else t.abs_()


def widened(t: Tensor) -> Tensor:
    """``t`` detached, in float64 (complex128 if complex): where comparisons and sums are done."""
    if t.dtype is torch.float64 or t.dtype is torch.complex128:
        return t.detach() if t.requires_grad else t
    return t.detach().to(torch.complex128 if t.is_complex() else torch.float64)


def _finite_max_abs(t: Tensor) -> float:
    if t.numel() == 0:
        return 0.0
    if t.is_complex():  # |·| in complex128: complex64's own overflows at 3e38 + 3e38j
        return finite_max(t.to(torch.complex128).abs())
    lo, hi = (float(x) for x in torch.aminmax(t))  # no |t| temporary; NaN propagates to both
    if math.isfinite(lo) and math.isfinite(hi):
        return abs(max(-lo, hi))  # ≥ 0 already; abs drops the sign of a -0.0
    return finite_max(t.abs().to(torch.float64))


def _subnormal_spacing(dtype: torch.dtype) -> float:
    if not (dtype.is_floating_point or dtype.is_complex):
        return 0.0
    info = torch.finfo(dtype)
    return float(info.tiny) * float(info.eps)


def _unravel(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))
