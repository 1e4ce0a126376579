"""The ``gradprops`` command: check the built-in catalogue of torch ops, fuzz random programs, or check
one function of yours.

``gradprops``                        every catalogue op × every property, then random-program fuzzing
``gradprops check mod:attr ...``     one function: ``--inputs "(m,n),(n,p)" --dtype float64``
``gradprops list ops|properties``    what ``--ops`` and ``--properties`` take

Every argument is checked before anything runs. Exit status: 0 every check passed, 1 a property
failed (expected failures — known torch bugs, listed with their reason — do not count), 2 a usage
error (bad argument, module not importable, output not writable), 3 an internal error of gradprops
(a bug: please report it), 130/143 interrupted by SIGINT/SIGTERM (after a summary of what finished).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from gradprops import dtype_names

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_STOP_SECONDS = 5.0  # how long the pytest-xdist processes get to exit on SIGTERM before SIGKILL

_EPILOG = """\
exit status:
  0    every check passed (expected failures, known torch bugs, do not count)
  1    a property failed
  2    usage error: bad argument, module not importable, output not writable
  3    internal error of gradprops (a bug: please report it)
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: a summary of what finished is printed,
       and --json is written with status "interrupted"
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (see the module docstring).

    >>> main(["list", "properties"])  # doctest: +ELLIPSIS
    purity ...
    0
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        from gradprops.errors import UsageError

        if args.command == "list":
            return _list(args)
        run = _prepare(args)
    except UsageError as exc:
        print(f"gradprops: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while importing torch: nothing ran yet
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return _reader_gone()
    except Exception:  # anything else is gradprops' own bug
        return _internal_error()
    try:
        return run.execute()
    except BrokenPipeError:
        return _reader_gone()
    except Exception:
        return _internal_error()


def _reader_gone() -> int:
    """Whoever read our output left (``gradprops list ops | head``): stop quietly, as SIGPIPE would."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
    return 128 + signal.SIGPIPE


def _internal_error() -> int:
    traceback.print_exc()
    print("gradprops: internal error (exit status 3): this is a bug in gradprops, please report it "
          "with the traceback above", file=sys.stderr)
    return EXIT_INTERNAL


# --- arguments -------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _real_dtype(text: str) -> str:
    try:
        return dtype_names.canonical(text, dtype_names.REAL)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_shared(parser: argparse.ArgumentParser, default: Any) -> None:
    """Options of both the catalogue run and ``check``. The top-level parser holds the defaults
    (None: "not given"); ``check`` suppresses its own, so ``gradprops --seed 5 check ...`` and
    ``gradprops check ... --seed 5`` mean the same."""
    parser.add_argument("--max-examples", type=_positive_int, default=default, metavar="N",
                        help="examples per op / function (catalogue ops 25, fuzz 200, check 100)")
    parser.add_argument("--seed", type=int, default=default, help="Hypothesis seed (default 0: reproducible)")
    parser.add_argument("--properties", default=default, metavar="A,B",
                        help="comma-separated property names, or all but some: "
                             "--properties=-second_order,-low_precision (default: all; see 'gradprops list"
                             " properties')")
    parser.add_argument("--dtype", type=_real_dtype, default=default, metavar="DTYPE",
                        help=f"dtype of the drawn inputs: {', '.join(dtype_names.REAL)} (default float64)")
    parser.add_argument("--json", dest="json_file", default=default, metavar="FILE",
                        help="write machine-readable results to FILE ('-': stdout, the report then goes to stderr)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradprops", description=__doc__.split("\n\n")[0],
                                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_shared(parser, None)
    parser.add_argument("--ops", default=None, metavar="A,B",
                        help="comma-separated catalogue entries, no fuzzing (default: all, then fuzzing; "
                        "see 'gradprops list ops')")
    parser.add_argument("--no-fuzz", action="store_true", default=None, help="skip random-program fuzzing")
    parser.add_argument("--fuzz-only", action="store_true", default=None,
                        help="only the random-program fuzz jobs, no catalogue op")
    parser.add_argument("-n", "--jobs", type=_positive_int, default=None, metavar="N",
                        help="run the catalogue on N pytest-xdist workers (default 1: in this process)")
    sub = parser.add_subparsers(dest="command", metavar="{check,list}")
    check = sub.add_parser("check", help="check one function: package.module:attr", epilog=_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("target", help="package.module:attr (a function, Function.apply or nn.Module)")
    check.add_argument("--inputs", default="()", help='gufunc signature of the inputs, e.g. "(m,n),(n,p)"')
    _add_shared(check, argparse.SUPPRESS)
    listing = sub.add_parser("list", help="list the catalogue's ops or the properties")
    listing.add_argument("what", choices=("ops", "properties"))
    return parser


_PLURAL = {"op": "ops", "property": "properties"}


def _names(text: str, known: Sequence[str], option: str, noun: str) -> list[str]:
    """Comma-separated names, each one of ``known``; an unknown one is a usage error naming close ones.

    >>> _names("sin, cos", ["sin", "cos", "tan"], "--ops", "op")
    ['sin', 'cos']
    """
    from gradprops.errors import UsageError

    listing = f"gradprops list {_PLURAL[noun]}"
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{option} is empty: name at least one {noun} ('{listing}' lists them)")
    for name in names:
        if name not in known:
            close = [k for k in known if name in k] + difflib.get_close_matches(name, known, n=8, cutoff=0.6)
            hint = f"did you mean {', '.join(list(dict.fromkeys(close))[:8])}? " if close else ""
            raise UsageError(f"{option}: unknown {noun} {name!r}: {hint}'{listing}' lists all {len(known)}")
    return list(dict.fromkeys(names))


def _list(args: argparse.Namespace) -> int:
    from gradprops.errors import UsageError

    given = [opt for opt, value in _shared_given(args).items() if value is not None]
    if given:
        raise UsageError(f"'gradprops list' takes no options, got {', '.join(given)}")
    if args.what == "properties":
        from gradprops.properties.registry import OPT_IN, PROPERTIES

        for p in PROPERTIES:
            print(f"{p.name:<24} {p.summary}")
        for p in OPT_IN:
            print(f"{p.name:<24} (opt-in: name it in --properties) {p.summary}")
    else:
        from gradprops.app.catalogue import ENTRIES

        for e in ENTRIES.values():
            print(f"{e.name:<24} {e.kind:<10} {e.signature}")
    return EXIT_PASSED


def _shared_given(args: argparse.Namespace) -> dict[str, Any]:
    return {"--max-examples": args.max_examples, "--seed": args.seed, "--properties": args.properties,
            "--dtype": args.dtype, "--json": args.json_file, "--ops": args.ops, "--no-fuzz": args.no_fuzz,
            "--fuzz-only": args.fuzz_only, "-n/--jobs": args.jobs}


def _json_sink(path: str | None) -> str | None:
    """Check that ``--json`` can be written before anything runs."""
    from gradprops.errors import UsageError

    if path is None or path == "-":
        return path
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--json {path}: is a directory; name a file")
    parent = p.parent
    if not parent.is_dir():
        raise UsageError(f"--json {path}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"--json {path}: not writable")
    return path


def _load(spec: str) -> Any:
    """``package.module:attr`` imported from the current directory or sys.path."""
    from gradprops.errors import UsageError

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise UsageError(f"target must look like package.module:attr, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {module!r} ({exc}): run from the directory that holds it, "
                           "or install it") from None
    except Exception as exc:  # the user's module raised while importing
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise UsageError(f"importing {module!r} raised {type(exc).__name__}: {exc} "
                           f"({where.filename}:{where.lineno})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{spec!r}: {obj!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{spec!r} is a {type(obj).__name__}, not a function, Function.apply or nn.Module")
    return obj


def _prepare(args: argparse.Namespace) -> _Run:
    """Every argument checked and resolved; nothing has run yet."""
    from hypothesis.errors import InvalidArgument

    from gradprops import strategies as gst
    from gradprops.app.catalogue import ENTRIES
    from gradprops.app.runner import JOBS, Job
    from gradprops.errors import UsageError
    from gradprops.properties.registry import NAMES

    json_file = _json_sink(args.json_file)
    properties = None
    if args.properties is not None:  # names, or '-name' exclusions: each checked without its '-'
        given = [n.strip() for n in args.properties.split(",") if n.strip()]
        _names(",".join(n.lstrip("-") for n in given), list(NAMES), "--properties", "property")
        properties = given
    dtype = args.dtype or "float64"
    settings: dict[str, Any] = {"seed": 0 if args.seed is None else args.seed, "max_examples": args.max_examples,
                                "dtype": dtype, "properties": properties}
    if args.command == "check":
        misplaced = [o for o in ("--ops", "--no-fuzz", "--fuzz-only", "-n/--jobs")
                     if _shared_given(args)[o] is not None]
        if misplaced:
            raise UsageError(f"{', '.join(misplaced)} apply to the catalogue run, not to 'gradprops check'")
        fn = _load(args.target)
        try:
            import torch

            inputs = gst.inputs(args.inputs, dtype=getattr(torch, dtype))
        except (InvalidArgument, UsageError) as exc:
            raise UsageError(f"--inputs: {exc}") from None
        job = Job(args.target, "function", lambda _dtype: (fn, inputs), None)
        settings.update(target=args.target, inputs=args.inputs)
        return _Run("check", [job], settings, workers=1, json_file=json_file)
    if args.fuzz_only:
        clash = [o for o in ("--ops", "--no-fuzz") if _shared_given(args)[o] is not None]
        if clash:
            raise UsageError(f"--fuzz-only runs the fuzz jobs alone: leave out {' and '.join(clash)}")
        jobs = [j for j in JOBS.values() if j.kind == "fuzz"]
    elif args.ops is None:
        jobs = [j for j in JOBS.values() if not (args.no_fuzz and j.kind == "fuzz")]
    else:
        jobs = [JOBS[n] for n in _names(args.ops, list(ENTRIES), "--ops", "op")]
    settings.update(ops=[j.name for j in jobs])
    return _Run("catalogue", jobs, settings, workers=args.jobs or 1, json_file=json_file)


# --- running ---------------------------------------------------------------------------------------


class _Interrupted(KeyboardInterrupt):
    """The first SIGINT or SIGTERM of a run (see :func:`_signals_interrupt`)."""


@contextmanager
def _signals_interrupt(received: list[int]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM are appended to ``received``; the first also raises
    :class:`_Interrupted` to stop the run. Later ones only count, so that stopping the pytest-xdist
    processes and printing the summary are not cut short. (Handlers are the main thread's.)"""
    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise _Interrupted(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class _ChildFailed(Exception):
    """The pytest-xdist run ended before every job reported (an internal error)."""


@dataclass
class _Run:
    command: str  # "catalogue" or "check"
    jobs: list[Any]  # gradprops.app.runner.Job
    settings: dict[str, Any]
    workers: int
    json_file: str | None
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def out(self) -> TextIO:
        """Where the report goes: stderr when the JSON goes to stdout."""
        return sys.stderr if self.json_file == "-" else sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def execute(self) -> int:
        from gradprops.errors import UsageError

        s = self.settings
        examples = "default examples" if s["max_examples"] is None else f"{s['max_examples']} examples"
        what = (f"check {s['target']} on inputs {s['inputs']}" if self.command == "check"
                else f"{_count_jobs(self.jobs)} × properties")
        self.say(f"gradprops: {what}, dtype {s['dtype']}, {examples} each, seed {s['seed']}, "
                 f"{self.workers} worker(s)")
        started = time.perf_counter()
        received: list[int] = []
        with _signals_interrupt(received):
            try:
                if self.workers > 1:
                    self._run_xdist()
                else:
                    self._run_here()
            except BaseException as exc:
                # A signal raises wherever the run is; library code it lands in (Hypothesis' own
                # try/finally) may turn it into another exception: any exception after one is it.
                if not received:
                    if isinstance(exc, _ChildFailed):
                        print(exc, file=sys.stderr)
                        return EXIT_INTERNAL
                    if isinstance(exc, UsageError) and self.command == "check":  # the user's function
                        print(f"gradprops: error: {s['target']}: {exc}", file=sys.stderr)
                        return EXIT_USAGE
                    raise  # the catalogue is gradprops' own: an internal error
            signum = received[0] if received else None
            wall = time.perf_counter() - started
            failed = self._summary(wall, signum)
            self._write_json("interrupted" if signum else ("failed" if failed else "passed"), wall)
        if signum:
            return 128 + signum
        return EXIT_FAILED if failed else EXIT_PASSED

    def command_line(self, result: dict[str, Any]) -> str:
        """The ``gradprops`` command that runs ``result``'s job again as this run did (same draws):
        the replay line of a failure's text needs ``fn`` and ``inputs`` defined, this one nothing.

        >>> run = _Run("catalogue", [], {"seed": 3, "max_examples": None, "dtype": "float32",
        ...                              "properties": ["-vmap"]}, workers=1, json_file=None)
        >>> run.command_line({"name": "sin", "kind": "unary"})
        'gradprops --ops sin --dtype float32 --seed 3 --properties=-vmap'
        """
        s = self.settings
        if self.command == "check":
            words = ["gradprops", "check", s["target"], "--inputs", s["inputs"]]
        else:
            words = ["gradprops"] + (["--fuzz-only"] if result["kind"] == "fuzz" else ["--ops", result["name"]])
        words += ["--dtype", s["dtype"], "--seed", str(s["seed"])]
        if s["max_examples"] is not None:
            words += ["--max-examples", str(s["max_examples"])]
        if s["properties"] is not None:
            words.append(f"--properties={','.join(s['properties'])}")
        return " ".join(shlex.quote(w) for w in words)

    def _options(self) -> dict[str, Any]:
        s = self.settings
        return {"dtype": s["dtype"], "max_examples": s["max_examples"], "seed": s["seed"],
                "properties": s["properties"]}

    def _run_here(self) -> None:
        import gc

        from gradprops.app.runner import run_job

        if self.command == "catalogue":
            gc.freeze()  # as in catalogue_suite: full collections skip what the imports made
        for job in self.jobs:
            self._add(run_job(job, **self._options()))

    def _add(self, result: dict[str, Any]) -> None:
        self.results.append(result)
        rows = result["rows"]
        if self.command == "check":
            for name, row in rows.items():
                ran = (f"{row['examples']:>5} examples {row['seconds']:7.2f}s" if row["status"] != "stopped" else
                       "(the check stopped at the failure above: no tally)")
                self.say(f"  {name:<24} {row['status']:<16} {ran}")
                for reason, n in row.get("skipped", {}).items():
                    self.say(f"      skipped {n}×: {reason}")
            return
        statuses = [row["status"] for row in rows.values()]
        verdict = "FAILED" if result["failure"] else "ok"
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
        self.say(f"  {verdict:<6} {result['name']:<24} {result['seconds']:6.2f}s  {counts}")

    def _run_xdist(self) -> None:
        """The jobs under ``pytest -n workers`` in a process group of their own; workers append JSON
        lines that we tail for progress. Leaving (done, interrupted or failed), the group is stopped."""
        suite = Path(__file__).with_name("catalogue_suite.py")
        with tempfile.TemporaryDirectory(prefix="gradprops-") as tmp:
            results, log = Path(tmp) / "results.jsonl", Path(tmp) / "pytest.log"
            results.touch()
            # The child is ours, not a test run of the user's: no plugins but xdist, no ini file, no
            # conftest.py (a project's Hypothesis profile would change the draws), no PYTEST_ADDOPTS.
            env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
            env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", GRADPROPS_RUN=json.dumps(
                {"jobs": [j.name for j in self.jobs], "results": str(results), **self._options()}))
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-p", "no:cacheprovider",
                   "-c", os.devnull, "--rootdir", tmp, "--noconftest", "-n", str(self.workers), str(suite)]
            with log.open("wb") as log_fh, results.open() as fh:
                # The log is a file, not a pipe: a pipe nobody reads blocks the child at 64 KiB.
                proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log_fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    self._tail(fh, proc)
                finally:
                    _stop_group(proc)
                    self._tail(fh, None)  # what finished before the stop
                    order = {j.name: i for i, j in enumerate(self.jobs)}
                    self.results.sort(key=lambda r: order[r["name"]])
            if len(self.results) < len(self.jobs):
                tail = log.read_text(errors="replace")[-20_000:]
                raise _ChildFailed(f"{tail}\ngradprops: internal error (exit status 3): the pytest-xdist run "
                                   f"(exit status {proc.returncode}) ended after {len(self.results)} of "
                                   f"{len(self.jobs)} jobs; its output is above")

    def _tail(self, fh: TextIO, proc: subprocess.Popen[bytes] | None) -> None:
        """Read complete result lines until ``proc`` ends (or, with None, those written so far)."""
        pending = ""
        while True:
            pending += fh.readline()
            if pending.endswith("\n"):
                self._add(json.loads(pending))
                pending = ""
            elif proc is None or proc.poll() is not None:
                if proc is None:
                    return
                proc = None  # one last pass for what it wrote before it ended
            else:
                time.sleep(0.1)

    def _summary(self, wall: float, signum: int | None) -> bool:
        """Print the table, the failures and the expected failures; True when something failed."""
        if self.command == "catalogue" and self.results:
            self.say(_table(self.results))
        failures = [r for r in self.results if r["failure"]]
        for r in failures:
            f = r["failure"]
            self.say(f"\n=== FAILED {r['name']}: property {f['property']} ===\n{f['text']}")
            if f["source"]:
                self.say(f"runnable source of the shrunk function:\n{f['source']}")
            f["command"] = self.command_line(r)
            self.say(f"or run this command again:\n  {f['command']}")
        expected = [(r["name"], p, row["status"], row["reason"]) for r in self.results
                    for p, row in r["rows"].items() if "reason" in row]
        if expected:
            self.say("\nexpected failures (known issues, not counted):")
            for name, prop, status, reason in expected:
                self.say(f"  {name} / {prop}: {status}: {reason}")
        if signum:
            self.say(f"\ninterrupted by {signal.Signals(signum).name}: {len(self.results)} of {len(self.jobs)} "
                     "jobs finished (above)")
        unshown = sum(status == "unexpected pass" for *_, status, _ in expected)
        # a known failure that did not show in this run's examples is counted as what it is, not as one that failed
        known = f"{len(expected)} expected failures" + (f" ({unshown} of them did not show: XPASS)" if unshown else "")
        self.say(f"\n{len(self.results)} checks, {len(failures)} failed, {known}, "
                 f"dtype {self.settings['dtype']}, seed {self.settings['seed']}, {wall:.1f}s wall")
        return bool(failures)

    def _write_json(self, status: str, wall: float) -> None:
        if self.json_file is None:
            return
        import hypothesis
        import torch

        import gradprops

        data = {
            "status": status,
            "command": self.command,
            "versions": {"gradprops": gradprops.__version__, "torch": torch.__version__,
                         "hypothesis": hypothesis.__version__, "python": platform.python_version()},
            "settings": self.settings,
            "seconds": wall,
            "results": self.results,
        }
        text = json.dumps(_strict(data), indent=2)
        if self.json_file == "-":
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            Path(self.json_file).write_text(text + "\n")


def _count_jobs(jobs: Sequence[Any]) -> str:
    fuzz = sum(j.kind == "fuzz" for j in jobs)
    return f"{len(jobs) - fuzz} catalogue ops" + (f" + {fuzz} fuzz jobs" if fuzz else "")


def _strict(value: Any) -> Any:
    """JSON has no inf or NaN: write them as the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End the pytest-xdist controller and its workers (its process group): SIGTERM, then SIGKILL."""
    def signal_group(signum: int) -> bool:
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return False  # the group is gone
        return True

    if not signal_group(signal.SIGTERM):
        proc.wait()
        return
    deadline = time.monotonic() + _STOP_SECONDS
    while time.monotonic() < deadline:
        proc.poll()
        if not signal_group(0):  # every member has exited (and been reaped)
            break
        time.sleep(0.05)
    signal_group(signal.SIGKILL)
    proc.wait()


_SHORT = {"passed": "ok", "failed": "FAIL", "skipped": "skip", "not run": "-", "stopped": "-",
          "expected failure": "xfail", "unexpected pass": "XPASS"}


def _table(results: list[dict[str, Any]]) -> str:
    props: list[str] = list(dict.fromkeys(p for r in results for p in r["rows"]))
    abbrev = [p[:8] for p in props]
    lines = [f"{'op':<36} " + " ".join(f"{a:>8}" for a in abbrev) + f" {'examples':>8} {'time':>7}"]
    for r in results:
        cells = [_SHORT.get(r["rows"].get(p, {}).get("status", ""), "") for p in props]
        examples = max((row.get("examples", 0) for row in r["rows"].values()), default=0)
        lines.append(f"{r['name'][:36]:<36} " + " ".join(f"{c:>8}" for c in cells)
                     + f" {examples:>8} {r['seconds']:>6.1f}s")
    return "\n".join(lines)
