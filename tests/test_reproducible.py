"""A seeded check draws the same cases in any process, and its printed replay line reproduces it.

Hypothesis draws, now and then, literals collected from the process' own modules (scripts, conftest,
an editable install); gradprops' searches must not depend on them. The scripts run in subprocesses,
from a directory outside ``tests/`` (Hypothesis skips test directories when collecting literals).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest
import torch
from hypothesis import settings as hsettings
from hypothesis.database import InMemoryExampleDatabase
from torch.autograd import Function

import gradprops
from gradprops import strategies as gst
from gradprops.checking import _without_local_constants

ROOT = Path(__file__).resolve().parent.parent


class Rare(Function):
    """sin whose backward is 1.5× too large on 5-element inputs with three positive values.

    With purity, seed_linearity and finite_differences at seed 1 and 40 examples, the search finds
    it while a search of finite_differences alone does not: the replay must name all three.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        wrong = x.numel() == 5 and int((x.detach() > 0).sum()) == 3
        return grad * x.cos() * (1.5 if wrong else 1.0)


RARE_CHECK = dict(seed=1, max_examples=40, properties=["purity", "seed_linearity", "finite_differences"])

SCRIPT = '''
{prelude}
import contextlib, hashlib, sys
import hypothesis, torch, gradprops
from gradprops import strategies as gst
from tests.test_reproducible import RARE_CHECK, Rare

settings = hypothesis.settings.get_profile("default")
fn, inputs = Rare.apply, gst.inputs("()", large=False)  # the draws these tests were tuned on
check_module = sys.modules["gradprops.checking"]

def cases_seen():
    seen = []
    def spy(x):
        seen.append((tuple(x.shape), x.stride(), x.detach().sum().item()))
        return x.sin()
    report = gradprops.check(spy, gst.inputs("()", large=False), seed=0, max_examples=60, settings=settings).to_dict()
    untimed = repr({k: v for k, v in report.items() if "seconds" not in k and k != "properties"})
    untimed += repr({p: {k: v for k, v in r.items() if k != "seconds"} for p, r in report["properties"].items()})
    return hashlib.sha256((repr(seen) + untimed).encode()).hexdigest()

def failure(call):
    try:
        call()
    except gradprops.PropertyFailure as failure:
        return str(failure)
    return "no failure"

if sys.argv[1] == "search":
    print("guarded", cases_seen())
    print("failure", failure(lambda: gradprops.check(fn, inputs, settings=settings, **RARE_CHECK)).encode().hex())
    check_module._without_local_constants = contextlib.nullcontext  # the control: what Hypothesis does alone
    print("unguarded", cases_seen())
else:
    print("failure", failure(lambda: exec(sys.argv[2])).encode().hex())
'''


def _run(tmp_path: Path, name: str, prelude: str, *args: str) -> dict[str, str]:
    script = tmp_path / f"{name}.py"  # not a test_ name, not under tests/: Hypothesis reads its literals
    script.write_text(SCRIPT.replace("{prelude}", prelude))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    if "failure" in lines:
        lines["failure"] = bytes.fromhex(lines["failure"]).decode()
    return lines


@pytest.fixture(scope="module")
def two_scripts(tmp_path_factory) -> tuple[dict[str, str], dict[str, str], Path]:
    """The same checks from two scripts that differ only in the literals of their own source."""
    tmp = tmp_path_factory.mktemp("scripts")
    plain = _run(tmp, "plain_script", "", "search")
    literals = _run(tmp, "script_with_literals",
                    "_unused = [123456789, 987654321, 2**31 + 5, 3141592653, 0.3125, 'gradprops']", "search")
    return plain, literals, tmp


def test_a_seeded_check_draws_the_same_cases_and_report_whatever_literals_the_process_imported(two_scripts):
    plain, literals, _ = two_scripts
    # The control: without gradprops' guard, the literals change what Hypothesis draws.
    assert plain["unguarded"] != literals["unguarded"], "the literals no longer reach Hypothesis' draws"
    assert plain["guarded"] == literals["guarded"]


def test_a_seeded_failure_is_byte_identical_across_processes(two_scripts):
    plain, literals, _ = two_scripts
    assert plain["failure"].startswith("gradprops: property 'finite_differences' failed"), plain["failure"]
    assert plain["failure"] == literals["failure"]


def test_the_printed_replay_line_reproduces_the_failure_in_a_new_process(two_scripts):
    plain, _, tmp = two_scripts
    line = next(x.strip() for x in plain["failure"].splitlines() if x.strip().startswith("gradprops.check("))
    # Precondition: the focused search missed, so the line must name the search that found the case.
    assert "properties=['purity', 'seed_linearity', 'finite_differences']" in line, line
    assert "seed=1" in line and "max_examples=40" in line and "settings=settings" in line
    replayed = _run(tmp, "replay_script", "", "replay", line.split("  #")[0])
    assert replayed["failure"] == plain["failure"]


def test_hypothesis_internals_the_guard_replaces_are_still_there():
    """Fails when a Hypothesis upgrade moves what gradprops replaces (then see gradprops/checking.py)."""
    from hypothesis.internal.conjecture import providers

    assert _without_local_constants.patchable(), f"hypothesis {hypothesis.__version__} moved the internals"
    original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
    with _without_local_constants():
        assert len(providers.HypothesisProvider(None)._local_constants) == 0
        assert providers.CONSTANTS_CACHE is not cache
        with _without_local_constants():  # a check inside a check restores once, at the end
            pass
        assert providers._get_local_constants is not original
    assert providers._get_local_constants is original and providers.CONSTANTS_CACHE is cache


def _cases(seed: int, database_key: bytes | None, database=None) -> list[tuple]:
    seen: list[tuple] = []

    def spy(x):
        seen.append((tuple(x.shape), x.stride(), x.detach().sum().item()))
        return x.sin()

    gradprops.check(spy, gst.inputs("()"), max_examples=15, seed=seed, properties=["ones_seed_matches_sum"],
                    settings=hsettings(database=database), database_key=database_key)
    return seen


def test_a_database_key_keeps_the_seed():
    """check() sets Hypothesis' internal seed attribute itself when keyed: pinned here."""
    assert _cases(5, b"key") == _cases(5, None)
    assert _cases(5, b"key") != _cases(6, b"key")


class Doubled(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return torch.ones_like(grad) * 2  # ignores the seed


def test_a_database_key_saves_failures_under_it_and_a_bare_seed_saves_none():
    database = InMemoryExampleDatabase()
    keys: list[set[bytes]] = []
    for key in (b"tests/test_x.py::test_doubled[seed_linearity]", b"tests/test_x.py::test_other", None):
        with pytest.raises(gradprops.PropertyFailure):
            gradprops.check(Doubled.apply, gst.inputs("()"), seed=0, max_examples=20, properties=["seed_linearity"],
                            settings=hsettings(database=database), database_key=key)
        keys.append(set(database.data))
    assert keys[0], "a keyed, seeded check saved nothing"
    assert keys[1] - keys[0], "another key saved under the same entry"
    assert keys[2] == keys[1], "a seeded check without a key wrote to the database"
