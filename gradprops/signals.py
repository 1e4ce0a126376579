"""The signals gradprops' layers raise to each other, in one place.

None of them reaches a user as is: :func:`gradprops.check` and the assertion helpers turn them into
a :class:`~gradprops.errors.PropertyFailure` (the function under test raised, wrote into a tensor it
must only read, returned nothing to check on some inputs), a skip with a reason or a
:class:`~gradprops.errors.NotChecked` warning (the property cannot apply here, or to this function
at all), or a :class:`~gradprops.errors.UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradprops.errors import UsageError

if TYPE_CHECKING:
    from gradprops.compare import Mismatch


class FunctionRaised(Exception):
    """The function under test (or its backward) raised; carried up to become a PropertyFailure."""

    def __init__(self, stage: str, original: BaseException) -> None:
        super().__init__(f"{stage}: {type(original).__name__}: {original}")
        self.stage = stage
        self.original = original


class NoOutputToCheck(UsageError):
    """The function returned nothing gradprops can check (None, a number, outputs without grad).

    From a helper, the caller's to fix; inside :func:`gradprops.check`, a finding about the drawn
    case, shown with it (a function may return None for some inputs only).
    """


def call_user(stage: str, thunk: Callable[[], Any]) -> Any:
    """Run user code, turning any exception it raises into :class:`FunctionRaised`."""
    try:
        return thunk()
    except (UsageError, FunctionRaised):
        raise
    except Exception as exc:
        raise FunctionRaised(stage, exc) from exc


class Unavailable(Exception):
    """The function does not support an autograd capability a property needs.

    Forward-mode AD (a custom Function without ``jvp``), double backward (``@once_differentiable``),
    float64 (the function raises on, or casts away from, float64 inputs). Properties turn it into
    a skip with this reason; it is never a finding about backward.
    """


class Mutated(Exception):
    """Backward (or forward) wrote into a tensor it must only read."""

    def __init__(self, detail: str, mismatch: Mismatch) -> None:
        super().__init__(detail)
        self.detail = detail
        self.mismatch = mismatch


class NotApplicable(Exception):
    """The property cannot be checked on this function here (a kink at x, no forward-mode AD).

    A skip, with this reason, in a check; a :class:`~gradprops.errors.NotChecked` warning from an
    assertion helper (:func:`as_helper`). Not a :class:`UsageError`: the caller did nothing wrong.
    """


class Unsupported(NotApplicable):
    """The function itself lacks a capability the property needs (forward-mode AD, double backward):
    not this example's doing, so :func:`gradprops.check` finds it out once and skips the property on
    the examples after without running it."""
