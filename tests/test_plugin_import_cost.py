"""Having gradprops installed costs a project without gradprops tests nothing: no torch import."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

RECORD_MODULES = """
import json, sys

def pytest_sessionfinish(session):
    node = getattr(session.config, "workerinput", {}).get("workerid", "controller")
    with open(f"modules-{node}.json", "w") as f:
        json.dump({name: name in sys.modules for name in ("torch", "gradprops", "hypothesis")}, f)
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_no_torch_or_gradprops_import_without_gradprops_tests(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_trivial="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *xdist)
    result.assert_outcomes(passed=1)
    assert any(line.startswith("gradprops ") for line in result.outlines), "the plugin is loaded"
    records = sorted(pytester.path.glob("modules-*.json"))
    assert len(records) == (3 if xdist else 1), records  # the controller and each worker
    for record in records:
        modules = json.loads(record.read_text())
        assert not modules["torch"] and not modules["gradprops"], (record.name, modules)
