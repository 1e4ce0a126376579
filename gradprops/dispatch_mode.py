"""A TorchDispatchMode that does not import Dynamo until something is compiled.

torch wraps every ``TorchDispatchMode`` subclass's ``__torch_dispatch__`` so that Dynamo never
traces into it, and that wrapper imports ``torch._dynamo`` on its first call: a second or more of
imports (sympy, the tracer) in the first check of every process — each pytest-xdist worker, each
``gradprops`` run — although nothing is compiled there. Nothing can be compiling while
``torch._dynamo`` was never imported (``torch.compile`` imports it), so this base class calls a
mode's ``__torch_dispatch__`` directly until then, and through torch's own wrapper after.

>>> class Count(DispatchMode):
...     calls = 0
...     def __torch_dispatch__(self, func, types, args=(), kwargs=None):
...         Count.calls += 1
...         return func(*args, **(kwargs or {}))
>>> with Count():
...     _ = torch.ones(2) + 1
>>> Count.calls > 0
True
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class DispatchMode(TorchDispatchMode):
    """Subclass this instead of ``TorchDispatchMode`` (see the module)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        raw = cls.__dict__.get("__torch_dispatch__")
        if raw is not None and not isinstance(raw, classmethod):
            cls.__torch_dispatch__ = _dynamo_disabled_once_imported(raw)  # type: ignore[method-assign]

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # torch's wrapper, which imports Dynamo, is not needed: __init_subclass__ wraps lazily


def _dynamo_disabled_once_imported(fn: Callable[..., Any]) -> Callable[..., Any]:
    disabled: Callable[..., Any] | None = None

    @functools.wraps(fn)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        nonlocal disabled
        if "torch._dynamo" not in sys.modules:
            return fn(*args, **kwargs)
        if disabled is None:
            disabled = torch._disable_dynamo(fn, recursive=True)
        return disabled(*args, **kwargs)

    return dispatch
