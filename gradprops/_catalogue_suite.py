"""The catalogue as a pytest module, so ``gradprops -n N`` can spread it over pytest-xdist workers.

Driven by environment variables the command sets: ``GRADPROPS_RESULTS`` (a JSON-lines file each
worker appends one result per op to), ``GRADPROPS_EXAMPLES``, ``GRADPROPS_SEED``, ``GRADPROPS_OPS``
and ``GRADPROPS_PROPERTIES``. Run by :func:`gradprops.cli.main`; not collected by the project's
own test run (it lives in the package, not under tests/).
"""

from __future__ import annotations

import fcntl
import gc
import json
import os

import pytest

from gradprops._runner import run_entry
from gradprops.catalogue import ENTRIES

_OPS = [n for n in os.environ.get("GRADPROPS_OPS", "").split(",") if n] or list(ENTRIES)

# This worker's imports (torch, Hypothesis, the catalogue) live as long as it does: a full garbage
# collection need not walk them again each time (0.1-0.4 s, several times in a worker's first ops).
gc.freeze()


@pytest.mark.parametrize("name", _OPS)
def test_entry(name: str) -> None:
    result = run_entry(ENTRIES[name], max_examples=int(os.environ.get("GRADPROPS_EXAMPLES", "5")),
                       seed=int(os.environ.get("GRADPROPS_SEED", "0")),
                       properties=os.environ.get("GRADPROPS_PROPERTIES") or None)
    with open(os.environ["GRADPROPS_RESULTS"], "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(result, default=str) + "\n")
    assert result["failure"] is None, result["failure"]
