"""What a passing :func:`gradprops.check` returns: what ran, what was skipped and why, how long."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PropertyReport:
    """One property's tally over a check."""

    name: str
    summary: str
    needs: tuple[str, ...] = ()
    examples: int = 0  # examples on which the property ran and held
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> examples skipped for it
    notes: Counter[str] = field(default_factory=Counter)  # e.g. "explicit Jacobian capped: ..."
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.examples:
            return "passed"
        return "skipped" if self.skipped else "not run"


@dataclass
class Report:
    """The result of a passing check; ``str(report)`` is a table.

    Attributes:
        function: the function's readable name.
        seed: the Hypothesis seed used (``None`` when the profile derandomizes).
        examples: examples drawn and run.
        seconds: wall time of the whole check; ``generation_seconds`` of it drawing inputs/seeds.
        properties: per-property tallies, in run order.
    """

    function: str
    seed: int | None
    max_examples: int
    examples: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    properties: dict[str, PropertyReport] = field(default_factory=dict)

    def ran(self, name: str) -> int:
        return self.properties[name].examples

    def __str__(self) -> str:
        seed = "derandomized" if self.seed is None else str(self.seed)
        lines = [
            f"gradprops.check({self.function}): {self.examples} examples, seed {seed}, "
            f"{self.seconds:.2f}s ({self.generation_seconds:.2f}s drawing cases)",
            f"  {'property':<24} {'status':<8} {'examples':>8} {'skipped':>8} {'time':>8}",
        ]
        for p in self.properties.values():
            lines.append(
                f"  {p.name:<24} {p.status:<8} {p.examples:>8} {sum(p.skipped.values()):>8} "
                f"{p.seconds:>7.2f}s"
            )
            lines += [f"      skipped {n}×: {reason}" for reason, n in merged(p.skipped).most_common()]
            lines += [f"      note {n}×: {note}" for note, n in merged(p.notes).most_common()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "function": self.function,
            "seed": self.seed,
            "max_examples": self.max_examples,
            "examples": self.examples,
            "seconds": self.seconds,
            "generation_seconds": self.generation_seconds,
            "properties": {
                p.name: {
                    "status": p.status,
                    "examples": p.examples,
                    "skipped": dict(p.skipped),
                    "notes": dict(p.notes),
                    "seconds": p.seconds,
                    "needs": list(p.needs),
                }
                for p in self.properties.values()
            },
        }


#: A whole number standing alone: not the digits of a name (float16, gw1), of a decimal (1.5) or of an
#: exponent (1e-06), which are not counts and must not be merged into a range.
_INTEGER = re.compile(r"(?<![\w.+\-])\d+(?![\w.])")


def merged(said: Counter[str]) -> Counter[str]:
    """Reasons or notes that differ in one whole number only, said once: with the numbers listed
    (three or fewer) or as a range.

    A note per example size ("explicit Jacobian capped: 8 of 9 rows", "… 8 of 400 rows") was one line
    each: 38 lines for one check of a matrix product. Texts that differ in two numbers stay apart
    (which count belongs to which output would be lost), and so do numbers inside names.

    >>> merged(Counter({"capped: 8 of 9 rows": 2, "capped: 8 of 400 rows": 1, "other": 1}))
    Counter({'capped: 8 of 9, 400 rows': 3, 'other': 1})
    >>> sorted(merged(Counter({"output 0: 3 element(s)": 1, "output 2: 1 element(s)": 1})))
    ['output 0: 3 element(s)', 'output 2: 1 element(s)']
    >>> sorted(merged(Counter({"torch.float16 target": 1, "torch.float32 target": 1, "h = 1e-06": 1, "h = 1e-05": 1})))
    ['h = 1e-05', 'h = 1e-06', 'torch.float16 target', 'torch.float32 target']
    """
    groups: dict[str, list[tuple[str, list[int], int]]] = {}
    for text, n in said.items():
        groups.setdefault(_INTEGER.sub("#", text), []).append((text, [int(x) for x in _INTEGER.findall(text)], n))
    out: Counter[str] = Counter()
    for shape, members in groups.items():
        varying = [k for k, values in enumerate(zip(*(m for _, m, _ in members))) if len(set(values)) > 1]
        if len(members) == 1 or len(varying) != 1:
            out.update({text: n for text, _, n in members})
            continue
        values = sorted({m[varying[0]] for _, m, _ in members})
        span = ", ".join(map(str, values)) if len(values) <= 3 else f"{values[0]}–{values[-1]}"
        numbers = [str(x) for x in members[0][1]]
        numbers[varying[0]] = span
        parts = shape.split("#")
        out["".join(p + (numbers[i] if i < len(numbers) else "") for i, p in enumerate(parts))] = sum(
            n for _, _, n in members)
    return out
