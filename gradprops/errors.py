"""The ways gradprops answers other than a pass: the function under test is wrong, the caller is,
or a property could not be checked here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradprops.compare import Mismatch
    from gradprops.describe import Case


class UsageError(ValueError):
    """The caller handed gradprops something it cannot check; the message says what to do instead.

    Never raised because the function under test is wrong: that is a :class:`PropertyFailure`.
    """


class NotChecked(UserWarning):
    """An assertion helper could not check (part of) its property here, and says what and why.

    Not the caller's mistake and not a finding: a kink at ``x`` for finite differences, a function
    without forward-mode AD or double backward, a Jacobian checked on a sample of its rows. Shown
    in pytest's warnings summary; ``-W error::gradprops.NotChecked`` makes it fail a test.
    """


class PropertyFailure(AssertionError):
    """A property of backward does not hold for the function under test.

    Attributes:
        property: the property's name, e.g. ``"seed_linearity"``.
        case: the inputs, seeds and extras of the failing example (a :class:`~gradprops.describe.Case`).
        mismatches: every grad comparison that failed, one per variable (empty when the failure is
            not a comparison, e.g. the function raised).
        mismatch: the one of them with the greatest absolute difference, or ``None``.
        detail: one line saying what went wrong, in the property's own terms.
    """

    def __init__(
        self,
        property: str,
        detail: str,
        case: Case,
        mismatches: Sequence[Mismatch] = (),
        extra: str = "",
    ) -> None:
        self.property = property
        self.detail = detail
        self.case = case
        self.mismatches = list(mismatches)
        self.mismatch = max(self.mismatches, key=lambda m: m.max_abs_diff, default=None)
        self.extra = extra
        self.replay = ""  # set by the driver once it knows how the case was drawn
        super().__init__(self._render())

    def as_raised_to_the_caller(self) -> PropertyFailure:
        """This failure without the frames of gradprops and Hypothesis it was raised through, and
        without Hypothesis' notes on its draws: the message says all of it (property, case, where and
        by how much, how to reproduce), and a pytest report of the caller's test then shows the
        caller's line, not 40 lines of gradprops' source. A chained cause (the exception the function
        under test raised) keeps its traceback."""
        if hasattr(self, "__notes__"):
            del self.__notes__
        return self.with_traceback(None)

    def with_replay(self, replay: str) -> PropertyFailure:
        """Attach how to replay the failing case (the driver knows; helpers print a snippet)."""
        self.replay = replay
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        parts = [f"gradprops: property '{self.property}' failed: {self.detail}"]
        # Precision lost in a narrower step is a diagnosis only where one may exist: not once the
        # float64 function was seen to compute in float64 throughout.
        parts += [m.render(narrower_possible=self.case.narrower_steps is not False) for m in self.mismatches]
        if self.extra:
            parts.append(self.extra)
        parts.append(self.case.render())
        parts.append("How to reproduce:\n" + _indent(self.replay or self.case.repro(self.property)))
        return "\n".join(parts)

    # Shortcuts so that tests and users need not reach into .mismatch.
    @property
    def max_abs_diff(self) -> float | None:
        return None if self.mismatch is None else self.mismatch.max_abs_diff

    @property
    def max_rel_diff(self) -> float | None:
        return None if self.mismatch is None else self.mismatch.max_rel_diff

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the rendered text when pickled (pytest-xdist ships failures between processes).
        return (AssertionError, (str(self),))


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def findings_hidden(excinfo: Any) -> bool:
    """pytest's ``__tracebackhide__`` of gradprops' entry points (check, the helpers): their frames are
    left out of the report of a :class:`PropertyFailure`, whose message says everything, and kept for
    any other exception — a bug of gradprops must show where it happened."""
    return excinfo is not None and excinfo.errisinstance(PropertyFailure)
