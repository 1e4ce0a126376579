"""The command's jobs as a pytest module, so ``gradprops -n N`` can spread them over pytest-xdist workers.

Driven by one environment variable the command sets, ``GRADPROPS_RUN``: JSON with ``jobs`` (names
from :data:`gradprops.app.runner.JOBS`), ``dtype``, ``max_examples``, ``seed``, ``properties`` and
``results``, a JSON-lines file each worker appends one result per job to. Run by
:func:`gradprops.app.cli.main`; not collected by the project's own test run (it lives in the package,
not under tests/).
"""

from __future__ import annotations

import fcntl
import gc
import json
import os

import pytest
import torch

from gradprops.app.runner import JOBS, run_job

# Without GRADPROPS_RUN (the project's test run imports this module for its doctests), no jobs.
_RUN = json.loads(os.environ.get("GRADPROPS_RUN", '{"jobs": []}'))

# One thread per worker: -n N runs N workers, each a process of its own (torch would start one
# thread per core in each, and N workers would fight over the cores).
torch.set_num_threads(1)

# This worker's imports (torch, Hypothesis, the catalogue) live as long as it does: a full garbage
# collection need not walk them again each time (0.1-0.4 s, several times in a worker's first ops).
gc.freeze()


@pytest.mark.parametrize("name", _RUN["jobs"])
def test_job(name: str) -> None:
    result = run_job(JOBS[name], dtype=_RUN["dtype"], max_examples=_RUN["max_examples"],
                     seed=_RUN["seed"], properties=_RUN["properties"])
    with open(_RUN["results"], "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(result, default=str) + "\n")
    assert result["failure"] is None, result["failure"]["text"]
