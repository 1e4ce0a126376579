"""False alarms measured: the main job's checks (correct torch ops, random programs of them) over many
seeds and dtypes.

Every job of the ``gradprops`` command — each catalogue op, then the two random-program fuzz jobs —
is checked exactly as the command checks it (:func:`gradprops.app.runner.run_job`'s strategies,
every property but the job's known torch findings, the same ``max_examples`` and ``seed``), once per
seed and dtype. The ops are correct, so every failure is a false alarm of gradprops (or a torch bug
not yet listed in ``Entry.known``). Prints the hardware and versions, a table per dtype (examples
run, failures, failures per 10,000 examples), then each failure with the first lines of its message
and the command that replays it.

    python benchmarks/false_alarms.py                    # float64 seeds 0-19: catalogue (25 examples), fuzz (200)
    python benchmarks/false_alarms.py --seeds 0-4 --dtypes float32 --jobs 2
    python benchmarks/false_alarms.py --seeds 0-99 --fuzz-only --jobs 2
    python benchmarks/false_alarms.py --seeds 12,17,20-40 --ops softmax,layer_norm_affine --json out.json

How long, per seed (catalogue; the fuzz jobs add ~5 s) with ``--jobs 2`` on a 2-core AMD EPYC shared with other jobs
(load average 8-12): float64 ~2-2.5 min, float32 ~4 min, bfloat16 ~5 min, float16 ~7 min (failing
checks shrink, which is slow). So ``--seeds 0-19`` in float64 takes ~45 min there; on an idle machine
expect a third of that.

Counting. ``examples`` are examples drawn and run (every selected property runs on each; a property
may skip one, e.g. no forward-mode AD). A check stops at its first failure and shrinks it, so a
failing check counts once, with its full ``--examples`` budget as examples. Known torch findings
(``Entry.known``) are not run: they are counted apart as ``known``. An op that raises in a dtype
other than float64 (torch has no such kernel, e.g. ``inv`` in float16) cannot run there: counted
apart as ``cannot run``, not as a failure. ``errors`` are exceptions other than a PropertyFailure
(a crash inside gradprops): always a defect, listed with the failures.
"""

from __future__ import annotations

import argparse
import ast
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hypothesis
import torch

import gradprops
from gradprops import dtype_names
from gradprops.app.catalogue import ENTRIES
from gradprops.app.runner import CATALOGUE_EXAMPLES, FUZZ_JOBS, JOBS, Job
from gradprops.errors import PropertyFailure
from gradprops.properties.registry import select

RAISED = "the function under test raised"  # how a PropertyFailure starts when the op itself raised


def parse_seeds(text: str) -> list[int]:
    """``"12,17,20-22"`` -> ``[12, 17, 20, 21, 22]`` (ranges inclusive).

    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    """
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise SystemExit(f"false_alarms: --seeds takes e.g. 0-19 or 12,17,20-40, got {text!r}")
        seeds += range(int(low), int(high or low) + 1)
    return list(dict.fromkeys(seeds))


def parse_names(text: str, allowed: Iterable[str], what: str) -> list[str]:
    """Comma-separated names, each one of ``allowed``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in set(allowed)]
    if unknown or not names:
        raise SystemExit(f"false_alarms: unknown {what} {unknown or text!r}; choose from {sorted(allowed)}")
    return names


def run_one(job: Job, dtype: str, seed: int, examples: int,
            properties: Sequence[str] | None = None) -> dict[str, Any]:
    """Check one job (a catalogue op or a fuzz job) in one dtype at one seed; a plain, JSON-ready result.

    ``outcome`` is ``passed``, ``failed``, ``cannot run`` or ``error``; ``examples`` examples drawn
    (the budget when the check failed); ``property_examples`` {property: examples it ran on};
    ``known`` the properties left out as known torch findings.

    >>> r = run_one(JOBS["sin"], "float64", 0, 2)
    >>> r["outcome"], r["examples"]
    ('passed', 2)
    """
    names = [p.name for p in select(properties)]
    known = job.known(dtype)
    normal = [n for n in names if n not in known]
    result: dict[str, Any] = {
        "op": job.name, "kind": job.kind, "dtype": dtype, "seed": seed, "outcome": "passed", "examples": 0,
        "property_examples": {}, "known": [n for n in names if n in known], "seconds": 0.0,
    }
    if not normal:
        return result
    started = time.perf_counter()
    fn, inputs = job.strategies(getattr(torch, dtype))
    try:
        # every property but the known findings, as the gradprops command runs them: none asked for by name
        report = gradprops.check(fn, inputs, properties=normal, max_examples=examples, seed=seed, _requested=())
    except PropertyFailure as failure:
        raised = failure.detail.startswith(RAISED)
        # a catalogue op torch has no kernel for in this dtype; a drawn program that raises is a finding
        result["outcome"] = "cannot run" if raised and dtype != "float64" and job.kind != "fuzz" else "failed"
        result["examples"] = examples
        result["property"] = failure.property
        named = re.search(r"properties=(\[[^\]]*\])", failure.replay)  # what check() says replays it
        result["replay_properties"] = ast.literal_eval(named.group(1)) if named else normal
        result["message"] = str(failure)
        result["mismatches"] = [_mismatch(m) for m in failure.mismatches]
    except Exception as exc:  # a crash inside gradprops, not a verdict on the op
        result.update(outcome="error", examples=examples, property=None,
                      message="".join(traceback.format_exception(exc)), mismatches=[])
    else:
        result["examples"] = report.examples
        result["property_examples"] = {n: p.examples for n, p in report.properties.items()}
    result["seconds"] = time.perf_counter() - started
    return result


def _mismatch(m: Any) -> dict[str, Any]:
    """The numbers of one failed comparison (whatever of them the Mismatch has)."""
    fields = ("name", "max_abs_diff", "max_rel_diff", "allowed_at_worst", "magnitude", "mismatched", "numel")
    out = {f: getattr(m, f) for f in fields if hasattr(m, f)}
    if hasattr(m, "tolerance"):
        out["tolerance"] = str(m.tolerance)
    return out


Task = tuple[str, str, int, int, Sequence[str] | None]


def _in_processes(tasks: Sequence[Task], jobs: int) -> Iterable[dict[str, Any]]:
    """Each check in a forked process of its own, ``jobs`` at a time, one torch thread each.

    A process that dies without a result (killed for its memory) is reported as that check's
    ``error``, and the run goes on; a pool would wait forever for the result it lost.
    """
    context = multiprocessing.get_context("fork")
    pending = list(tasks)
    running: dict[Any, tuple[Any, Task]] = {}
    while pending or running:
        while pending and len(running) < jobs:
            task = pending.pop(0)
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(task, send), daemon=True)
            process.start()
            send.close()
            running[receive] = (process, task)
        for receive in multiprocessing.connection.wait(list(running)):
            process, task = running.pop(receive)
            try:
                result = receive.recv()
            except EOFError:  # the process died before it sent anything
                process.join()
                name, dtype, seed, examples, _ = task
                result = {"op": name, "kind": JOBS[name].kind, "dtype": dtype, "seed": seed, "outcome": "error",
                          "examples": examples,
                          "property": None, "mismatches": [], "seconds": 0.0, "property_examples": {}, "known": [],
                          "message": f"the process checking it died (exit code {process.exitcode}: "
                                     f"{'killed, e.g. out of memory' if (process.exitcode or 0) < 0 else 'crashed'})"}
            receive.close()
            process.join()
            yield result


def _child(task: Task, send: Any) -> None:
    torch.set_num_threads(1)  # one core per process: --jobs processes share the machine's cores
    name, dtype, seed, examples, properties = task
    send.send(run_one(JOBS[name], dtype, seed, examples, properties))
    send.close()


def run(checked: Mapping[str, Job], dtypes: Sequence[str], seeds: Sequence[int], examples: int | None = None,
        properties: Sequence[str] | None = None, jobs: int = 1, progress: bool = False) -> list[dict[str, Any]]:
    """Every job × dtype × seed (``examples`` None: each job's own budget); with ``jobs > 1`` in worker
    processes (the jobs must then be the command's own, :data:`JOBS`).

    >>> [r["outcome"] for r in run({"neg": JOBS["neg"]}, ["float64"], [0, 1], 2)]
    ['passed', 'passed']
    """
    tasks = [(name, dtype, seed, examples or checked[name].examples or CATALOGUE_EXAMPLES, properties)
             for dtype in dtypes for seed in seeds for name in checked]
    results: list[dict[str, Any]] = []
    started = time.perf_counter()

    def note(r: dict[str, Any]) -> None:
        results.append(r)
        if progress and (r["outcome"] != "passed" or len(results) % 50 == 0 or len(results) == len(tasks)):
            flag = "" if r["outcome"] == "passed" else f"  {r['outcome'].upper()} {r['op']} {r.get('property')}"
            print(f"  [{len(results)}/{len(tasks)} {time.perf_counter() - started:7.1f}s] "
                  f"{r['dtype']} seed {r['seed']}{flag}", flush=True)

    if jobs > 1:
        unknown = [n for n in checked if JOBS.get(n) is not checked[n]]
        if unknown:
            raise SystemExit(f"false_alarms: --jobs > 1 runs the gradprops command's jobs only, not {unknown}")
        for r in _in_processes(tasks, jobs):
            note(r)
    else:
        for name, dtype, seed, n, props in tasks:
            note(run_one(checked[name], dtype, seed, n, props))
    order = {t[:3]: i for i, t in enumerate(tasks)}
    return sorted(results, key=lambda r: order[(r["op"], r["dtype"], r["seed"])])


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per dtype: checks, examples, failures (and per 10,000 examples), cannot-run ops, errors, known.

    >>> summarize([{"dtype": "float64", "op": "sin", "outcome": "failed", "examples": 25, "known": []},
    ...            {"dtype": "float64", "op": "cos", "outcome": "passed", "examples": 25, "known": []}])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'float64': {'checks': 2, 'examples': 50, 'failures': 1, 'per_10000': 200.0, 'errors': 0,
                 'cannot_run_ops': [], 'cannot_run_checks': 0, 'known_skipped': 0}}
    """
    table: dict[str, dict[str, Any]] = {}
    for dtype in dict.fromkeys(r["dtype"] for r in results):
        rows = [r for r in results if r["dtype"] == dtype]
        ran = [r for r in rows if r["outcome"] != "cannot run"]
        examples = sum(r["examples"] for r in ran)
        failures = sum(r["outcome"] == "failed" for r in ran)
        table[dtype] = {
            "checks": len(ran),
            "examples": examples,
            "failures": failures,
            "per_10000": 1e4 * failures / examples if examples else 0.0,
            "errors": sum(r["outcome"] == "error" for r in ran),
            "cannot_run_ops": sorted({r["op"] for r in rows if r["outcome"] == "cannot run"}),
            "cannot_run_checks": len(rows) - len(ran),
            "known_skipped": sum(len(r["known"]) for r in rows),
        }
    return table


def _numbers(m: dict[str, Any]) -> str:
    """One failed comparison's numbers on one line."""
    shown = {"max_abs_diff": "difference", "allowed_at_worst": "allowed", "magnitude": "magnitude",
             "max_rel_diff": "relative"}
    parts = [f"{label} {m[k]:.3g}" for k, label in shown.items() if isinstance(m.get(k), float)]
    return f"{m.get('name', '?')}: " + ", ".join(parts) + f"; tolerance {m.get('tolerance', '?')}"


def replay_command(r: dict[str, Any]) -> str:
    """The command that re-runs one check, and the Python call that shows its shrunk failure."""
    properties = r.get("replay_properties") or [r["property"]]
    which = "--fuzz-only" if r.get("kind") == "fuzz" else f"--ops {r['op']}"
    return (f"python benchmarks/false_alarms.py {which} --dtypes {r['dtype']} --seeds {r['seed']} "
            f"--examples {r['examples']}\n      fn, inputs = JOBS[{r['op']!r}].strategies(torch.{r['dtype']}); "
            f"gradprops.check(fn, inputs, seed={r['seed']}, max_examples={r['examples']}, "
            f"properties={properties!r})")


def render(results: Sequence[dict[str, Any]], lines: int = 3) -> str:
    """The table per dtype, then every failure, error and op that cannot run in a dtype."""
    table = summarize(results)
    out = [f"{'dtype':<9} {'checks':>7} {'examples':>9} {'failures':>8} {'per 10k':>8} {'failed %':>8} "
           f"{'errors':>6} {'cannot run':>10} {'known':>6}"]
    for dtype, t in table.items():
        share = 100 * t["failures"] / t["checks"] if t["checks"] else 0.0
        out.append(f"{dtype:<9} {t['checks']:>7} {t['examples']:>9} {t['failures']:>8} {t['per_10000']:>8.2f} "
                   f"{share:>7.1f}% {t['errors']:>6} {len(t['cannot_run_ops']):>10} {t['known_skipped']:>6}")
    out.append("(per 10k = failures per 10,000 examples, a lower bound: a check stops at its first failure; "
               "failed % = share of checks (op × seed) that failed; cannot run = ops that raise in that dtype, "
               "not counted; known = (op, property) pairs left out as known torch findings, over all checks)")
    bad = [r for r in results if r["outcome"] in ("failed", "error")]
    out.append(f"\n{len(bad)} failure(s) and error(s):" if bad else "\nno failures")
    for r in bad:
        out.append(f"\n--- {r['outcome'].upper()}: {r['op']} / {r['property']} / {r['dtype']} / seed {r['seed']}")
        out += ["    " + line for line in r["message"].splitlines()[:lines]]
        out += [f"    {_numbers(m)}" for m in r["mismatches"]]
        out.append("    replay: " + replay_command(r))
    for dtype, t in table.items():
        if t["cannot_run_ops"]:
            out.append(f"\ncannot run in {dtype} ({len(t['cannot_run_ops'])} ops):")
            for op in t["cannot_run_ops"]:
                first = next(r for r in results if r["op"] == op and r["dtype"] == dtype
                             and r["outcome"] == "cannot run")
                out.append(f"  {op}: {first['message'].splitlines()[0][len('gradprops: '):][:160]}")
    return "\n".join(out)


def environment() -> dict[str, Any]:
    """CPU model, cores, and the versions that the figures depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    package = Path(gradprops.__file__).parent
    try:  # the commit that last changed the package (not the benchmark), and whether it is edited since
        commit, dirty = (subprocess.run(["git", *cmd, "--", "."], capture_output=True, text=True, cwd=package,
                                        check=True).stdout.strip()
                         for cmd in (["log", "-1", "--format=%h"], ["status", "--porcelain"]))
        commit += " + uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "hypothesis": hypothesis.__version__, "gradprops_commit": commit}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when anything failed or crashed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 12,17,20-40 (default 0-19)")
    parser.add_argument("--dtypes", default="float64", help=f"comma-separated, of {', '.join(dtype_names.REAL)}")
    parser.add_argument("--examples", type=int, default=None, help="max_examples per check (default: as the "
                        f"gradprops command, {CATALOGUE_EXAMPLES} per catalogue op, {FUZZ_JOBS[0].examples} "
                        "per fuzz job)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--ops", default=None, help="comma-separated catalogue entries, no fuzz jobs "
                       "(default: every entry, then the fuzz jobs)")
    which.add_argument("--no-fuzz", action="store_true", help="every catalogue entry, no fuzz jobs")
    which.add_argument("--fuzz-only", action="store_true", help="the fuzz jobs only")
    parser.add_argument("--properties", default=None, help="comma-separated property names (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--lines", type=int, default=3, help="lines of each failure's message to print")
    parser.add_argument("--json", dest="json_file", default=None, help="write every result to this file")
    args = parser.parse_args(argv)
    if (args.examples is not None and args.examples < 1) or args.jobs < 1:
        raise SystemExit("false_alarms: --examples and --jobs must be positive")
    seeds = parse_seeds(args.seeds)
    try:
        dtypes = dtype_names.parse(args.dtypes, dtype_names.REAL)
    except ValueError as e:
        raise SystemExit(f"false_alarms: --dtypes: {e}") from None
    if args.ops is not None:
        names = parse_names(args.ops, ENTRIES, "ops")
    else:
        names = [j.name for j in FUZZ_JOBS] if args.fuzz_only else list(ENTRIES)
        names += [] if args.no_fuzz or args.fuzz_only else [j.name for j in FUZZ_JOBS]
    properties = None if args.properties is None else [p.strip() for p in args.properties.split(",")]
    select(properties)  # a UsageError now, not in every worker
    env = environment()
    fuzz = sum(JOBS[n].kind == "fuzz" for n in names)
    budget = f"{args.examples} examples each" if args.examples else "the command's examples each"
    print(f"false_alarms: {len(names) - fuzz} catalogue ops + {fuzz} fuzz jobs × {len(dtypes)} dtypes "
          f"({','.join(dtypes)}) × {len(seeds)} seeds ({args.seeds}), {budget}, {args.jobs} job(s)")
    print(f"  {env['cpu']}, {env['cores']} cores; Python {env['python']}, torch {env['torch']}, "
          f"Hypothesis {env['hypothesis']}, gradprops/ as of commit {env['gradprops_commit']}", flush=True)
    started = time.perf_counter()
    results = run({n: JOBS[n] for n in names}, dtypes, seeds, args.examples, properties, args.jobs, progress=True)
    wall = time.perf_counter() - started
    print()
    print(render(results, args.lines))
    print(f"\n{len(results)} checks in {wall:.0f}s wall ({sum(r['seconds'] for r in results):.0f}s of checks)")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(
            {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
             "environment": env, "examples": args.examples, "seeds": seeds, "dtypes": dtypes,
             "seconds": wall, "summary": summarize(results), "results": results}, indent=1, default=str))
    return 1 if any(r["outcome"] in ("failed", "error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
