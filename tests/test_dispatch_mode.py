"""gradprops' dispatch modes (the simulated precision, the narrowing watch, opcheck's first calls) do
not import Dynamo: a second of imports in every process's first check, when nothing is compiled."""

import subprocess
import sys

import torch

from gradprops.dispatch_mode import DispatchMode


def test_a_default_check_leaves_dynamo_unimported():
    code = ("import sys, torch, gradprops\n"
            "from gradprops import strategies as gst\n"
            "gradprops.check(torch.sin, gst.inputs('(n)'), max_examples=5, seed=0)\n"
            "print('torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "a check without compiled_matches_eager imported torch._dynamo"


def _a_mode() -> type[DispatchMode]:
    """A new mode class per test: a class remembers its Dynamo-disabled dispatch once made."""

    class Passing(DispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    return Passing


def test_once_dynamo_is_imported_a_mode_runs_under_dynamo_disable(monkeypatch):
    """What torch's own TorchDispatchMode wrapper does, kept: Dynamo must never trace into a mode."""
    import torch._dynamo  # imported: from now on the wrapper applies

    wrapped = []

    def spy(fn, recursive=True):
        wrapped.append(fn)
        return fn

    monkeypatch.setattr(torch, "_disable_dynamo", spy)
    with _a_mode()():
        torch.ones(2).add(1)
    assert [f.__name__ for f in wrapped] == ["__torch_dispatch__"]


def test_before_dynamo_is_imported_a_mode_runs_directly(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch._dynamo", raising=False)
    monkeypatch.setattr(torch, "_disable_dynamo", lambda *a, **k: (_ for _ in ()).throw(AssertionError("called")))
    with _a_mode()():
        assert torch.ones(2).add(1).tolist() == [2.0, 2.0]
