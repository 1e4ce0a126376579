"""A pytest plugin for ``wall_times.py --suite``: which tests start Python processes, and what they cost.

Loaded with ``-p suite_children`` (``benchmarks/`` on ``PYTHONPATH``); each pytest process, xdist
workers included, appends one JSON line per test to the file ``$GRADPROPS_SUITE_LOG`` names:
the test's duration, and the Python child processes it started (their command line and seconds
from start to exit, as the test saw them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

_children: list[dict[str, Any]] = []
_started: dict[int, tuple[float, list[str]]] = {}
_popen_init = subprocess.Popen.__init__
_popen_wait = subprocess.Popen.wait


def _init(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
    _popen_init(self, args, *rest, **kwargs)
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)]
    if argv and argv[0] == sys.executable:
        _started[id(self)] = (time.perf_counter(), argv[1:])


def _wait(self: subprocess.Popen, timeout: float | None = None) -> int:
    code = _popen_wait(self, timeout)
    started = _started.pop(id(self), None)
    if started is not None:
        _children.append({"argv": started[1], "seconds": time.perf_counter() - started[0]})
    return code


subprocess.Popen.__init__ = _init  # type: ignore[method-assign]
subprocess.Popen.wait = _wait  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _children.clear()
    started = time.perf_counter()
    yield
    with open(os.environ["GRADPROPS_SUITE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"test": item.nodeid, "seconds": time.perf_counter() - started,
                              "children": list(_children)}) + "\n")
