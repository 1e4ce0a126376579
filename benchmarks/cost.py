"""What a gradprops check costs, measured against raw forward+backward and gradcheck in one run.

    python benchmarks/cost.py            # all four tables (a few minutes on 2 cores)
    python benchmarks/cost.py --quick    # smaller repeats, for a smoke run

Tables:
  0. passes per example, counted: forwards, backwards and forward-mode passes each property runs
     through a counting custom Function — the floor of what it can cost;
  1. per property: seconds per example / seconds of one forward+backward, same function and inputs;
  2. gradprops.check (default properties) per example vs torch.autograd.gradcheck slow and fast mode;
  3. scaling of the default set: time and peak memory per example from 10 to 1,000,000 elements;
  4. generation alone: examples per second of gst.tensors, and its share of a check's time;
  5. the opt-in compiled_matches_eager: its first example (the compile) and each one after.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

import hypothesis
import torch
from hypothesis import given
from hypothesis import strategies as st

import gradprops
from gradprops import strategies as gst
from gradprops.properties.registry import select

F64 = torch.float64


def elementwise(n: int) -> tuple[Callable, tuple[torch.Tensor, ...], str]:
    return torch.sin, (torch.randn(n, dtype=F64, requires_grad=True),), "sin"


def matmul(n: int) -> tuple[Callable, tuple[torch.Tensor, ...], str]:
    side = max(1, round(n**0.5))  # two side×side inputs: n elements each
    a = torch.randn(side, side, dtype=F64, requires_grad=True)
    b = torch.randn(side, side, dtype=F64, requires_grad=True)
    return torch.matmul, (a, b), "matmul"


def mlp(n: int) -> tuple[Callable, tuple[torch.Tensor, ...], str]:
    width = 16
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(width, width), torch.nn.Tanh(), torch.nn.Linear(width, width)
    ).double()
    return module, (torch.randn(max(1, n // width), width, dtype=F64, requires_grad=True),), "mlp"


def with_parameters_as_inputs(fn: Callable, inputs: tuple[torch.Tensor, ...]) -> tuple[Callable, tuple]:
    """What gradcheck needs to check the same grads as gradprops: a module's trainable parameters
    become inputs (gradprops differentiates a module with respect to its inputs *and* parameters)."""
    if not isinstance(fn, torch.nn.Module):
        return fn, inputs
    names = [n for n, p in fn.named_parameters() if p.requires_grad]
    params = tuple(p.detach().clone().requires_grad_() for n, p in fn.named_parameters() if p.requires_grad)

    def plain(*args: torch.Tensor) -> torch.Tensor:
        state = dict(zip(names, args[len(inputs):]))
        return torch.func.functional_call(fn, state, args[: len(inputs)])

    return plain, (*inputs, *params)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def forward_backward(fn: Callable, inputs: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    def run() -> None:
        out = fn(*inputs)
        out.backward(torch.ones_like(out))

    return run


def per_example(fn: Callable, inputs: object, properties: list[str] | None, examples: int,
                **options: object) -> tuple[float, dict]:
    """Seconds per example of a check, per property, and generation's share: steady state, warmed up.

    The first example of a process pays one-off costs (forward-mode AD's first dual tensors, lazy
    imports, allocator growth): a warm-up check runs first and is not counted.
    """
    settings = hypothesis.settings(database=None, phases=[hypothesis.Phase.generate])
    gradprops.check(fn, inputs, properties=properties, max_examples=1, seed=1, settings=settings, **options)
    # Best of two runs (same seed, same draws): this shared machine's speed drifts by ±30% over seconds.
    report = min(
        (gradprops.check(fn, inputs, properties=properties, max_examples=examples, seed=0, settings=settings,
                         **options)
         for _ in range(2)),
        key=lambda r: r.seconds,
    )
    per_prop = {name: p.seconds / max(p.examples + sum(p.skipped.values()), 1)
                for name, p in report.properties.items()}
    return report.seconds / report.examples, per_prop | {"_generation": report.generation_seconds / report.seconds}


CALLS = {"forward": 0, "backward": 0, "jvp": 0}


class CountedSin(torch.autograd.Function):
    """sin, counting how often gradprops runs its forward, backward and forward-mode jvp; with a
    generated batching rule, so that the vmap property runs too."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        CALLS["forward"] += 1
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        CALLS["backward"] += 1
        (x,) = ctx.saved_tensors
        return grad * x.cos()

    @staticmethod
    def jvp(ctx, tangent):
        CALLS["jvp"] += 1
        (x,) = ctx.saved_tensors
        return tangent * x.cos()


@torch.library.custom_op("gradprops_bench::sin", mutates_args=())
def _op_sin(x: torch.Tensor) -> torch.Tensor:
    return x.sin()


_op_sin.register_fake(lambda x: torch.empty_like(x))
_op_sin.register_autograd(lambda ctx, g: g * ctx.saved_tensors[0].cos(),
                          setup_context=lambda ctx, inputs, output: ctx.save_for_backward(inputs[0]))


def function_sin(n: int) -> tuple[Callable, tuple[torch.Tensor, ...], str]:
    """A custom autograd.Function (vmap runs on it)."""
    return CountedSin.apply, (torch.randn(n, dtype=F64, requires_grad=True),), "Function sin"


def custom_op_sin(n: int) -> tuple[Callable, tuple[torch.Tensor, ...], str]:
    """A torch.library custom op (opcheck runs on it)."""
    return _op_sin, (torch.randn(n, dtype=F64, requires_grad=True),), "custom-op sin"


FIRST_ORDER = [p.name for p in select(None) if p.name != "second_order"]


def counted_passes(properties: list[str] | None, examples: int = 20) -> dict[str, float]:
    """Forwards, backwards and jvps per example of a check of sin on 1,000 elements."""
    CALLS.update(dict.fromkeys(CALLS, 0))
    x = (torch.randn(1000, dtype=F64, requires_grad=True),)
    # The same input on every example, but one draw each: a property that draws nothing of its own
    # (ones_seed_matches_sum, opcheck) would otherwise leave Hypothesis one distinct example to run.
    inputs = st.integers(0, 2**20).map(lambda _: x)
    report = gradprops.check(CountedSin.apply, inputs, properties=properties, max_examples=examples, seed=0,
                             settings=hypothesis.settings(database=None, phases=[hypothesis.Phase.generate]))
    return {k: v / report.examples for k, v in CALLS.items()}


def counted_fast_gradcheck() -> dict[str, float]:
    """Forwards, backwards and jvps of one fast-mode ``torch.autograd.gradcheck`` of the same sin."""
    CALLS.update(dict.fromkeys(CALLS, 0))
    torch.autograd.gradcheck(CountedSin.apply, (torch.randn(1000, dtype=F64, requires_grad=True),), fast_mode=True)
    return dict(CALLS)


def table_passes() -> None:
    n = 100_000
    x = torch.randn(n, dtype=F64, requires_grad=True)
    y = torch.sin(x)
    forward = best_of(lambda: torch.sin(x), 20)
    backward = best_of(lambda: torch.autograd.grad(y, x, torch.ones_like(y), retain_graph=True), 20)
    both = forward + backward
    print("\n## 0. Passes per example, counted (a counting custom sin; jvp = one forward-mode pass)\n")
    print(f"Floor: the passes priced at sin's own forward ({forward * 1e3:.3f} ms) and backward "
          f"({backward * 1e3:.3f} ms) at {n:,} elements, a jvp as a forward, in forward+backward equivalents.\n")
    print("| property | forwards | backwards | jvps | floor |")
    print("|---|---|---|---|---|")
    rows = [(name, [name]) for name in (p.name for p in select(None))]
    rows += [("first-order default set", FIRST_ORDER), ("all (default set)", None)]
    floors = {}
    for label, counts in [*((label, counted_passes(properties)) for label, properties in rows),
                          ("torch.autograd.gradcheck, fast mode", counted_fast_gradcheck())]:
        floors[label] = ((counts["forward"] + counts["jvp"]) * forward + counts["backward"] * backward) / both
        print(f"| {label} | {counts['forward']:.1f} | {counts['backward']:.1f} | {counts['jvp']:.1f} | "
              f"{floors[label]:.1f}× |")
    fast = floors["torch.autograd.gradcheck, fast mode"]
    default, plain = floors["all (default set)"], floors["all (default set)"] - floors["vmap"]
    print(f"\nThe floor of check ÷ fast gradcheck, by passes alone (every other cost zero): {default / fast:.1f}× "
          f"for a custom Function, {plain / fast:.1f}× for a function vmap does not run on.")


def table_per_property(sizes: list[int], examples: int) -> None:
    names = [p.name for p in select(None)]
    print("\n## 1. Cost per example / one forward+backward (same function, same inputs)\n")
    print("| function | elements | fwd+bwd | " + " | ".join(names) + " | first-order set | all (default set) |")
    print("|---|---|---|" + "---|" * (len(names) + 2))
    for make in (elementwise, matmul, mlp, function_sin, custom_op_sin):
        for n in sizes:
            fn, inputs, label = make(n)
            base = best_of(forward_backward(fn, inputs), 20)
            total, per_prop = per_example(fn, inputs, None, examples)
            cells = [f"{per_prop[name] / base:.1f}×" for name in names]
            first, _ = per_example(fn, inputs, FIRST_ORDER, examples)
            print(f"| {label} | {n:,} | {base * 1e3:.3f} ms | " + " | ".join(cells)
                  + f" | {first / base:.1f}× | {total / base:.1f}× |")


def table_vs_gradcheck(sizes: list[int], examples: int) -> None:
    print("\n## 2. gradprops.check per example vs torch.autograd.gradcheck (same function, same input)\n")
    print("| function | elements | check/example | gradcheck slow | gradcheck fast | slow ÷ check | check ÷ fast |")
    print("|---|---|---|---|---|---|---|")
    for make in (elementwise, matmul, mlp):
        for n in sizes:
            fn, inputs, label = make(n)
            total, _ = per_example(fn, inputs, None, examples)
            plain, args = with_parameters_as_inputs(fn, inputs)
            fast = best_of(lambda plain=plain, args=args: torch.autograd.gradcheck(plain, args, fast_mode=True), 3)
            numel = sum(x.numel() for x in args)
            if numel <= 5_000:
                slow = best_of(lambda plain=plain, args=args: torch.autograd.gradcheck(plain, args), 1)
                slow_cell, ratio = f"{slow * 1e3:.1f} ms", f"{slow / total:.0f}×"
            else:
                slow_cell, ratio = "not run (O(n²))", "—"
            print(f"| {label} | {n:,} | {total * 1e3:.1f} ms | {slow_cell} | {fast * 1e3:.1f} ms | "
                  f"{ratio} | {total / fast:.1f}× |")


def table_scaling(sizes: list[int], examples: int) -> None:
    print("\n## 3. Scaling of the default set (sin, float64), one process per size\n")
    print("| elements | fwd+bwd | check/example | ratio | peak RSS growth |")
    print("|---|---|---|---|---|")
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one-size", str(n), "--examples", str(examples)],
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        print(out)


def one_size(n: int, examples: int) -> None:
    fn, inputs, _ = elementwise(n)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = best_of(forward_backward(fn, inputs), 5)
    total, _ = per_example(fn, inputs, None, examples if n < 1_000_000 else 2)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    print(f"| {n:,} | {base * 1e3:.3f} ms | {total * 1e3:.1f} ms | {total / base:.1f}× | {grown:.0f} MiB |")


def table_generation(sizes: list[int], examples: int) -> None:
    print("\n## 4. Generation: gst.tensors examples/s, and its share of a check on sin\n")
    print("| elements | draws/s | generation share of check time |")
    print("|---|---|---|")
    for n in sizes:
        count = 0

        @hypothesis.settings(max_examples=200, database=None, deadline=None,
                             phases=[hypothesis.Phase.generate],
                             suppress_health_check=list(hypothesis.HealthCheck))
        @given(gst.tensors(shape=(n,)))
        def draw(t: torch.Tensor) -> None:
            nonlocal count
            count += 1

        t0 = time.perf_counter()
        draw()
        rate = count / (time.perf_counter() - t0)
        strategy = st.tuples(gst.tensors(shape=(n,)))
        _, per_prop = per_example(torch.sin, strategy, None, examples)
        print(f"| {n:,} | {rate:,.0f} | {per_prop['_generation']:.0%} |")


def table_compiled(sizes: list[int], examples: int) -> None:
    print("\n## 5. Opt-in compiled_matches_eager, per backend (sin, float64, a concrete input)\n")
    print("First example: Dynamo's trace and the backend's compile (once per shape class, then reused); "
          "per example after it: the compiled forward+backward, eager's, and the comparison.\n")
    print("| backend | elements | fwd+bwd | first example | per example after | ÷ fwd+bwd |")
    print("|---|---|---|---|---|---|")
    settings = hypothesis.settings(database=None, phases=[hypothesis.Phase.generate])
    for backend in ("aot_eager", "inductor"):
        for n in sizes:
            fn = lambda t: torch.sin(t) * 1.0  # noqa: E731 a new function per row: nothing compiled before
            inputs = (torch.randn(n, dtype=F64, requires_grad=True),)
            base = best_of(forward_backward(fn, inputs), 20)
            started = time.perf_counter()
            gradprops.check(fn, inputs, properties=["compiled_matches_eager"], max_examples=1, seed=1,
                            settings=settings, compile_backends=[backend])
            first = time.perf_counter() - started
            total, _ = per_example(fn, inputs, ["compiled_matches_eager"], examples, compile_backends=[backend])
            print(f"| {backend} | {n:,} | {base * 1e3:.3f} ms | {first:.1f} s | {total * 1e3:.1f} ms | "
                  f"{total / base:.0f}× |")
    print("\n(The first row per backend is a cold start; later rows compile a new size of the same code.)\n")
    print("A whole check on generated inputs (gst.inputs('(n)'): shapes, layouts, batch dims; "
          f"{examples * 5} examples, float64), wall seconds:\n")
    print("| properties | seconds | ÷ default set |")
    print("|---|---|---|")
    drawn = gst.inputs("(n)")
    started = time.perf_counter()
    gradprops.check(lambda t: torch.sin(t) * 2.0, drawn, max_examples=examples * 5, seed=0, settings=settings)
    default = time.perf_counter() - started
    print(f"| default set | {default:.1f} | 1× |")
    for backend in ("aot_eager", "inductor"):
        started = time.perf_counter()
        gradprops.check(lambda t: torch.sin(t) * 3.0, drawn, properties=["compiled_matches_eager"],
                        max_examples=examples * 5, seed=0, settings=settings, compile_backends=[backend])
        took = time.perf_counter() - started
        print(f"| compiled_matches_eager ({backend}) | {took:.1f} | {took / default:.1f}× |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one-size", type=int)
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--compiled-only", action="store_true", help="only table 5")
    parser.add_argument("--passes-only", action="store_true", help="only table 0")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # Each row names its properties; one that cannot run on a row's function (vmap without a custom
    # Function, devices without a GPU) costs nothing there, as the table shows: no warning per row.
    warnings.filterwarnings("ignore", category=gradprops.NotChecked)
    # The imports' objects live for the whole run; without this, a full garbage collection walking
    # them (0.1-0.4 s, a few per process) lands in one measurement or another at random.
    gc.freeze()
    if args.one_size:
        one_size(args.one_size, args.examples)
        return
    examples = 3 if args.quick else args.examples
    if args.passes_only:
        table_passes()
        return
    if args.compiled_only:
        table_compiled([10, 1_000, 100_000], examples)
        return
    print(f"# gradprops cost benchmark — {datetime.date.today()}, {platform.machine()}, "
          f"{torch.get_num_threads()} torch thread, Python {platform.python_version()}, "
          f"torch {torch.__version__}, hypothesis {hypothesis.__version__}, gradprops {gradprops.__version__}")
    sizes = [10, 1_000, 100_000]
    table_passes()
    table_per_property(sizes, examples)
    table_vs_gradcheck(sizes, examples)
    table_scaling([10, 1_000, 100_000, 1_000_000], examples)
    table_generation(sizes, examples)
    table_compiled(sizes, examples)


if __name__ == "__main__":
    main()
