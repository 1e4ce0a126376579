"""The built-in catalogue: at least 80 ops, each passing every property that applies to it."""

from __future__ import annotations

import pytest

from gradprops.app.catalogue import ENTRIES
from gradprops.app.runner import run_entry
from gradprops.properties.registry import PROPERTIES

KINDS = {"unary", "binary", "reduction", "shape", "linalg", "nn"}


def test_at_least_80_entries_of_every_kind() -> None:
    assert len(ENTRIES) >= 80
    assert {e.kind for e in ENTRIES.values()} == KINDS


def test_known_failures_name_real_properties_and_say_why() -> None:
    names = {p.name for p in PROPERTIES}
    for entry in ENTRIES.values():
        for key, reason in entry.known.items():
            prop, _, dtype = key.partition("/")
            assert prop in names and reason, (entry.name, key)
            assert dtype in ("", "float64", "float32", "float16", "bfloat16"), (entry.name, key)


def test_drawn_ops_describe_themselves_as_runnable_source() -> None:
    from hypothesis import find

    op = find(ENTRIES["sum_dim"].fn_strategy(), lambda f: True)
    assert repr(op) == "torch.sum(x, dim=0 % x.ndim, keepdim=False)"
    assert op.__gradprops_source__ == "lambda x: torch.sum(x, dim=0 % x.ndim, keepdim=False)"


@pytest.mark.parametrize("name", list(ENTRIES))
def test_entry_passes_its_properties(name: str) -> None:
    """Two examples per entry (the command runs more); known failures are excluded and listed."""
    result = run_entry(ENTRIES[name], max_examples=2, seed=0, check_known=False)
    assert result["failure"] is None, result["failure"]
    statuses = {p: row["status"] for p, row in result["rows"].items()}
    assert "failed" not in statuses.values()
    assert statuses["purity"] in ("passed", "expected failure")
