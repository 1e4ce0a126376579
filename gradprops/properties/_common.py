"""What every property shares: building the case, turning findings into PropertyFailure."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Mutated
from gradprops.compare import Mismatch
from gradprops.describe import Case, describe_seed, seed_source
from gradprops.errors import PropertyFailure, UsageError
from gradprops.target import FunctionRaised, Target
from gradprops.tolerances import Tolerance, loosest_dtype, resolve_tolerance


class NotApplicable(UsageError):
    """The property cannot be checked on this function (e.g. complex outputs for the Jacobian).

    A :class:`UsageError` when a helper is called directly; a skip, with this reason, in a check.
    """


def make_case(
    target: Target,
    variables: Sequence[Tensor],
    *,
    seeds: dict[str, Sequence[Tensor]] | None = None,
    extras: dict[str, object] | None = None,
    helper_call: str = "",
) -> Case:
    """Describe the example the property is about to run, for its failure message."""
    seeds = seeds or {}
    described_seeds = [row for label, s in seeds.items() for row in describe_seed(label, s)]
    diff = {id(v.value) for v in target.variables}
    return Case(
        function=target.name,
        variables=[(v.name, t) for v, t in zip(target.variables, variables)],
        fixed_inputs=[(f"input {i}", x) for i, x in enumerate(target.inputs) if id(x) not in diff],
        seeds=described_seeds,
        extras=dict(extras or {}),
        inputs_source=list(enumerate(target.inputs)),
        helper_call=helper_call,
        seed_literals={label: seed_source(s) for label, s in seeds.items()},
    )


@contextmanager
def findings_as_failures(property: str, case: Callable[[], Case]) -> Iterator[None]:
    """Report what the function under test did wrong as a PropertyFailure of ``property``."""
    try:
        yield
    except FunctionRaised as exc:
        original = exc.original
        raise PropertyFailure(
            property,
            f"the function under test raised during {exc.stage}: "
            f"{type(original).__name__}: {original}",
            case(),
        ) from original
    except Mutated as exc:
        raise PropertyFailure(property, exc.detail, case(), [exc.mismatch]) from None


def fail_on(property: str, detail: str, mismatches: list[Mismatch], case: Case, extra: str = "") -> None:
    if mismatches:
        raise PropertyFailure(property, detail, case, mismatches, extra=extra)


def tolerance_for(
    variables: Sequence[Tensor], outputs: Sequence[Tensor], rtol: float | None, atol: float | None,
    kind: str = "two_paths",
) -> Tolerance:
    dtypes = [t.dtype for t in (*variables, *outputs)]
    return resolve_tolerance(loosest_dtype(dtypes), rtol, atol, kind)


def check_coefficient(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(float(value)):
        raise UsageError(
            f"coefficient {name} must be a finite real number, got {value!r}: pass e.g. "
            "coefficients=(2.0, -0.5)"
        )
    return float(value)


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def random_seed_like(outputs: Sequence[Tensor], generator: torch.Generator) -> tuple[Tensor, ...]:
    """A signed random seed for each output (used when the caller gives none)."""
    return tuple(
        torch.randn(o.shape, dtype=o.dtype, generator=generator, device="cpu").to(o.device)
        for o in outputs
    )
