"""The ``gradprops`` command: check the built-in catalogue of torch ops, fuzz random programs, or check
one function of yours.

``gradprops``                     every catalogue op × every property, then random-program fuzzing
``gradprops check mod:attr ...``  one function: ``--inputs "(m,n),(n,p)" --dtype float64``

Common options: ``--max-examples N``, ``--seed S``, ``--properties a,b``, ``--json FILE``,
``-n/--jobs N`` (catalogue runs through pytest-xdist on N workers). Exit status 1 on any failure
(expected failures — known torch bugs, listed with their reason — do not count).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Default budget: 162 ops × 25 examples × every property, then 2 × 200 random programs — under a
#: minute with -n 2 on a 2-core machine (see the README for the measured run).
CATALOGUE_EXAMPLES = 25
FUZZ_EXAMPLES = 200  # per program shape (1 input, 2 broadcasting inputs)
FUZZ_MAX_OPS = 6


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status.

    >>> main(["check", "math:pi"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check_user(args)
    return _catalogue(args)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--max-examples", type=int, default=None, help="examples per op / function")
    common.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0: reproducible)")
    common.add_argument("--properties", default=None, help="comma-separated property names")
    common.add_argument("--json", dest="json_file", default=None, help="write machine-readable results")
    common.add_argument("-n", "--jobs", type=int, default=1, help="parallel workers (pytest-xdist)")
    parser = argparse.ArgumentParser(prog="gradprops", parents=[common], description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default=None, help="comma-separated catalogue entries (default: all)")
    parser.add_argument("--no-fuzz", action="store_true", help="skip random-program fuzzing")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", parents=[common], help="check one function: package.module:attr")
    check.add_argument("target", help="package.module:attr (a function, Function.apply or nn.Module)")
    check.add_argument("--inputs", default="()", help='gufunc signature, e.g. "(m,n),(n,p)"')
    check.add_argument("--dtype", default="float64", help="torch dtype name (default float64)")
    return parser


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"gradprops: target must look like package.module:attr, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _check_user(args: argparse.Namespace) -> int:
    import torch

    import gradprops
    from gradprops import strategies as gst

    fn = _load(args.target)
    dtype = getattr(torch, args.dtype)
    inputs = gst.inputs(args.inputs, dtype=dtype)
    result: dict[str, Any] = {"function": args.target, "inputs": args.inputs, "dtype": args.dtype}
    try:
        report = gradprops.check(fn, inputs, properties=args.properties,
                                 max_examples=args.max_examples or 100, seed=args.seed)
    except gradprops.PropertyFailure as failure:
        print(f"FAILED {args.target}: property {failure.property}\n{failure}")
        result.update(status="failed", failures=[{"property": failure.property, "text": str(failure)}])
        code = 1
    else:
        print(report)
        result.update(status="passed", report=report.to_dict(), failures=[])
        code = 0
    _write_json(args.json_file, result)
    return code


def _catalogue(args: argparse.Namespace) -> int:
    from gradprops.catalogue import ENTRIES

    names = list(ENTRIES) if args.ops is None else [n.strip() for n in args.ops.split(",")]
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        raise SystemExit(f"gradprops: unknown ops {unknown}; see gradprops.catalogue.ENTRIES")
    examples = args.max_examples or CATALOGUE_EXAMPLES
    started = time.perf_counter()
    print(f"gradprops: {len(names)} catalogue ops × properties, {examples} examples each, seed {args.seed}, "
          f"{args.jobs} job(s)", flush=True)
    if args.jobs > 1:
        results = _run_xdist(names, examples, args)
    else:
        from gradprops._runner import run_entry

        gc.freeze()  # as in _catalogue_suite: full collections skip what the imports made

        results = []
        for name in names:
            r = run_entry(ENTRIES[name], max_examples=examples, seed=args.seed, properties=args.properties)
            _progress(r)
            results.append(r)
    if not args.no_fuzz and args.ops is None:
        results += _fuzz(args)
    wall = time.perf_counter() - started
    print(_table(results))
    failures = [r for r in results if r["failure"]]
    for r in failures:
        print(f"\n=== FAILED {r['name']} ===\n{r['failure']}")
        if r.get("source"):
            print(f"runnable repro of the shrunk function:\n{r['source']}")
    expected = [(r["name"], p, row["reason"]) for r in results for p, row in r["rows"].items()
                if row["status"] in ("expected failure", "unexpected pass")]
    if expected:
        print("\nexpected failures (known issues, not counted):")
        for name, prop, reason in expected:
            print(f"  {name} / {prop}: {reason}")
    print(f"\n{len(results)} checks, {len(failures)} failed, {len(expected)} expected failures, "
          f"{wall:.1f}s wall")
    _write_json(args.json_file, {"seed": args.seed, "examples": examples, "seconds": wall, "results": results,
                                 "failures": [{"name": r["name"], "text": r["failure"]} for r in failures]})
    return 1 if failures else 0


def _progress(r: dict[str, Any]) -> None:
    statuses = [row["status"] for row in r["rows"].values()]
    verdict = "FAILED" if r["failure"] else "ok"
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    print(f"  {verdict:<6} {r['name']:<24} {r['seconds']:6.2f}s  {counts}", flush=True)


def _run_xdist(names: list[str], examples: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the catalogue under ``pytest -n jobs``; workers append JSON lines that we tail for progress."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.jsonl"
        out.touch()
        env = {**os.environ, "GRADPROPS_RESULTS": str(out), "GRADPROPS_EXAMPLES": str(examples),
               "GRADPROPS_SEED": str(args.seed), "GRADPROPS_OPS": ",".join(names),
               "GRADPROPS_PROPERTIES": args.properties or ""}
        suite = Path(__file__).with_name("_catalogue_suite.py")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "-n", str(args.jobs), str(suite)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        results: list[dict[str, Any]] = []
        with out.open() as fh:
            while True:
                line = fh.readline()
                if line:
                    results.append(json.loads(line))
                    _progress(results[-1])
                elif proc.poll() is not None:
                    rest = fh.read().splitlines()
                    for extra in rest:
                        results.append(json.loads(extra))
                        _progress(results[-1])
                    break
                else:
                    time.sleep(0.2)
        if len(results) < len(names):
            sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
            raise SystemExit("gradprops: the pytest-xdist run ended before every op reported")
    order = {n: i for i, n in enumerate(names)}
    return sorted(results, key=lambda r: order[r["name"]])


def _fuzz(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Random programs of catalogue ops: one input, then two broadcasting inputs."""
    import gradprops
    from gradprops import strategies as gst
    from gradprops.strategies.functions import POOL

    results = []
    for n_inputs, signature in ((1, "()"), (2, "(),()")):
        drawn: list[Any] = []

        def record(f: Any, drawn: list[Any] = drawn) -> Any:
            drawn.append(f)
            return f

        name = f"fuzz: functions(n_inputs={n_inputs}) on {signature}"
        strategy = gst.functions(n_inputs=n_inputs, max_ops=FUZZ_MAX_OPS, ops=POOL).map(record)
        t0 = time.perf_counter()
        r: dict[str, Any] = {"name": name, "kind": "fuzz", "failure": None, "report": None, "rows": {}}
        try:
            report = gradprops.check(strategy, gst.inputs(signature), properties=args.properties,
                                     max_examples=args.max_examples or FUZZ_EXAMPLES, seed=args.seed)
        except gradprops.PropertyFailure as failure:
            r["failure"] = str(failure)
            r["source"] = repr(drawn[-1]) if drawn else None  # the last draw is the shrunk replay
            r["rows"] = {failure.property: {"status": "failed", "examples": 0, "seconds": 0.0}}
        else:
            r["report"] = report.to_dict()
            r["rows"] = {n: {"status": p.status, "examples": p.examples, "seconds": p.seconds}
                         for n, p in report.properties.items()}
        r["seconds"] = time.perf_counter() - t0
        _progress(r)
        results.append(r)
    return results


_SHORT = {"passed": "ok", "failed": "FAIL", "skipped": "skip", "not run": "-", "expected failure": "xfail",
          "unexpected pass": "XPASS"}


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


def _write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str))
