"""Every repro the test suite makes is valid Python.

Every "How to reproduce" snippet gradprops prints comes from :meth:`gradprops.describe.Case.repro`
(the helpers print it, ``gradprops.check``'s replay embeds it, the command prints and writes it).
This fixture records each one a test makes and compiles it when the test ends: a repro with a
SyntaxError fails the test that produced it. (Repros made in subprocesses are compiled by the tests
that start them: see tests/test_cli_process.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gradprops.describe import Case


@pytest.fixture(autouse=True)
def repros_compile(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The repros made during the test, compiled at its end."""
    made: list[str] = []
    original = Case.repro

    def recording(self: Case, property: str) -> str:
        source = original(self, property)
        made.append(source)
        return source

    monkeypatch.setattr(Case, "repro", recording)
    yield made
    for source in made:
        try:
            compile(source, "<gradprops repro>", "exec")
        except SyntaxError as exc:
            pytest.fail(f"a printed repro is not valid Python ({exc.msg}, line {exc.lineno}):\n{source}")
